import type { WorkloadEventBody } from './dto/workload-event.request.js';
import { decideEvent } from './event-fencing.js';

const AT = '2026-06-01T00:00:00Z';
const started = (attempt: number): WorkloadEventBody => ({ type: 'started', attempt, at: AT });
const ended = (attempt: number): WorkloadEventBody => ({
  type: 'ended',
  attempt,
  at: AT,
  outcome: 'succeeded',
  runtimeSeconds: 10,
});

describe('decideEvent', () => {
  it('moves admitted → running and admitted | running → ended, for the current attempt only', () => {
    expect(decideEvent({ state: 'admitted', attempt: 1 }, started(1))).toEqual({ apply: true });
    expect(decideEvent({ state: 'running', attempt: 1 }, ended(1))).toEqual({ apply: true });
    expect(decideEvent({ state: 'admitted', attempt: 1 }, ended(1))).toEqual({ apply: true });
  });

  it('ignores what is late, repeated or for another attempt', () => {
    expect(decideEvent({ state: 'admitted', attempt: 1 }, started(0))).toEqual({
      apply: false,
      reason: 'stale_attempt',
    });
    expect(decideEvent({ state: 'admitted', attempt: 1 }, started(2))).toEqual({
      apply: false,
      reason: 'unknown_attempt',
    });
    expect(decideEvent({ state: 'running', attempt: 0 }, started(0))).toEqual({
      apply: false,
      reason: 'already_running',
    });
    for (const state of ['succeeded', 'failed', 'cancelled', 'preempted']) {
      expect(decideEvent({ state, attempt: 0 }, ended(0))).toEqual({ apply: false, reason: 'already_ended' });
      expect(decideEvent({ state, attempt: 0 }, started(0))).toEqual({
        apply: false,
        reason: 'already_ended',
      });
    }
    expect(decideEvent({ state: 'queued', attempt: 0 }, started(0))).toEqual({
      apply: false,
      reason: 'not_admitted',
    });
  });
});
