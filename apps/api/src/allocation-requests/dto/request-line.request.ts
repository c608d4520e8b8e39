import { z } from 'zod';
import { SECTORS } from '#domain';

/** The API takes whole GPU-hours; 100 million GPU-hours is ~2.3 years of all 50,000 government GPUs. */
export const MAX_GPU_HOURS = 100_000_000;
export const MAX_CONCURRENT_GPUS = 100_000;
export const MAX_LINES = 20;
/** More servers than the whole national pool has (6,250): the pool itself says how many exist. */
export const MAX_SERVERS = 100_000;

export const gpuModelField = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
    message: 'must be a GPU model name such as "H100" (letters, digits, ".", "_", "-")',
  });

export const gpuHoursField = z
  .int({ message: 'must be a whole number of GPU-hours' })
  .positive({ message: 'must be at least 1 GPU-hour' })
  .max(MAX_GPU_HOURS, { message: `must be at most ${MAX_GPU_HOURS} GPU-hours` });

export const maxConcurrentGpusField = z
  .int({ message: 'must be a whole number of GPUs' })
  .positive({ message: 'must be at least 1 GPU' })
  .max(MAX_CONCURRENT_GPUS, { message: `must be at most ${MAX_CONCURRENT_GPUS.toLocaleString('en')} GPUs` });

export const serversField = z
  .int({ message: 'must be a whole number of servers' })
  .min(1, { message: 'must be at least 1 server' })
  .max(MAX_SERVERS, { message: `must be at most ${MAX_SERVERS} servers` });

export const instantField = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 instant such as 2026-04-01T00:00:00Z',
});

export const sectorField = z.enum(SECTORS, {
  message: 'must be "national", "industry" or "academia"',
});

/** GPU-hours through the shared queue, at most maxConcurrentGpus at a time. */
export const budgetLineInput = z.strictObject({
  gpuModel: gpuModelField,
  gpuHours: gpuHoursField,
  maxConcurrentGpus: maxConcurrentGpusField,
  kind: z.literal('budget').optional(),
});

/**
 * Whole servers held on the capacity calendar for a window (by default the request's; else inside
 * it). GPU-hours and the concurrency cap follow from the pool: servers × GPUs per node × hours.
 */
export const reservedLineInput = z.strictObject({
  gpuModel: gpuModelField,
  kind: z.literal('reserved'),
  servers: serversField,
  startsAt: instantField.optional(),
  endsAt: instantField.optional(),
  /** All servers in one interconnect domain (multi-node training). Default false. */
  sameInterconnectDomain: z.boolean().optional(),
});

export const requestLineInput = z.discriminatedUnion('kind', [budgetLineInput, reservedLineInput], {
  error: 'kind must be "budget" (the default) or "reserved"',
});
export type RequestLineInput = z.infer<typeof requestLineInput>;
export type ReservedLineInput = z.infer<typeof reservedLineInput>;

/** One line per GPU model: the database keeps lines unique per (request, model), and grants name lines by model. */
export function linesField<T extends z.ZodType<{ gpuModel: string }>>(line: T, minimum: number) {
  return z
    .array(line)
    .min(minimum)
    .max(MAX_LINES)
    .superRefine((lines, context) => {
      const seen = new Set<string>();
      lines.forEach((item, index) => {
        if (seen.has(item.gpuModel)) {
          context.addIssue({
            code: 'custom',
            path: [index, 'gpuModel'],
            message: `${item.gpuModel} appears more than once; combine it into one line`,
          });
        }
        seen.add(item.gpuModel);
      });
    });
}
