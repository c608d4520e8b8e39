import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import {
  allocationAccount,
  consumedAccount,
  reservedUtilization,
  type HeldServerSpan,
  type RecallProposal,
  type ReservedUtilization,
  ACTIVE_WORKLOAD_STATES,
} from '#domain';
import { RecallProposalEntity } from '../entities/usage.entities.js';
import { keysetPage, type Page, type PageQuery } from '../pagination.js';
import { auditJson } from '../mappers/audit-json.js';
import type { Tx } from '../transaction.js';
import { accountBalances } from './ledger.repository.js';
import { lockPartition } from './partition.repository.js';
export const RECALL_PROPOSAL_STATUSES = ['proposed', 'confirmed', 'dismissed'] as const;
export type RecallProposalStatus = (typeof RECALL_PROPOSAL_STATUSES)[number];

/** What a reserved allocation's servers have been held for and used, read for rules and people. */
export interface ReservedUsage {
  /** Every span its reservation's servers are held (released ones end at their release). */
  spans: HeldServerSpan[];
  /** Servers still held after the instant asked about. */
  serversHeld: number;
  /** GPUs per node of its servers (0 while it holds none). */
  gpusPerNode: number;
  utilization: ReservedUtilization;
}

/**
 * Utilization of reserved allocations at `now` (libs/domain reservedUtilization): metered GPU-seconds
 * (the consumed account) against the GPU-seconds their servers were held so far. Two queries for any
 * number of allocations; an allocation without a reservation (pending, waitlisted) has no spans.
 */
export async function reservedUsage(
  manager: EntityManager,
  allocationIds: readonly string[],
  now: Date,
): Promise<Map<string, ReservedUsage>> {
  const result = new Map<string, ReservedUsage>();
  if (allocationIds.length === 0) return result;
  const rows = await manager.query<
    { allocation_id: string; node_id: string; gpus: number; starts_at: Date; ends_at: Date }[]
  >(
    `SELECT r.allocation_id, rn.node_id, n.gpus_total AS gpus, lower(rn.during) AS starts_at,
            upper(rn.during) AS ends_at
       FROM reservations r
       JOIN reservation_nodes rn ON rn.reservation_id = r.id
       JOIN nodes n ON n.id = rn.node_id
      WHERE r.allocation_id = ANY($1)
      ORDER BY r.allocation_id, rn.node_id`,
    [allocationIds],
  );
  const consumed = await accountBalances(manager, allocationIds.map(consumedAccount));
  for (const id of allocationIds) {
    const spans = rows
      .filter((row) => row.allocation_id === id)
      .map((row) => ({
        nodeId: row.node_id,
        gpus: row.gpus,
        startsAt: new Date(row.starts_at),
        endsAt: new Date(row.ends_at),
      }));
    result.set(id, {
      spans,
      serversHeld: spans.filter((span) => span.endsAt.getTime() > now.getTime()).length,
      gpusPerNode: spans.reduce((most, span) => Math.max(most, span.gpus), 0),
      utilization: reservedUtilization(consumed.get(consumedAccount(id)) ?? 0n, spans, now),
    });
  }
  return result;
}

/** An active allocation inside its window whose program has recall rules, with what was proposed. */
export interface RecallCandidateRow {
  allocationId: string;
  projectId: string;
  programId: string;
  gpuModel: string;
  kind: string;
  servers: number | null;
  startsAt: Date;
  endsAt: Date;
  /** The program's stored rules, unparsed. */
  recallRules: unknown;
  proposedRuleIds: string[];
}

/** A proposal to insert (at most one per allocation and rule). */
export interface NewRecallProposal {
  proposal: RecallProposal & { servers?: number; serversHeld?: number };
  programId: string;
}

/** A proposal row locked for a decision. */
export interface LockedRecallProposal {
  id: string;
  allocationId: string;
  programId: string;
  ruleId: string;
  gpuSeconds: bigint;
  status: string;
  decidedAt: Date | null;
  servers: number | null;
  serversHeld: number | null;
}

export interface LockedRecallAllocation {
  id: string;
  projectId: string;
  programId: string;
  gpuModel: string;
}

/** A server the allocation's reservation holds after the release instant, and how busy it is now. */
export interface RecallHeldServer {
  nodeId: string;
  gpus: number;
  startsAt: Date;
  endsAt: Date;
  /** GPUs the allocation's active workloads occupy on it. */
  busyGpus: number;
}

