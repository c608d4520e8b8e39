import { z } from 'zod';
import type { RateCardEntity } from '#persistence';

export const rateCardResponse = z.object({
  id: z.uuid(),
  gpuModel: z.string(),
  /** Whole won per GPU-hour, as a decimal string (money is a bigint; never a JSON float). */
  krwPerGpuHour: z.string().regex(/^\d+$/),
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
    krwPerGpuHour: card.krwPerGpuHour.toString(),
    effectiveFrom: card.effectiveFrom.toISOString(),
    createdBy: card.createdBy,
    createdAt: card.createdAt.toISOString(),
  };
}
