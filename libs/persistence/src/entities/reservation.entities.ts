import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Exclusion,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { AllocationEntity } from './allocation.entities.js';
import { ClusterEntity, NodeEntity } from './pool.entities.js';

/**
 * A reserved allocation placed on the capacity calendar (issue 7): its cluster and window. One per
 * allocation. `released` once an admin released servers early; the nodes' own spans
 * (reservation_nodes.during) say which node is held when.
 */
@Entity('reservations')
@Check('ck_reservations_window', '"ends_at" > "starts_at"')
@Check('ck_reservations_status', `"status" IN ('placed', 'released')`)
@Index('ix_reservations_model_window', ['gpuModel', 'endsAt'])
export class ReservationEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Index('uq_reservations_allocation', { unique: true })
  @Column('uuid')
  allocationId!: string;
  @ManyToOne(() => AllocationEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'allocation_id' })
  allocation?: AllocationEntity;
  @Column('text') gpuModel!: string;
  @Column('uuid') clusterId!: string;
  @ManyToOne(() => ClusterEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'cluster_id' })
  cluster?: ClusterEntity;
  @Column('timestamptz') startsAt!: Date;
  @Column('timestamptz') endsAt!: Date;
  /** placed | released */
  @Column('text') status!: string;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
  @UpdateDateColumn({ type: 'timestamptz', precision: 3 }) updatedAt!: Date;
}

/**
 * One node of a reservation and the span it is held, [start, end). The exclusion constraint is the
 * last line of defence: PostgreSQL itself refuses a node held by two reservations at once, whatever
 * the planner or a hand-written statement does. An early release shortens `during`.
 */
@Entity('reservation_nodes')
@Exclusion('ex_reservation_nodes_no_overlap', 'USING gist ("node_id" WITH =, "during" WITH &&)')
export class ReservationNodeEntity {
  @PrimaryColumn('uuid') reservationId!: string;
  @ManyToOne(() => ReservationEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'reservation_id' })
  reservation?: ReservationEntity;
  @PrimaryColumn('uuid') nodeId!: string;
  @ManyToOne(() => NodeEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'node_id' })
  node?: NodeEntity;
  /** A tstzrange literal such as `["2026-05-01 00:00:00+00","2026-08-01 00:00:00+00")`. */
  @Column('tstzrange') during!: string;
}

/**
 * The planning outbox and waitlist: a reserved allocation gets a `pending` row in its grant's
 * transaction; the planning job turns it into `placed` (with a reservations row) or `waitlisted`
 * (with the earliest feasible start, or none, and the planner's sentence). The reconciler
 * re-enqueues `pending` rows whose job Redis lost.
 */
@Entity('reservation_plans')
@Check('ck_reservation_plans_status', `"status" IN ('pending', 'placed', 'waitlisted')`)
@Index('ix_reservation_plans_status', ['status'])
export class ReservationPlanEntity {
  @PrimaryColumn('uuid') allocationId!: string;
  @ManyToOne(() => AllocationEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'allocation_id' })
  allocation?: AllocationEntity;
  /** pending | placed | waitlisted */
  @Column('text') status!: string;
  @Column('timestamptz', { nullable: true }) earliestFeasibleStart!: Date | null;
  /** The planner's stable waitlist code (e.g. ENDS_AFTER_LATEST_END), null unless waitlisted. */
  @Column('text', { nullable: true }) code!: string | null;
  /** The planner's sentence for a waitlisted line: what held it back and what would let it in. */
  @Column('text', { nullable: true }) reason!: string | null;
  @Column('integer', { default: 0 }) attempts!: number;
  @UpdateDateColumn({ type: 'timestamptz', precision: 3 }) updatedAt!: Date;
}
