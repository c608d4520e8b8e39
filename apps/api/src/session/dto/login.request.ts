import { z } from 'zod';

export const loginRequest = z.strictObject({
  email: z.email().max(254),
  password: z.string().min(1).max(256),
});
export type LoginRequest = z.infer<typeof loginRequest>;
