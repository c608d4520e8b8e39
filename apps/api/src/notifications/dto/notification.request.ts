import { z } from 'zod';
import { NOTIFICATION_KINDS } from '#persistence';
import { uuidParam } from '../../common/ids.js';
import { paginationQuery } from '../../common/pagination.js';

export const listNotificationsQuery = z.strictObject({
  ...paginationQuery,
  projectId: uuidParam.optional(),
  allocationId: uuidParam.optional(),
  kind: z.enum(NOTIFICATION_KINDS).optional(),
  /** Only notifications nobody has marked read yet. */
  unread: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
});
export type ListNotificationsQuery = z.infer<typeof listNotificationsQuery>;
