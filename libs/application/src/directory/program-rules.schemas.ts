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

const wholeNumberMessage = (min: number, max: number, unit: string | undefined): string =>
  `must be a whole number${unit ? ` of ${unit}` : ''} from ${min.toLocaleString('en')} to ${max.toLocaleString('en')}`;

/**
 * A whole number from `min` to `max`, whose every refusal (not a number, a fraction, below, above)
 * says the whole constraint: "must be a whole number of GPUs from 1 to 4,096". (A message given to
 * `z.int()` alone is used for its range checks too: "-3: must be a whole number".) Built on
 * `wholeNumber` for the same reason as it (a fraction is not a type error); request fields use
 * `integerIn`, which the OpenAPI document shows as an integer.
 */
export const wholeNumberIn = (min: number, max: number, unit?: string) => {
  const message = wholeNumberMessage(min, max, unit);
  return z.number({ error: message }).multipleOf(1, { message }).min(min, { message }).max(max, { message });
};

/** `wholeNumberIn` as a `z.int()` (an integer in OpenAPI): a fraction or 1e30 is refused with the same sentence. */
export const integerIn = (min: number, max: number, unit?: string) => {
  const message = wholeNumberMessage(min, max, unit);
  return z.int({ error: message }).min(min, { message }).max(max, { message });
};

export const trackSchema = z.strictObject({
  code: identifier('small'),
  kind: z.enum(['gpu', 'server']),
  minGpus: wholeNumberIn(1, 100_000, 'GPUs'),
  maxGpus: wholeNumberIn(1, 100_000, 'GPUs'),
  gpusPerServer: wholeNumberIn(1, 64, 'GPUs').optional(),
});

export const rubricCriterionSchema = z.strictObject({
  key: identifier('feasibility'),
  label: z.string().trim().min(1).max(200),
  weight: wholeNumberIn(1, 1000),
  maxScore: wholeNumberIn(1, 1000),
});

export const sectorTargetsSchema = z.strictObject({
  national: wholeNumberIn(0, 100, 'percent'),
  industry: wholeNumberIn(0, 100, 'percent'),
  academia: wholeNumberIn(0, 100, 'percent'),
});
