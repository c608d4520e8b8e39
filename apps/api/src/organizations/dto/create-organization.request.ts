import { z } from 'zod';
import { ORGANIZATION_TYPES } from '#domain';
import { KOREAN_REGIONS } from '../regions.js';
import { displayText } from './fields.js';

export const createOrganizationRequest = z.strictObject({
  name: displayText(200),
  type: z.enum(ORGANIZATION_TYPES),
  region: z.enum(KOREAN_REGIONS),
  /** 사업자등록번호 or 고유번호: 1234567890 or 123-45-67890; the check digit is verified. */
  businessRegistrationNumber: z.string().max(32).optional(),
});
export type CreateOrganizationRequest = z.infer<typeof createOrganizationRequest>;
