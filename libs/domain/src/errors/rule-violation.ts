/**
 * One failed business rule. Validators return every violation at once so a person can fix a form
 * in one pass instead of discovering problems one submit at a time.
 */
export interface RuleViolation {
  /** Stable SNAKE_CASE code, e.g. EXCEEDS_PROGRAM_BUDGET. */
  rule: string;
  /** Path of the offending input, e.g. `lines[1].gpuModel`, when one field is to blame. */
  field?: string;
  /** A sentence for a person: what is wrong and, where possible, what would be accepted. */
  message: string;
}

/** "first; second; third" — one line that summarises a list of violations for a log or an error message. */
export function summarizeViolations(violations: readonly RuleViolation[]): string {
  return violations.map((violation) => violation.message).join(' ');
}
