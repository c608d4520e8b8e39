import { z } from 'zod';

/**
 * A person-facing name or title: trimmed, non-empty, at most `max` characters, and free of control
 * characters (PostgreSQL refuses NUL in text, which would otherwise surface as a 500).
 */
export function displayText(max = 200) {
  return z
    .string()
    .trim()
    .min(1)
    .max(max)
    .regex(/^[^\p{Cc}]*$/u, { message: 'must not contain control characters' });
}

export function pageResponse<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}
