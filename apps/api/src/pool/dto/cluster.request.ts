import { z } from 'zod';
import { integerIn } from '#application';
import { paginationQuery } from '../../common/pagination.js';
import { displayText } from '../../organizations/dto/fields.js';

/** The most nodes one pool may have, and one registration may create (about 3× the national pool). */
export const MAX_NODES_PER_POOL = 10_000;
export const MAX_NODES_PER_CLUSTER = 20_000;
export const MAX_GPUS_PER_NODE = 16;

/**
 * Pool GPU models are upper-case names such as H200, B200 or A100-80G. They name node pools,
 * scheduling partitions and (through programs) ledger accounts, so they never contain ":" or "/".
 */
export const poolGpuModel = z.string().regex(/^[A-Z0-9][A-Z0-9-]{1,31}$/, {
  message: 'must be 2–32 upper-case letters, digits or "-", starting with a letter or digit (e.g. H200)',
});

/** Lower-case DNS-label style: cluster and site names end up in node names and domain labels. */
const slug = (max: number, example: string) =>
  z
    .string()
    .max(max)
    .regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, {
      message: `must be lower-case letters, digits or "-", starting and ending with a letter or digit (e.g. ${example})`,
    });

export const clusterName = slug(63, 'naver-chuncheon-1');
export const siteCode = slug(40, 'naver-chuncheon');

const siteDetails = z
  .strictObject({
    code: siteCode,
    name: displayText(200).optional(),
    provider: displayText(100).optional(),
  })
  .meta({
    description:
      'The site by code, with the name and provider to record when the site is new. For an existing ' +
      'site, a name or provider that differs from the recorded one is refused with 409 SITE_MISMATCH.',
  });

const nodePoolRequest = z
  .strictObject({
    gpuModel: poolGpuModel,
    gpusPerNode: integerIn(1, MAX_GPUS_PER_NODE, 'GPUs'),
    nodes: integerIn(1, MAX_NODES_PER_POOL, 'nodes'),
    interconnectDomains: integerIn(1, MAX_NODES_PER_POOL)
      .optional()
      .meta({
        description:
          'How many interconnect domains the nodes are split into (contiguous, sizes differing by at most ' +
          'one). Default: domains of 32 nodes. Multi-node workloads never span two domains.',
      }),
  })
  .refine((pool) => pool.interconnectDomains === undefined || pool.interconnectDomains <= pool.nodes, {
    path: ['interconnectDomains'],
    message: 'must not exceed nodes (every domain has at least one node)',
  });

export const createClusterRequest = z
  .strictObject({
    name: clusterName,
    site: z.union([siteCode, siteDetails]).meta({
      description:
        'A site code (e.g. "naver-chuncheon") or `{code, name?, provider?}`. A site that does not exist yet ' +
        'is created, named after its code and with provider "unspecified" unless the object says otherwise.',
    }),
    adapter: z
      .enum(['simulator'])
      .default('simulator')
      .meta({ description: 'Which cluster adapter runs its workloads; only the simulator exists yet.' }),
    nodePools: z
      .array(nodePoolRequest)
      .min(1)
      .max(16)
      .superRefine((pools, context) => {
        const seen = new Set<string>();
        pools.forEach((pool, index) => {
          if (seen.has(pool.gpuModel)) {
            context.addIssue({
              code: 'custom',
              path: [index, 'gpuModel'],
              message: `${pool.gpuModel} has two node pools; give one pool per GPU model`,
            });
          }
          seen.add(pool.gpuModel);
        });
        const total = pools.reduce((sum, pool) => sum + pool.nodes, 0);
        if (total > MAX_NODES_PER_CLUSTER) {
          context.addIssue({
            code: 'custom',
            path: [],
            message: `registers ${total} nodes; at most ${MAX_NODES_PER_CLUSTER} per cluster registration`,
          });
        }
      }),
  })
  .meta({
    description:
      'Registers a cluster with its node pools. Nodes are named `<cluster>-<model>-<n>` and grouped in ' +
      'interconnect domains `<cluster>/<model>/d<k>`; all start `up`.',
  });
export type CreateClusterRequest = z.infer<typeof createClusterRequest>;
export type SiteInput = CreateClusterRequest['site'];

export const listClustersQuery = z.strictObject({
  ...paginationQuery,
  name: clusterName.optional(),
  siteCode: siteCode.optional(),
});
export type ListClustersQuery = z.infer<typeof listClustersQuery>;
