import { z } from 'zod';
import { gpuHoursField, gpuModelField, linesField, maxConcurrentGpusField } from './request-line.request.js';

export const grantLineInput = z.strictObject({
  gpuModel: gpuModelField,
  gpuHours: gpuHoursField,
  maxConcurrentGpus: maxConcurrentGpusField,
});

/** Without `lines` every line is granted as asked; a line left out is refused. */
export const approveRequestBody = z.strictObject({
  lines: linesField(grantLineInput, 0).optional(),
  note: z.string().trim().min(1).max(2000).optional(),
});
export type ApproveRequestBody = z.infer<typeof approveRequestBody>;

export const rejectRequestBody = z.strictObject({
  reason: z.string().trim().min(1).max(2000),
});
export type RejectRequestBody = z.infer<typeof rejectRequestBody>;
