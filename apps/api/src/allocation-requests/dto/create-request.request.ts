import { z } from 'zod';
import { uuidParam } from '../../common/ids.js';
import { instantField, linesField, requestLineInput, sectorField } from './request-line.request.js';

export const MAX_JUSTIFICATION = 10_000;

export const justificationField = z.string().trim().min(1).max(MAX_JUSTIFICATION);

export const createRequestBody = z.strictObject({
  projectId: uuidParam,
  programId: uuidParam,
  lines: linesField(requestLineInput, 1),
  startsAt: instantField,
  endsAt: instantField,
  justification: justificationField,
  /**
   * The part of the government plan the request counts toward for the program's sector targets.
   * Absent: derived from the organization type (universities → academia; research institutes and
   * public bodies → national; companies → industry).
   */
  sector: sectorField.optional(),
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
    /** null: derive it from the organization type again. */
    sector: sectorField.nullable(),
  })
  .partial()
  .refine((body) => Object.keys(body).length > 0, { message: 'send at least one field to change' });
export type UpdateRequestBody = z.infer<typeof updateRequestBody>;
