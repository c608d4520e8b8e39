import { formatSeoulDateTime } from '../usage/day-split.js';

/** "92 days", "36 hours" or "90 seconds": the largest whole unit, for sentences people read. */
export function formatSeconds(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} day${seconds === 86_400 ? '' : 's'}`;
  if (seconds % 3600 === 0) return `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}`;
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

/** A Unix-second instant as '2026-05-01 09:30 KST'. */
export function formatInstantSeconds(instant: number): string {
  return formatSeoulDateTime(instant * 1000);
}

/** "a", "a and b", "a, b and c". */
export function joinWords(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}
