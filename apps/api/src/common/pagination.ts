import { z } from 'zod';

export const paginationQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
};

// The page type and the keyset cursor live beside the repositories (libs/persistence/src/pagination.ts).
export { decodeCursor, encodeCursor, pageOf, type CursorPosition, type Page } from '#persistence';