export interface RecallDecisionAudit {
  actorId: string | null;
  actorKind: string;
  action: 'recall.confirmed' | 'recall.dismissed';
  proposalId: string;
  before: unknown;
  after: unknown;
  requestId: string | null;
}

/**
 * Recall proposals (`recall_proposals`) and what the sweep and an admin's decision read and write.
 * A port: the recall use cases are unit-tested with a fake.
 */
export interface RecallProposalFilter {
  programId?: string | undefined;
  allocationId?: string | undefined;
  projectId?: string | undefined;
  status?: string | undefined;
}

export abstract class RecallRepository {
  /** Active allocations inside their window at `now` whose program has recall rules, by id. */
  abstract candidates(now: Date): Promise<RecallCandidateRow[]>;
  /** Per allocation: GPU-seconds granted into it (positive `grant` entries). */
  abstract grantedInto(allocationIds: readonly string[]): Promise<Map<string, bigint>>;
  abstract balances(accounts: readonly string[]): Promise<Map<string, bigint>>;
  abstract reservedUsage(allocationIds: readonly string[], now: Date): Promise<Map<string, ReservedUsage>>;
  /** Inserts the proposals not yet made (insert-or-ignore); returns the rows it inserted. */
  abstract insertProposals(
    tx: Tx,
    proposals: readonly NewRecallProposal[],
  ): Promise<{ id: string; allocationId: string; ruleId: string }[]>;
  /** The proposal, locked; null when there is none. */
  abstract lockProposal(tx: Tx, proposalId: string): Promise<LockedRecallProposal | null>;
  /**
   * The allocation, locked after its scheduling partition (the order admission and cancellation
   * use, so no admission spends the same balance meanwhile); null when there is none.
   */
  abstract lockAllocation(tx: Tx, allocationId: string): Promise<LockedRecallAllocation | null>;
  /** The reservation's servers held after `at` (the reservation row locked); empty without one. */
  abstract heldServers(tx: Tx, allocationId: string, at: Date): Promise<RecallHeldServer[]>;
  abstract markConfirmed(
    tx: Tx,
    proposalId: string,
    decision: { adminUserId: string; at: Date; recalledGpuSeconds: bigint; releasedServers: number | null },
  ): Promise<void>;
  abstract markDismissed(
    tx: Tx,
    proposalId: string,
    decision: { adminUserId: string; at: Date },
  ): Promise<void>;
  /** The proposal with its allocation, for people (in the transaction when given). */
  abstract find(proposalId: string, tx?: Tx): Promise<RecallProposalEntity | null>;
  /** A newest-first page of proposals (each with its allocation). */
  abstract list(filter: RecallProposalFilter, page: PageQuery): Promise<Page<RecallProposalEntity>>;
  abstract auditDecision(tx: Tx, audit: RecallDecisionAudit): Promise<void>;
}

