/** A span of time. Half-open: `startsAt` is inside, `endsAt` is the first instant outside. */
export interface TimeWindow {
  startsAt: Date;
  endsAt: Date;
}

export function isValidInstant(value: Date): boolean {
  return !Number.isNaN(value.getTime());
}

/** True when both instants are real dates and the window has a positive length. */
export function isWellFormedWindow(window: TimeWindow): boolean {
  return (
    isValidInstant(window.startsAt) &&
    isValidInstant(window.endsAt) &&
    window.endsAt.getTime() > window.startsAt.getTime()
  );
}

export function windowContainsInstant(window: TimeWindow, instant: Date): boolean {
  const at = instant.getTime();
  return at >= window.startsAt.getTime() && at < window.endsAt.getTime();
}

export function windowContainsWindow(outer: TimeWindow, inner: TimeWindow): boolean {
  return (
    inner.startsAt.getTime() >= outer.startsAt.getTime() && inner.endsAt.getTime() <= outer.endsAt.getTime()
  );
}

export function formatInstant(instant: Date): string {
  return isValidInstant(instant) ? instant.toISOString() : 'an invalid date';
}
