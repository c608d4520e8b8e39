import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { programBudgetTransaction } from '../../libs/domain/src/index.js';
import { postLedgerTransaction } from '../../libs/persistence/src/index.js';
import { grantUseCase } from '../support/grant.js';
import { NATIONAL_POOL } from '../../apps/api/src/cli/pool-seed.js';

/** Interconnect domains of the national pool (the cluster API's default). */
export const DOMAIN_SIZE = 32;

export interface SeededPool {
  /** Node ids per GPU model. */
  nodesByModel: Map<string, string[]>;
  clusterIds: string[];
}

/**
 * The government's 50,000-GPU pool (apps/api/src/cli/pool-seed.ts: 4,250 H200 and 2,000 B200
 * eight-GPU servers in three clusters), straight into PostgreSQL in a few statements. Node names
 * and interconnect domains (32 nodes each) follow the cluster API's layout.
 */
export async function seedNationalPoolSql(dataSource: DataSource): Promise<SeededPool> {
  const suffix = randomBytes(3).toString('hex');
  const nodesByModel = new Map<string, string[]>();
  const clusterIds: string[] = [];
  await dataSource.transaction(async (manager) => {
    for (const cluster of NATIONAL_POOL) {
      const [site] = await manager.query<{ id: string }[]>(
        'INSERT INTO sites (code, name, provider) VALUES ($1, $2, $3) RETURNING id',
        [`${cluster.site.code}-${suffix}`, cluster.site.name, cluster.site.provider],
      );
      const [row] = await manager.query<{ id: string }[]>(
        `INSERT INTO clusters (name, site_id) VALUES ($1, $2) RETURNING id`,
        [`${cluster.name}-${suffix}`, site.id],
      );
      const clusterId = row.id;
      clusterIds.push(clusterId);
      for (const pool of cluster.nodePools) {
        const [nodePool] = await manager.query<{ id: string }[]>(
          'INSERT INTO node_pools (cluster_id, gpu_model, gpus_per_node) VALUES ($1, $2, $3) RETURNING id',
          [clusterId, pool.gpuModel, pool.gpusPerNode],
        );
        const names = Array.from(
          { length: pool.nodes },
          (_, i) => `${cluster.name}-${pool.gpuModel.toLowerCase()}-${String(i + 1).padStart(4, '0')}`,
        );
        const domains = names.map(
          (_, i) =>
            `${pool.gpuModel.toLowerCase()}-d${String(Math.floor(i / DOMAIN_SIZE) + 1).padStart(3, '0')}`,
        );
        const nodes = await manager.query<{ id: string }[]>(
          `INSERT INTO nodes (node_pool_id, cluster_id, gpu_model, name, interconnect_domain, gpus_total)
           SELECT $1, $2, $3, t.name, t.domain, $4 FROM unnest($5::text[], $6::text[]) WITH ORDINALITY AS t(name, domain, ord)
           ORDER BY t.ord RETURNING id`,
          [nodePool.id, clusterId, pool.gpuModel, pool.gpusPerNode, names, domains],
        );
        nodesByModel.set(pool.gpuModel, [
          ...(nodesByModel.get(pool.gpuModel) ?? []),
          ...nodes.map((n) => n.id),
        ]);
        await manager.query(
          'INSERT INTO scheduling_partitions (gpu_model) VALUES ($1) ON CONFLICT (gpu_model) DO NOTHING',
          [pool.gpuModel],
        );
      }
    }
  });
  return { nodesByModel, clusterIds };
}

export interface ReservedProgram {
  programId: string;
  /** One organization (and PI) per organization type used. */
  organizations: Map<string, { organizationId: string; userId: string }>;
}