@Injectable()
export class TypeormRecallRepository extends RecallRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async candidates(now: Date): Promise<RecallCandidateRow[]> {
    const rows = await this.dataSource.query<
      {
        id: string;
        project_id: string;
        program_id: string;
        gpu_model: string;
        kind: string;
        servers: number | null;
        starts_at: Date;
        ends_at: Date;
        recall_rules: unknown;
        proposed_rule_ids: string[];
      }[]
    >(
      `SELECT a.id, a.project_id, a.program_id, a.gpu_model, a.kind, a.servers, a.starts_at, a.ends_at, p.recall_rules,
              coalesce((SELECT array_agg(r.rule_id) FROM recall_proposals r WHERE r.allocation_id = a.id),
                       '{}') AS proposed_rule_ids
         FROM allocations a JOIN programs p ON p.id = a.program_id
        WHERE a.status = 'active' AND a.starts_at <= $1 AND $1 < a.ends_at
          AND jsonb_typeof(p.recall_rules) = 'array' AND jsonb_array_length(p.recall_rules) > 0
        ORDER BY a.id`,
      [now],
    );
    return rows.map((row) => ({
      allocationId: row.id,
      projectId: row.project_id,
      programId: row.program_id,
      gpuModel: row.gpu_model,
      kind: row.kind,
      servers: row.servers,
      startsAt: new Date(row.starts_at),
      endsAt: new Date(row.ends_at),
      recallRules: row.recall_rules,
      proposedRuleIds: row.proposed_rule_ids,
    }));
  }

  override async grantedInto(allocationIds: readonly string[]): Promise<Map<string, bigint>> {
    const rows = await this.dataSource.query<{ account: string; granted: string }[]>(
      `SELECT e.account, sum(e.amount)::text AS granted
         FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.account = ANY($1) AND t.kind = 'grant' AND e.amount > 0
        GROUP BY e.account`,
      [allocationIds.map(allocationAccount)],
    );
    const prefix = 'allocation:'.length;
    return new Map(rows.map((row) => [row.account.slice(prefix), BigInt(row.granted)]));
  }

  override balances(accounts: readonly string[]): Promise<Map<string, bigint>> {
    return accountBalances(this.dataSource.manager, [...accounts]);
  }

  override reservedUsage(allocationIds: readonly string[], now: Date): Promise<Map<string, ReservedUsage>> {
    return reservedUsage(this.dataSource.manager, allocationIds, now);
  }

  override async insertProposals(
    tx: Tx,
    proposals: readonly NewRecallProposal[],
  ): Promise<{ id: string; allocationId: string; ruleId: string }[]> {
    const rows = await tx.query<{ id: string; allocation_id: string; rule_id: string }[]>(
      `INSERT INTO recall_proposals
         (allocation_id, program_id, rule_id, gpu_seconds, used_basis_points, reason, status, due_at,
          servers, servers_held)
       SELECT v.allocation_id, v.program_id, v.rule_id, v.gpu_seconds, v.used_basis_points, v.reason,
              'proposed', v.due_at, v.servers, v.servers_held
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::int[], $6::text[], $7::timestamptz[],
                     $8::int[], $9::int[])
           AS v(allocation_id, program_id, rule_id, gpu_seconds, used_basis_points, reason, due_at, servers,
                servers_held)
       ON CONFLICT (allocation_id, rule_id) DO NOTHING
       RETURNING id, allocation_id, rule_id`,
      [
        proposals.map((item) => item.proposal.allocationId),
        proposals.map((item) => item.programId),
        proposals.map((item) => item.proposal.ruleId),
        proposals.map((item) => item.proposal.gpuSeconds.toString()),
        proposals.map((item) => item.proposal.usedBasisPoints),
        proposals.map((item) => item.proposal.reason),
        proposals.map((item) => item.proposal.dueAt.toISOString()),
        proposals.map((item) => item.proposal.servers ?? null),
        proposals.map((item) => item.proposal.serversHeld ?? null),
      ],
    );
    return rows.map((row) => ({ id: row.id, allocationId: row.allocation_id, ruleId: row.rule_id }));
  }

  override async lockProposal(tx: Tx, proposalId: string): Promise<LockedRecallProposal | null> {
    if (!tx.queryRunner?.isTransactionActive) {
      throw new Error('a recall decision must run inside a transaction');
    }
    const [row] = await tx.query<
      {
        id: string;
        allocation_id: string;
        program_id: string;
        rule_id: string;
        gpu_seconds: string;
        status: string;
        decided_at: Date | null;
        servers: number | null;
        servers_held: number | null;
      }[]
    >(
      `SELECT id, allocation_id, program_id, rule_id, gpu_seconds::text AS gpu_seconds, status, decided_at,
              servers, servers_held
         FROM recall_proposals WHERE id = $1 FOR UPDATE`,
      [proposalId],
    );
    if (!row) return null;
    return {
      id: row.id,
      allocationId: row.allocation_id,
      programId: row.program_id,
      ruleId: row.rule_id,
      gpuSeconds: BigInt(row.gpu_seconds),
      status: row.status,
      decidedAt: row.decided_at === null ? null : new Date(row.decided_at),
      servers: row.servers,
      serversHeld: row.servers_held,
    };
  }

  override async lockAllocation(tx: Tx, allocationId: string): Promise<LockedRecallAllocation | null> {
    const peek = await tx.query<{ gpu_model: string }[]>('SELECT gpu_model FROM allocations WHERE id = $1', [
      allocationId,
    ]);
    const gpuModel = peek[0]?.gpu_model;
    if (gpuModel === undefined) return null;
    // The admission cycle reads balances under this lock: a recall and an admission never both spend it.
    await lockPartition(tx, gpuModel);
    const [row] = await tx.query<{ id: string; project_id: string; program_id: string; gpu_model: string }[]>(
      'SELECT id, project_id, program_id, gpu_model FROM allocations WHERE id = $1 FOR NO KEY UPDATE',
      [allocationId],
    );
    if (!row) return null;
    return { id: row.id, projectId: row.project_id, programId: row.program_id, gpuModel: row.gpu_model };
  }

  override async heldServers(tx: Tx, allocationId: string, at: Date): Promise<RecallHeldServer[]> {
    const [reservation] = await tx.query<{ id: string }[]>(
      'SELECT id FROM reservations WHERE allocation_id = $1 FOR UPDATE',
      [allocationId],
    );
    if (reservation === undefined) return [];
    const rows = await tx.query<
      { node_id: string; gpus: number; starts_at: Date; ends_at: Date; busy_gpus: number }[]
    >(
      `SELECT rn.node_id, n.gpus_total AS gpus, lower(rn.during) AS starts_at, upper(rn.during) AS ends_at,
              coalesce((SELECT sum(p.gpus) FROM workload_placements p JOIN workloads w ON w.id = p.workload_id
                         WHERE p.node_id = rn.node_id AND w.allocation_id = $3 AND w.state = ANY($4)), 0)::int
                AS busy_gpus
         FROM reservation_nodes rn JOIN nodes n ON n.id = rn.node_id
        WHERE rn.reservation_id = $1 AND upper(rn.during) > $2::timestamptz`,
      [reservation.id, at, allocationId, [...ACTIVE_WORKLOAD_STATES]],
    );
    return rows.map((row) => ({
      nodeId: row.node_id,
      gpus: row.gpus,
      startsAt: new Date(row.starts_at),
      endsAt: new Date(row.ends_at),
      busyGpus: row.busy_gpus,
    }));
  }

  override async markConfirmed(
    tx: Tx,
    proposalId: string,
    decision: { adminUserId: string; at: Date; recalledGpuSeconds: bigint; releasedServers: number | null },
  ): Promise<void> {
    if (decision.releasedServers === null) {
      await tx.query(
        `UPDATE recall_proposals
            SET status = 'confirmed', decided_by = $2, decided_at = $3, recalled_gpu_seconds = $4
          WHERE id = $1`,
        [proposalId, decision.adminUserId, decision.at, decision.recalledGpuSeconds.toString()],
      );
      return;
    }
    await tx.query(
      `UPDATE recall_proposals
          SET status = 'confirmed', decided_by = $2, decided_at = $3, recalled_gpu_seconds = $4, released_servers = $5
        WHERE id = $1`,
      [
        proposalId,
        decision.adminUserId,
        decision.at,
        decision.recalledGpuSeconds.toString(),
        decision.releasedServers,
      ],
    );
  }

  override async markDismissed(
    tx: Tx,
    proposalId: string,
    decision: { adminUserId: string; at: Date },
  ): Promise<void> {
    await tx.query(
      `UPDATE recall_proposals SET status = 'dismissed', decided_by = $2, decided_at = $3 WHERE id = $1`,
      [proposalId, decision.adminUserId, decision.at],
    );
  }

  override list(filter: RecallProposalFilter, page: PageQuery): Promise<Page<RecallProposalEntity>> {
    const builder = this.dataSource
      .getRepository(RecallProposalEntity)
      .createQueryBuilder('r')
      .innerJoinAndSelect('r.allocation', 'a');
    if (filter.programId !== undefined)
      builder.andWhere('r.program_id = :programId', { programId: filter.programId });
    if (filter.allocationId !== undefined)
      builder.andWhere('r.allocation_id = :allocationId', { allocationId: filter.allocationId });
    if (filter.projectId !== undefined)
      builder.andWhere('a.project_id = :projectId', { projectId: filter.projectId });
    if (filter.status !== undefined) builder.andWhere('r.status = :status', { status: filter.status });
    return keysetPage(builder, page, (row) => row);
  }

  override find(proposalId: string, tx?: Tx): Promise<RecallProposalEntity | null> {
    return (tx ?? this.dataSource.manager)
      .getRepository(RecallProposalEntity)
      .findOne({ where: { id: proposalId }, relations: { allocation: true } });
  }

  override async auditDecision(tx: Tx, audit: RecallDecisionAudit): Promise<void> {
    await tx.query(
      `INSERT INTO audit_events (actor_id, actor_kind, action, subject_type, subject_id, before, after, request_id)
       VALUES ($1, $2, $3, 'recall_proposal', $4, $5::jsonb, $6::jsonb, $7)`,
      [
        audit.actorId,
        audit.actorKind,
        audit.action,
        audit.proposalId,
        JSON.stringify(auditJson(audit.before)),
        JSON.stringify(auditJson(audit.after)),
        audit.requestId,
      ],
    );
  }
}
