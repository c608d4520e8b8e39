import { z } from 'zod';

/** Scores per rubric criterion; the rubric itself (keys, maxima) is checked in libs/domain. */
export const reviewRequestBody = z.strictObject({
  scores: z
    .record(z.string().min(1).max(64), z.int({ message: 'must be a whole number' }).min(0).max(1_000_000))
    .refine((scores) => Object.keys(scores).length <= 50, { message: 'at most 50 criteria' }),
  comment: z.string().trim().min(1).max(10_000),
});
export type ReviewRequestBody = z.infer<typeof reviewRequestBody>;

export const conflictRequestBody = z.strictObject({
  reason: z.string().trim().min(1).max(2000),
});
export type ConflictRequestBody = z.infer<typeof conflictRequestBody>;
