import type { Type } from '@nestjs/common';
import { SessionModule } from './session/session.module.js';

/** Every feature module of the API, in one list (add yours here). */
export const FEATURE_MODULES: Type[] = [SessionModule];
