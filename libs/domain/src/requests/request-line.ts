/**
 * `budget`: GPU-seconds used through the shared queue, capped at maxConcurrentGpus at a time.
 * `reserved`: whole servers held for the request window on the capacity calendar.
 */
export const REQUEST_LINE_KINDS = ['budget', 'reserved'] as const;
export type RequestLineKind = (typeof REQUEST_LINE_KINDS)[number];

/** One GPU model asked for in an allocation request. */
export interface RequestLine {
  gpuModel: string;
  kind: RequestLineKind;
  gpuSeconds: bigint;
  maxConcurrentGpus: number;
}
