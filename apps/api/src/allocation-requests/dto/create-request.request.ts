import { z } from 'zod';
import { uuidParam } from '../../common/ids.js';
import { instantField, linesField, requestLineInput } from './request-line.request.js';

export const MAX_JUSTIFICATION = 10_000;

export const justificationField = z.string().trim().min(1).max(MAX_JUSTIFICATION);

export const createRequestBody = z.strictObject({
  projectId: uuidParam,
  programId: uuidParam,
  lines: linesField(requestLineInput, 1),
  startsAt: instantField,
  endsAt: instantField,
  justification: justificationField,
});
export type CreateRequestBody = z.infer<typeof createRequestBody>;

/** A draft's fields, any subset; `lines` replaces every line. The project of a request never changes. */
export const updateRequestBody = z
  .strictObject({
    programId: uuidParam,
    lines: linesField(requestLineInput, 1),
    startsAt: instantField,
    endsAt: instantField,
    justification: justificationField,
  })
  .partial()
  .refine((body) => Object.keys(body).length > 0, { message: 'send at least one field to change' });
export type UpdateRequestBody = z.infer<typeof updateRequestBody>;
