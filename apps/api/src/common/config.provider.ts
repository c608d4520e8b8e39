import { Inject } from '@nestjs/common';
import type { GpupoolConfig } from '#config';

export const GPUPOOL_CONFIG = 'GPUPOOL_CONFIG';

/** Injects the validated, frozen config (libs/config is the only reader of the environment). */
export const InjectConfig = (): ParameterDecorator => Inject(GPUPOOL_CONFIG);

export type { GpupoolConfig };
