import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { bigintTransformer } from '../mappers/bigint.transformer.js';

@Entity('ledger_transactions')
export class LedgerTransactionEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('text') kind!: string;
  /** Posting the same business event twice hits this key, so it counts once. */
  @Index('uq_ledger_transactions_idempotency_key', { unique: true })
  @Column('text')
  idempotencyKey!: string;
  @Column('text', { nullable: true }) memo!: string | null;
  @Column('text', { nullable: true }) requestId!: string | null;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

@Entity('ledger_entries')
@Check('ck_ledger_entries_nonzero', 'amount <> 0')
export class LedgerEntryEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' }) id!: string;
  @Index('ix_ledger_entries_transaction')
  @Column('uuid')
  transactionId!: string;
  @ManyToOne(() => LedgerTransactionEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'transaction_id' })
  transaction?: LedgerTransactionEntity;
  @Index('ix_ledger_entries_account')
  @Column('text')
  account!: string;
  @Column('bigint', { transformer: bigintTransformer }) amount!: bigint;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}
