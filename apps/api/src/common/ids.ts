import { z } from 'zod';

/** A UUID path parameter: a malformed id is a 400 that names the parameter, never a 500. */
export const uuidParam = z.uuid({ message: 'must be a UUID' });

export const idParams = z.strictObject({ id: uuidParam });
