import { z } from 'zod';

/**
 * Scores per rubric criterion. Any number passes here: the rubric (keys, each criterion's 0..maxScore)
 * is checked in libs/domain, whose INVALID_SCORES names each criterion's own range.
 */
export const reviewRequestBody = z.strictObject({
  scores: z
    .record(
      z.string().min(1).max(64),
      z.number({ error: "must be a number: a whole number from 0 to the criterion's maximum score" }).meta({
        description:
          "A whole number from 0 to the criterion's maxScore in the program's rubric (checked against the rubric: 400 INVALID_SCORES names the range).",
      }),
    )
    .refine((scores) => Object.keys(scores).length <= 50, { message: 'at most 50 criteria' }),
  comment: z.string().trim().min(1).max(10_000),
});
export type ReviewRequestBody = z.infer<typeof reviewRequestBody>;

export const conflictRequestBody = z.strictObject({
  reason: z.string().trim().min(1).max(2000),
});
export type ConflictRequestBody = z.infer<typeof conflictRequestBody>;
