import { bigintTransformer } from '../mappers/bigint.transformer.js';
import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';

/** A provider's data centre (e.g. Naver Cloud Chuncheon). */
@Entity('sites')
export class SiteEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Index('uq_sites_code', { unique: true })
  @Column('text')
  code!: string;
  @Column('text') name!: string;
  @Column('text') provider!: string;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

@Entity('clusters')
export class ClusterEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Index('uq_clusters_name', { unique: true })
  @Column('text')
  name!: string;
  @Column('uuid') siteId!: string;
  @ManyToOne(() => SiteEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'site_id' })
  site?: SiteEntity;
  /** Which ClusterAdapter runs its workloads: `simulator` (default), later `slurm`, `kubernetes`. */
  @Column('text', { default: 'simulator' }) adapter!: string;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

/**
 * The cluster agent serving a cluster, as its heartbeats tell (`POST /v1/agent/heartbeats`). A
 * cluster with a row here is watched: a dispatched attempt on it that its agent has not confirmed
 * within AGENT_HEARTBEAT_TIMEOUT_MS is declared lost. Clusters whose agent never sent one are not.
 */
@Entity('cluster_agents')
export class ClusterAgentEntity {
  @PrimaryColumn('uuid') clusterId!: string;
  @ManyToOne(() => ClusterEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'cluster_id' })
  cluster?: ClusterEntity;
  /** The last heartbeat (the database's clock). */
  @Column({ type: 'timestamptz', precision: 3 }) seenAt!: Date;
  /** When the agent process started, by its own clock (its resync heartbeat says so). */
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) agentStartedAt!: Date | null;
  /** The last resync: the agent reported every run it has and gpupool ended the ones it lost. */
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) resyncedAt!: Date | null;
  /** Runs the last heartbeat reported (on all the clusters it covered). */
  @Column('integer') runs!: number;
  /** What the agent calls itself (name and version), for operators. */
  @Column('text', { nullable: true }) agent!: string | null;
}

@Entity('node_pools')
export class NodePoolEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('uuid') clusterId!: string;
  @ManyToOne(() => ClusterEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'cluster_id' })
  cluster?: ClusterEntity;
  @Column('text') gpuModel!: string;
  @Column('integer') gpusPerNode!: number;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

/**
 * One server. `gpusAllocated` is changed only by the scheduling cycle of its GPU model (under the
 * partition lock) and by releases; the CHECK makes over-booking impossible even for a buggy writer.
 */
@Entity('nodes')
@Index('ix_nodes_model_state', ['gpuModel', 'state'])
@Index('uq_nodes_cluster_name', ['clusterId', 'name'], { unique: true })
@Check('ck_nodes_gpus_allocated', 'gpus_allocated >= 0 AND gpus_allocated <= gpus_total')
export class NodeEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('uuid') nodePoolId!: string;
  @ManyToOne(() => NodePoolEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'node_pool_id' })
  nodePool?: NodePoolEntity;
  @Column('uuid') clusterId!: string;
  @ManyToOne(() => ClusterEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'cluster_id' })
  cluster?: ClusterEntity;
  @Column('text') gpuModel!: string;
  @Column('text') name!: string;
  /** Multi-node workloads take whole nodes inside one interconnect domain. */
  @Column('text') interconnectDomain!: string;
  @Column('integer') gpusTotal!: number;
  @Column('integer', { default: 0 }) gpusAllocated!: number;
  /** up | draining | down */
  @Column('text', { default: 'up' }) state!: string;
  @Column('text', { nullable: true }) stateReason!: string | null;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', precision: 3 }) updatedAt!: Date;
}

/** One row per GPU model: the unit of scheduling, with the bookkeeping of its cycles. */
@Entity('scheduling_partitions')
export class SchedulingPartitionEntity {
  @PrimaryColumn('text') gpuModel!: string;
  @Column({ type: 'timestamptz', precision: 3, nullable: true }) lastCycleAt!: Date | null;
  @Column('bigint', { default: 0, transformer: bigintTransformer }) cycles!: bigint;
  @Column('integer', { nullable: true }) lastCycleMs!: number | null;
}

/**
 * "This partition needs a cycle": one row per change that may let a queued workload start
 * (submission, end, cancel, capacity change). Append-only inserts, so thousands of submissions a
 * second never queue behind one hot row; a cycle deletes the rows it saw and runs again while
 * newer ones exist, so no trigger is ever lost.
 */
@Entity('partition_triggers')
@Index('ix_partition_triggers_model', ['gpuModel', 'id'])
export class PartitionTriggerEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' }) id!: string;
  @Column('text') gpuModel!: string;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}
