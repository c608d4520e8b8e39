import { z } from 'zod';
import { paginationQuery } from '../../common/pagination.js';
import { gpuModel } from '../../programs/dto/program.request.js';

/** Far above any GPU-hour price (an H100 hour lists at a few thousand won): catches unit mistakes. */
export const MAX_KRW_PER_GPU_HOUR = 100_000_000;

export const createRateCardRequest = z.strictObject({
  gpuModel,
  /** List price in whole won per GPU-hour. */
  krwPerGpuHour: z
    .number()
    .multipleOf(1, { message: 'must be a whole number of won' })
    .min(1, { message: 'must be at least 1 won per GPU-hour' })
    .max(MAX_KRW_PER_GPU_HOUR, { message: `must be at most ${MAX_KRW_PER_GPU_HOUR} won per GPU-hour` }),
  /** First instant the price applies (ISO 8601 with an offset, a whole second; e.g. Seoul midnight 2026-05-01T00:00:00+09:00). */
  effectiveFrom: z.iso.datetime({
    offset: true,
    message: 'must be an ISO 8601 instant, e.g. 2026-05-01T00:00:00+09:00',
  }),
});
export type CreateRateCardRequest = z.infer<typeof createRateCardRequest>;

export const listRateCardsQuery = z.strictObject({
  gpuModel: gpuModel.optional(),
  ...paginationQuery,
});
export type ListRateCardsQuery = z.infer<typeof listRateCardsQuery>;
