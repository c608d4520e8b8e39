import { z } from 'zod';

// The shapes of a program's rules, shared by the API's request schemas and the program reader,
// which parses the stored jsonb columns again so a hand-edited row never travels further as a
// wrong type.

export const identifier = (example: string) =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/, {
    message: `must be 1–40 letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. ${example})`,
  });

/**
 * A whole number. Not `.int()`: zod treats a fraction there as a type error, which stops the
 * object-level checks (a program request's window check), and a refused program should list every problem.
 * Every use also has a max, so nothing outside the safe-integer range gets through.
 */
export const wholeNumber = (message = 'must be a whole number') => z.number().multipleOf(1, { message });

export const trackSchema = z.strictObject({
  code: identifier('small'),
  kind: z.enum(['gpu', 'server']),
  minGpus: wholeNumber().min(1).max(100_000),
  maxGpus: wholeNumber().min(1).max(100_000),
  gpusPerServer: wholeNumber().min(1).max(64).optional(),
});

export const rubricCriterionSchema = z.strictObject({
  key: identifier('feasibility'),
  label: z.string().trim().min(1).max(200),
  weight: wholeNumber().min(1).max(1000),
  maxScore: wholeNumber().min(1).max(1000),
});

export const sectorTargetsSchema = z.strictObject({
  national: wholeNumber().min(0).max(100),
  industry: wholeNumber().min(0).max(100),
  academia: wholeNumber().min(0).max(100),
});
