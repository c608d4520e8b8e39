import { z } from 'zod';
import { BILLING_EXPORT_FORMATS, type BillingExportEntity } from '#persistence';
import { EXPORT_STATUSES } from './billing-export.request.js';

const totals = z.object({
  gpuSeconds: z.string(),
  listValue: z.string(),
  discount: z.string(),
  supplyPrice: z.string(),
  subsidy: z.string(),
  coPay: z.string(),
  vat: z.string(),
  vatFromOrganization: z.string(),
  vatFromProgram: z.string(),
  totalDueFromOrganization: z.string(),
  totalFromProgram: z.string(),
  total: z.string(),
});

export const createdExportResponse = z.object({
  id: z.uuid(),
  status: z.enum(EXPORT_STATUSES),
});

export const billingExportResponse = z.object({
  id: z.uuid(),
  period: z.string(),
  agencyCode: z.string().nullable(),
  programId: z.uuid().nullable(),
  format: z.enum(BILLING_EXPORT_FORMATS),
  /** queued → running → done | failed. */
  status: z.enum(EXPORT_STATUSES),
  /** 0–100. */
  progress: z.int(),
  /** Lines in the file (when done). */
  rowCount: z.int().nullable(),
  /** Sums of the file's lines, whole won and GPU-seconds as decimal strings (when done). */
  totals: totals.nullable(),
  /** SHA-256 of the file's bytes, hex (when done): the same closed period always gives the same. */
  sha256: z.string().nullable(),
  bytes: z.string().nullable(),
  error: z.string().nullable(),
  createdBy: z.uuid(),
  requestedAt: z.iso.datetime(),
  startedAt: z.iso.datetime().nullable(),
  finishedAt: z.iso.datetime().nullable(),
});
export type BillingExportResponse = z.infer<typeof billingExportResponse>;

export const billingExportPageResponse = z.object({
  items: z.array(billingExportResponse),
  nextCursor: z.string().nullable(),
});

export function billingExportView(row: BillingExportEntity): BillingExportResponse {
  return {
    id: row.id,
    period: row.period,
    agencyCode: row.agencyCode,
    programId: row.programId,
    format: row.format as BillingExportResponse['format'],
    status: row.status as BillingExportResponse['status'],
    progress: row.progress,
    rowCount: row.rowCount,
    totals: (row.totals ?? null) as BillingExportResponse['totals'],
    sha256: row.sha256,
    bytes: row.bytes === null ? null : row.bytes.toString(),
    error: row.error,
    createdBy: row.createdBy,
    requestedAt: row.requestedAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}