/** A program with large budgets for the given models and one organization per type, in SQL. */
export async function seedReservedProgram(
  dataSource: DataSource,
  options: {
    startsAt: Date;
    endsAt: Date;
    budgetGpuSeconds: Record<string, bigint>;
    sectorTargets?: { national: number; industry: number; academia: number };
    organizationTypes?: string[];
  },
): Promise<ReservedProgram> {
  const suffix = randomBytes(3).toString('hex').toUpperCase();
  return dataSource.transaction(async (manager) => {
    const agencyCode = `AG${suffix}`;
    await manager.query('INSERT INTO agencies (code, name) VALUES ($1, $2)', [agencyCode, 'Test agency']);
    const [program] = await manager.query<{ id: string }[]>(
      `INSERT INTO programs (code, name, agency_code, fiscal_year, starts_at, ends_at, eligible_organization_types,
                             tracks, sector_targets, rubric, subsidy_rates)
       VALUES ($1, 'Reserved servers call', $2, 2026, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, '{}'::jsonb)
       RETURNING id`,
      [
        `RSV-${suffix}`,
        agencyCode,
        options.startsAt,
        options.endsAt,
        ['university', 'research_institute', 'public', 'startup', 'youth_startup', 'sme', 'enterprise'],
        JSON.stringify([{ code: 'server', kind: 'server', minGpus: 8, maxGpus: 16_000, gpusPerServer: 8 }]),
        JSON.stringify(options.sectorTargets ?? { national: 50, industry: 30, academia: 20 }),
        JSON.stringify([{ key: 'merit', label: 'Merit', weight: 1, maxScore: 10 }]),
      ],
    );
    const programId = program.id;
    for (const [gpuModel, budget] of Object.entries(options.budgetGpuSeconds)) {
      await manager.query(
        'INSERT INTO program_budgets (program_id, gpu_model, budget_gpu_seconds) VALUES ($1, $2, $3)',
        [programId, gpuModel, budget.toString()],
      );
      await postLedgerTransaction(manager, programBudgetTransaction(programId, gpuModel, budget));
    }
    const organizations = new Map<string, { organizationId: string; userId: string }>();
    for (const type of options.organizationTypes ?? ['university', 'research_institute', 'startup']) {
      const [organization] = await manager.query<{ id: string }[]>(
        `INSERT INTO organizations (name, type, region, capital_area) VALUES ($1, $2, 'daejeon', false) RETURNING id`,
        [`${type} ${suffix}`, type],
      );
      const [user] = await manager.query<{ id: string }[]>(
        `INSERT INTO users (email, name, organization_id, roles) VALUES ($1, 'PI', $2, '{}') RETURNING id`,
        [`pi-${type}-${suffix.toLowerCase()}@test.kr`, organization.id],
      );
      organizations.set(type, { organizationId: organization.id, userId: user.id });
    }
    return { programId, organizations };
  });
}

export interface ReservedRequestSpec {
  organizationType: string;
  gpuModel: string;
  servers: number;
  startsAt: Date;
  endsAt: Date;
  sameInterconnectDomain?: boolean;
  gpusPerNode?: number;
  /** The request's declared sector; absent: its organization type's. */
  sector?: string;
}

/**
 * Approved requests with one reserved line each, as the approval leaves them (granted as asked, the
 * grant intent pending), in approval order (decided_at one second apart), in one transaction of bulk
 * statements. Returns the request ids in the same order.
 */
