import { Injectable, Logger } from '@nestjs/common';
import { DomainError } from '#domain';
import {
  AgentHeartbeatRepository,
  TransactionRunner,
  type AttemptRef,
  type RunRef,
  type Tx,
} from '#persistence';
import { enqueueAfterCommit, JobProducer, type JobItem } from '#queues';
import { EndLostRunsUseCase } from './end-lost-runs.use-case.js';
import { WORKLOAD_RECOVERY } from './workload-commands.js';

/** What a cluster agent says in a heartbeat. */
export interface AgentHeartbeat {
  /** The clusters it serves: every cluster of an adapter kind, or the ones named. */
  clusters: { adapter: string } | { clusterIds: string[] };
  /** Every attempt it runs now (complete: what it does not list, it does not have). */
  runs: RunRef[];
  /** First heartbeat after the agent (re)started: gpupool ends the started runs it no longer has. */
  resync: boolean;
  /** When the agent process started (its clock), for operators. */
  agentStartedAt?: Date | undefined;
  /** The agent's name and version, for operators. */
  agent?: string | undefined;
}

export interface AgentHeartbeatOutcome {
  /** The clusters this heartbeat covered. */
  clusters: number;
  /** Listed runs gpupool confirmed as running. */
  confirmed: number;
  /** Listed runs gpupool no longer wants (ended, or another attempt): the agent must stop them. */
  stop: RunRef[];
  /** On a resync: the started runs the agent no longer has, now ended as lost (refunded). */
  lost: RunRef[];
  /** A run the agent stops listing is declared lost this long after its last confirmation. */
  timeoutSeconds: number;
}

/**
 * Cluster agent heartbeats. Each lists every attempt the agent runs: the listed ones that gpupool
 * still wants are confirmed (run_confirmations), the others come back as `stop`; a watched
 * cluster's attempt left unconfirmed for AGENT_HEARTBEAT_TIMEOUT_MS is ended by the reconciler's
 * lost-run sweep. On a resync (an agent that just started), the started attempts on its clusters it
 * does not list are ended at once as lost, their usage refunded and hold released.
 *
 * Locks: none on workloads in the heartbeat's own transaction (it upserts cluster_agents in cluster
 * id order and run_confirmations in workload id order); a resync's ends take, per partition, what
 * EndLostRunsUseCase takes, each in its own transaction after the heartbeat committed.
 */
@Injectable()
export class RecordAgentHeartbeatUseCase {
  private readonly logger = new Logger(RecordAgentHeartbeatUseCase.name);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly heartbeats: AgentHeartbeatRepository,
    private readonly lostRuns: EndLostRunsUseCase,
    private readonly producer: JobProducer,
  ) {}

  async execute(heartbeat: AgentHeartbeat, timeoutMs: number): Promise<AgentHeartbeatOutcome> {
    const recorded = await this.transactions.run(
      async (tx) => {
        const clusterIds = await this.clustersOf(tx, heartbeat.clusters);
        await this.heartbeats.recordHeartbeat(tx, {
          clusterIds,
          runs: heartbeat.runs.length,
          agent: heartbeat.agent ?? null,
          agentStartedAt: heartbeat.agentStartedAt ?? null,
          resync: heartbeat.resync,
        });
        const stop = await this.heartbeats.confirmRuns(tx, heartbeat.runs);
        const forgotten: AttemptRef[] = heartbeat.resync
          ? await this.heartbeats.startedRunsNotListed(tx, clusterIds, heartbeat.runs)
          : [];
        return { clusters: clusterIds.length, stop, forgotten };
      },
      { isolation: 'READ COMMITTED' },
    );
    const listed = new Set(heartbeat.runs.map((run) => `${run.workloadId}:${run.attempt}`));
    const stopped = new Set(recorded.stop.map((run) => `${run.workloadId}:${run.attempt}`));

    const lost: RunRef[] = [];
    if (recorded.forgotten.length > 0) {
      const ended = await this.lostRuns.endForgotten(recorded.forgotten);
      const cycles: JobItem[] = [];
      for (const [gpuModel, attempts] of ended) {
        if (attempts.length === 0) continue;
        cycles.push({ name: 'schedule.cycle', data: { gpuModel } });
        lost.push(...attempts.map((a) => ({ workloadId: a.workloadId, attempt: a.attempt })));
      }
      if (lost.length > 0) {
        this.logger.warn({ lost: lost.length }, 'cluster agent restarted without some runs: ended as lost');
      }
      // Their GPUs and quota are free: the partitions may admit more.
      await enqueueAfterCommit(this.producer, cycles, {
        logger: this.logger,
        recoveredBy: WORKLOAD_RECOVERY,
      });
    }
    return {
      clusters: recorded.clusters,
      confirmed: [...listed].filter((key) => !stopped.has(key)).length,
      stop: recorded.stop,
      lost,
      timeoutSeconds: Math.ceil(timeoutMs / 1000),
    };
  }

  private async clustersOf(tx: Tx, clusters: AgentHeartbeat['clusters']): Promise<string[]> {
    if ('adapter' in clusters) return this.heartbeats.clustersOfAdapter(tx, clusters.adapter);
    const unknown = await this.heartbeats.unknownClusters(tx, clusters.clusterIds);
    if (unknown.length > 0) {
      throw new DomainError(
        'not_found',
        'CLUSTER_NOT_FOUND',
        `No cluster has the id ${unknown.join(', ')}. Register the cluster first, or send the ids GET /v1/clusters lists.`,
        { clusterIds: unknown },
      );
    }
    return [...new Set(clusters.clusterIds)].sort();
  }
}
