import { z } from 'zod';
import { krwAsExactNumber } from '#domain';
import type { RateCardEntity } from '#persistence';

export const rateCardResponse = z.object({
  id: z.uuid(),
  gpuModel: z.string(),
  krwPerGpuHour: z.int(),
  effectiveFrom: z.iso.datetime(),
  createdBy: z.uuid(),
  createdAt: z.iso.datetime(),
});
export type RateCardResponse = z.infer<typeof rateCardResponse>;

export const rateCardPageResponse = z.object({
  items: z.array(rateCardResponse),
  nextCursor: z.string().nullable(),
});

export function rateCardView(card: RateCardEntity): RateCardResponse {
  return {
    id: card.id,
    gpuModel: card.gpuModel,
    // Whole won below MAX_KRW_PER_GPU_HOUR; the conversion refuses anything it could not keep exact.
    krwPerGpuHour: krwAsExactNumber(card.krwPerGpuHour),
    effectiveFrom: card.effectiveFrom.toISOString(),
    createdBy: card.createdBy,
    createdAt: card.createdAt.toISOString(),
  };
}