export async function seedApprovedReservedRequests(
  dataSource: DataSource,
  program: ReservedProgram,
  specs: readonly ReservedRequestSpec[],
  decidedFrom: Date = new Date(Date.now() - 86_400_000),
): Promise<string[]> {
  return dataSource.transaction(async (manager) => {
    const orgOf = (type: string) => {
      const organization = program.organizations.get(type);
      if (!organization) throw new Error(`no organization of type ${type}`);
      return organization;
    };
    const projects = await manager.query<{ id: string }[]>(
      `INSERT INTO projects (title, organization_id, pi_user_id)
       SELECT 'Reserved project ' || t.ord, t.organization_id, t.pi FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY
              AS t(organization_id, pi, ord) ORDER BY t.ord RETURNING id`,
      [
        specs.map((spec) => orgOf(spec.organizationType).organizationId),
        specs.map((spec) => orgOf(spec.organizationType).userId),
      ],
    );
    await manager.query(
      `INSERT INTO project_members (project_id, user_id, role) SELECT t.project_id, t.user_id, 'pi'
         FROM unnest($1::uuid[], $2::uuid[]) AS t(project_id, user_id)`,
      [projects.map((p) => p.id), specs.map((spec) => orgOf(spec.organizationType).userId)],
    );
    const requests = await manager.query<{ id: string }[]>(
      `INSERT INTO allocation_requests (project_id, program_id, status, starts_at, ends_at, justification, created_by,
                                        submitted_at, decided_at, sector)
       SELECT t.project_id, $1, 'approved', t.starts_at, t.ends_at, 'reserved servers', t.created_by,
              $2::timestamptz, $2::timestamptz + (t.ord * interval '1 second'), t.sector
         FROM unnest($3::uuid[], $4::timestamptz[], $5::timestamptz[], $6::uuid[], $7::text[]) WITH ORDINALITY
              AS t(project_id, starts_at, ends_at, created_by, sector, ord)
        ORDER BY t.ord RETURNING id`,
      [
        program.programId,
        decidedFrom,
        projects.map((p) => p.id),
        specs.map((spec) => spec.startsAt),
        specs.map((spec) => spec.endsAt),
        specs.map((spec) => orgOf(spec.organizationType).userId),
        specs.map((spec) => spec.sector ?? null),
      ],
    );
    const seconds = specs.map((spec) => BigInt((spec.endsAt.getTime() - spec.startsAt.getTime()) / 1000));
    const gpus = specs.map((spec) => spec.servers * (spec.gpusPerNode ?? 8));
    const gpuSeconds = specs.map((_, i) => (BigInt(gpus[i]) * seconds[i]).toString());
    await manager.query(
      `INSERT INTO allocation_request_lines (request_id, line_no, gpu_model, kind, gpu_seconds, max_concurrent_gpus,
                                             granted_gpu_seconds, granted_max_concurrent_gpus, servers,
                                             same_interconnect_domain, granted_servers)
       SELECT t.request_id, 1, t.gpu_model, 'reserved', t.gpu_seconds, t.gpus, t.gpu_seconds, t.gpus, t.servers,
              t.same_domain, t.servers
         FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::int[], $5::int[], $6::boolean[])
              AS t(request_id, gpu_model, gpu_seconds, gpus, servers, same_domain)`,
      [
        requests.map((r) => r.id),
        specs.map((spec) => spec.gpuModel),
        gpuSeconds,
        gpus,
        specs.map((spec) => spec.servers),
        specs.map((spec) => spec.sameInterconnectDomain ?? false),
      ],
    );
    await manager.query(
      `INSERT INTO grant_intents (request_id, status) SELECT unnest($1::uuid[]), 'pending'`,
      [requests.map((r) => r.id)],
    );
    return requests.map((r) => r.id);
  });
}

/** Runs the real grant for each request (in order); returns the reserved allocation ids in the same order. */
export async function grantAll(dataSource: DataSource, requestIds: readonly string[]): Promise<string[]> {
  const grants = grantUseCase(dataSource);
  const allocationIds: string[] = [];
  for (const requestId of requestIds) {
    const outcome = await grants.execute(requestId);
    if (outcome.outcome === 'granted') {
      allocationIds.push(...outcome.plannedAllocationIds);
    } else if (outcome.outcome === 'already_granted') {
      // A running scheduler's grant reconciler got there first: same allocations, granted once.
      const rows = await dataSource.query<{ id: string }[]>(
        "SELECT id FROM allocations WHERE request_id = $1 AND kind = 'reserved' ORDER BY created_at, id",
        [requestId],
      );
      allocationIds.push(...rows.map((row) => row.id));
    } else {
      throw new Error(`grant of ${requestId} failed: ${outcome.outcome}`);
    }
  }
  return allocationIds;
}

/** A deterministic pseudo-random sequence (mulberry32), so a scenario is the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
