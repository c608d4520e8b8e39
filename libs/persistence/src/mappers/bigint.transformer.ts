import type { ValueTransformer } from 'typeorm';

/**
 * node-pg returns int8 as a string; GPU-seconds and KRW must never pass through Number.
 */
export const bigintTransformer: ValueTransformer = {
  to: (value: bigint | null | undefined): string | null | undefined =>
    value === null || value === undefined ? value : value.toString(),
  from: (value: string | null): bigint | null => (value === null ? null : BigInt(value)),
};
