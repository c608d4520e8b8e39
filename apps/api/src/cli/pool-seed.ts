/**
 * The government's share of the national GPU pool: 50,000 GPUs as 6,250 eight-GPU servers at the
 * three provider sites where the first government GPUs sit (Naver Cloud, NHN Cloud, Kakao), seeded
 * through `POST /v1/clusters` so it passes the same validation as an operator's registration.
 */

/** An authenticated call to the API (operator or admin), as in demo-seed.ts. */
export type PoolSeedCall = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Record<string, unknown> }>;

export interface NationalCluster {
  name: string;
  site: { code: string; name: string; provider: string };
  nodePools: { gpuModel: string; gpusPerNode: number; nodes: number }[];
}

const GPUS_PER_SERVER = 8;

/** 4,250 H200 and 2,000 B200 servers; interconnect domains default to 32 nodes. */
export const NATIONAL_POOL: readonly NationalCluster[] = [
  {
    name: 'naver-chuncheon-1',
    site: { code: 'naver-chuncheon', name: 'Naver Cloud 각 춘천 (Chuncheon)', provider: 'Naver Cloud' },
    nodePools: [
      { gpuModel: 'H200', gpusPerNode: GPUS_PER_SERVER, nodes: 2_000 },
      { gpuModel: 'B200', gpusPerNode: GPUS_PER_SERVER, nodes: 500 },
    ],
  },
  {
    name: 'nhn-gwangju-1',
    site: { code: 'nhn-gwangju', name: 'NHN Cloud 국가AI데이터센터 (Gwangju)', provider: 'NHN Cloud' },
    nodePools: [
      { gpuModel: 'H200', gpusPerNode: GPUS_PER_SERVER, nodes: 1_250 },
      { gpuModel: 'B200', gpusPerNode: GPUS_PER_SERVER, nodes: 500 },
    ],
  },
  {
    name: 'kakao-ansan-1',
    site: { code: 'kakao-ansan', name: 'Kakao 데이터센터 안산 (Ansan)', provider: 'Kakao' },
    nodePools: [
      { gpuModel: 'H200', gpusPerNode: GPUS_PER_SERVER, nodes: 1_000 },
      { gpuModel: 'B200', gpusPerNode: GPUS_PER_SERVER, nodes: 1_000 },
    ],
  },
];

export interface PoolSeedResult {
  /** True when at least one cluster was registered by this run. */
  seeded: boolean;
  created: string[];
  /** Clusters that were already registered (by an earlier run or an operator): left untouched. */
  existing: string[];
}

/**
 * Registers each national cluster that is not registered yet. Idempotent: a cluster found by name,
 * or one registered concurrently (409 CLUSTER_NAME_TAKEN), is skipped.
 */
export async function seedNationalPool(call: PoolSeedCall): Promise<PoolSeedResult> {
  const result: PoolSeedResult = { seeded: false, created: [], existing: [] };
  for (const cluster of NATIONAL_POOL) {
    const found = await call('GET', `/v1/clusters?name=${encodeURIComponent(cluster.name)}&limit=1`);
    if (found.status !== 200)
      throw new Error(`GET /v1/clusters → ${found.status} ${JSON.stringify(found.body)}`);
    if ((found.body.items as unknown[]).length > 0) {
      result.existing.push(cluster.name);
      continue;
    }
    const created = await call('POST', '/v1/clusters', cluster);
    if (created.status === 201) {
      result.created.push(cluster.name);
    } else if (created.status === 409 && errorCode(created.body) === 'CLUSTER_NAME_TAKEN') {
      result.existing.push(cluster.name);
    } else {
      throw new Error(
        `POST /v1/clusters ${cluster.name} → ${created.status} ${JSON.stringify(created.body)}`,
      );
    }
  }
  result.seeded = result.created.length > 0;
  return result;
}

function errorCode(body: Record<string, unknown>): unknown {
  const error = body.error as { code?: unknown } | undefined;
  return error?.code;
}
