import { randomUUID } from 'node:crypto';
import {
  ClusterRepository,
  NodeRepository,
  type ClusterEntity,
  type ClusterListFilter,
  type NewSite,
  type NodeEntity,
  type NodeLayout,
  type NodeListFilter,
  type NodePoolEntity,
  type NodePoolStats,
  type Page,
  type PlacedWorkload,
  type SiteEntity,
  type Tx,
  type WorkloadEntity,
} from '#persistence';
import type { Step } from './workloads.fakes.js';

export function makeNode(fields: Partial<NodeEntity> = {}): NodeEntity {
  return {
    id: randomUUID(),
    nodePoolId: 'pool-1',
    clusterId: 'cluster-1',
    gpuModel: 'H200',
    name: 'c1-h200-0001',
    interconnectDomain: 'c1-h200-d00',
    gpusTotal: 8,
    gpusAllocated: 0,
    state: 'up',
    stateReason: null,
    createdAt: new Date('2026-03-01T00:00:00Z'),
    updatedAt: new Date('2026-03-01T00:00:00Z'),
    ...fields,
  };
}

/** Nodes in memory, with the active workloads placed on each (set by the test). */
export class FakeNodeRepository extends NodeRepository {
  readonly nodes = new Map<string, NodeEntity>();
  readonly activeOn = new Map<string, WorkloadEntity[]>();

  constructor(private readonly steps: Step[] = []) {
    super();
  }

  add(...nodes: NodeEntity[]): void {
    for (const node of nodes) this.nodes.set(node.id, node);
  }

  override list(filter: NodeListFilter, limit: number): Promise<NodeEntity[]> {
    const rows = [...this.nodes.values()]
      .filter((node) => filter.state === undefined || node.state === filter.state)
      .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
      .filter((node) => !filter.after || node.name > filter.after.name);
    return Promise.resolve(rows.slice(0, limit));
  }

  override find(nodeId: string): Promise<NodeEntity | null> {
    const row = this.nodes.get(nodeId);
    return Promise.resolve(row ? { ...row } : null);
  }

  override gpuModelOf(_tx: Tx, nodeId: string): Promise<string | null> {
    return Promise.resolve(this.nodes.get(nodeId)?.gpuModel ?? null);
  }

  override findForUpdate(_tx: Tx, nodeId: string): Promise<NodeEntity> {
    this.steps.push(`lock node ${nodeId}`);
    const row = this.nodes.get(nodeId);
    if (!row) return Promise.reject(new Error(`no node ${nodeId}`));
    return Promise.resolve({ ...row });
  }

  override setState(_tx: Tx, nodeId: string, state: string, reason: string | null): Promise<void> {
    this.steps.push(`node ${nodeId} ${state}`);
    const row = this.nodes.get(nodeId);
    if (row) Object.assign(row, { state, stateReason: reason });
    return Promise.resolve();
  }

  override workloadsOn(): Promise<PlacedWorkload[]> {
    return Promise.resolve([]);
  }

  override activeWorkloadsOnForUpdate(_tx: Tx, nodeId: string): Promise<WorkloadEntity[]> {
    return Promise.resolve(this.activeOn.get(nodeId) ?? []);
  }
}

/** Sites, clusters and pools in memory; node rows are not kept, only their layouts. */
export class FakeClusterRepository extends ClusterRepository {
  readonly sites = new Map<string, SiteEntity>();
  readonly clusters = new Map<string, ClusterEntity>();
  readonly pools: NodePoolEntity[] = [];
  readonly layouts: { nodePoolId: string; layout: NodeLayout }[] = [];
  readonly partitions = new Set<string>();
  /** Set by a test: the next insert finds the name taken (a concurrent registration won). */
  loseNextInsert = false;

  override nameTaken(_tx: Tx, name: string): Promise<boolean> {
    return Promise.resolve([...this.clusters.values()].some((row) => row.name === name));
  }

  override insertIfNameAbsent(
    _tx: Tx,
    cluster: { name: string; siteId: string; adapter: string },
  ): Promise<string | null> {
    if (this.loseNextInsert) return Promise.resolve(null);
    const row: ClusterEntity = { id: randomUUID(), createdAt: new Date('2026-03-01T00:00:00Z'), ...cluster };
    this.clusters.set(row.id, row);
    return Promise.resolve(row.id);
  }

  override insertNodePool(
    _tx: Tx,
    pool: { clusterId: string; gpuModel: string; gpusPerNode: number },
  ): Promise<string> {
    const row: NodePoolEntity = { id: randomUUID(), createdAt: new Date(), ...pool };
    this.pools.push(row);
    return Promise.resolve(row.id);
  }

  override insertNodes(_tx: Tx, pool: { nodePoolId: string }, layout: NodeLayout): Promise<void> {
    this.layouts.push({ nodePoolId: pool.nodePoolId, layout });
    return Promise.resolve();
  }

  override ensurePartition(_tx: Tx, gpuModel: string): Promise<void> {
    this.partitions.add(gpuModel);
    return Promise.resolve();
  }

  override insertSiteIfAbsent(_tx: Tx, site: NewSite): Promise<string | null> {
    if (this.sites.has(site.code)) return Promise.resolve(null);
    const row: SiteEntity = { id: randomUUID(), createdAt: new Date(), ...site };
    this.sites.set(site.code, row);
    return Promise.resolve(row.id);
  }

  override siteByCode(_tx: Tx, code: string): Promise<SiteEntity> {
    const row = this.sites.get(code);
    return row ? Promise.resolve(row) : Promise.reject(new Error(`no site ${code}`));
  }

  override findWithSite(clusterId: string): Promise<ClusterEntity | null> {
    const row = this.clusters.get(clusterId);
    if (!row) return Promise.resolve(null);
    const site = [...this.sites.values()].find((candidate) => candidate.id === row.siteId);
    return Promise.resolve({ ...row, ...(site ? { site } : {}) });
  }

  override page(_filter: ClusterListFilter): Promise<Page<ClusterEntity>> {
    return Promise.resolve({ items: [...this.clusters.values()], nextCursor: null });
  }

  override nodePoolsOf(clusterIds: string[]): Promise<NodePoolEntity[]> {
    return Promise.resolve(this.pools.filter((pool) => clusterIds.includes(pool.clusterId)));
  }

  /** Every node of a layout counts as up with nothing allocated. */
  override nodePoolStats(): Promise<NodePoolStats[]> {
    return Promise.resolve(
      this.layouts.map(({ nodePoolId, layout }) => {
        const pool = this.pools.find((candidate) => candidate.id === nodePoolId);
        const nodes = layout.names.length;
        return {
          nodePoolId,
          nodes,
          up: nodes,
          draining: 0,
          down: 0,
          gpus: nodes * (pool?.gpusPerNode ?? 0),
          gpusAllocated: 0,
          domains: new Set(layout.domains).size,
        };
      }),
    );
  }
}
