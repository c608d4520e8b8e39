import { z } from 'zod';
import { formatGpuHours, type PricedAmounts } from '#domain';

/** Money is whole won; amounts travel as decimal strings so no sum ever passes through a float. */
const krw = z.string();

export const amountsResponse = z.object({
  /** Exact integer GPU-seconds. */
  gpuSeconds: z.string(),
  /** The same in GPU-hours, truncated to 6 decimals. */
  gpuHours: z.string(),
  /** Value at list price (정가), shown even when free. */
  listValue: krw,
  discount: krw,
  /** 공급가액 = listValue − discount. */
  supplyPrice: krw,
  /** 보조금, paid by the program. */
  subsidy: krw,
  /** 자부담 = supplyPrice − subsidy, paid by the organization. */
  coPay: krw,
  /** 부가세. */
  vat: krw,
  vatFromOrganization: krw,
  vatFromProgram: krw,
  /** coPay + vatFromOrganization. */
  totalDueFromOrganization: krw,
  /** subsidy + vatFromProgram. */
  totalFromProgram: krw,
  /** supplyPrice + vat. */
  total: krw,
});
export type AmountsResponse = z.infer<typeof amountsResponse>;

export function amountsView(amounts: PricedAmounts): AmountsResponse {
  return {
    gpuSeconds: amounts.gpuSeconds.toString(),
    gpuHours: formatGpuHours(amounts.gpuSeconds),
    listValue: amounts.listValue.toString(),
    discount: amounts.discount.toString(),
    supplyPrice: amounts.supplyPrice.toString(),
    subsidy: amounts.subsidy.toString(),
    coPay: amounts.coPay.toString(),
    vat: amounts.vat.toString(),
    vatFromOrganization: amounts.vatFromOrganization.toString(),
    vatFromProgram: amounts.vatFromProgram.toString(),
    totalDueFromOrganization: amounts.totalDueFromOrganization.toString(),
    totalFromProgram: amounts.totalFromProgram.toString(),
    total: amounts.total.toString(),
  };
}
