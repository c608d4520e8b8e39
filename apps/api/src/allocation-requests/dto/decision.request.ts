import { z } from 'zod';
import {
  gpuHoursField,
  gpuModelField,
  linesField,
  maxConcurrentGpusField,
  sectorField,
  serversField,
} from './request-line.request.js';

/**
 * A granted line: a budget line as `{gpuModel, gpuHours, maxConcurrentGpus}`, a reserved line as
 * `{gpuModel, servers}` (whole servers, never more than asked; its window stays the requested one).
 */
export const grantLineInput = z
  .strictObject({
    gpuModel: gpuModelField,
    gpuHours: gpuHoursField.optional(),
    maxConcurrentGpus: maxConcurrentGpusField.optional(),
    servers: serversField.optional(),
  })
  .superRefine((line, context) => {
    if (line.servers !== undefined) {
      for (const field of ['gpuHours', 'maxConcurrentGpus'] as const) {
        if (line[field] !== undefined) {
          context.addIssue({
            code: 'custom',
            path: [field],
            message: 'a reserved line is granted in servers alone; leave gpuHours and maxConcurrentGpus out',
          });
        }
      }
      return;
    }
    for (const field of ['gpuHours', 'maxConcurrentGpus'] as const) {
      if (line[field] === undefined) {
        context.addIssue({
          code: 'custom',
          path: [field],
          message: 'is required for a budget line (a reserved line is granted as { gpuModel, servers })',
        });
      }
    }
  });
export type GrantLineInput = z.infer<typeof grantLineInput>;

/** Without `lines` every line is granted as asked; a line left out is refused. */
export const approveRequestBody = z.strictObject({
  lines: linesField(grantLineInput, 0).optional(),
  note: z.string().trim().min(1).max(2000).optional(),
  /**
   * The sector the granted lines count toward for the program's sector targets, when the admin
   * decides it differs from what the request declared (or its organization type implies).
   */
  sector: sectorField.optional(),
});
export type ApproveRequestBody = z.infer<typeof approveRequestBody>;

export const rejectRequestBody = z.strictObject({
  reason: z.string().trim().min(1).max(2000),
});
export type RejectRequestBody = z.infer<typeof rejectRequestBody>;
