import { z } from 'zod';

export const addMemberRequest = z.strictObject({
  userId: z.uuid({ message: 'must be a UUID' }),
  /** `pi` hands the project over: the new PI must belong to the project's organization; the previous PI stays a member. */
  role: z.enum(['member', 'pi']).default('member'),
});
export type AddMemberRequest = z.infer<typeof addMemberRequest>;

export const memberParams = z.strictObject({
  id: z.uuid({ message: 'must be a UUID' }),
  userId: z.uuid({ message: 'must be a UUID' }),
});
export type MemberParams = z.infer<typeof memberParams>;
