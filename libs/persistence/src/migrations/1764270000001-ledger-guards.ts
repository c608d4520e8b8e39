import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Guards that entities cannot express: the audit log and the ledger are append-only, and every
 * ledger transaction sums to zero (checked at commit, so entries can be inserted one by one).
 */
export class LedgerGuards1764270000001 implements MigrationInterface {
  name = 'LedgerGuards1764270000001';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION gpupool_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
      END $$`);
    for (const table of ['audit_events', 'ledger_entries', 'ledger_transactions']) {
      await queryRunner.query(
        `CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON "${table}" FOR EACH ROW EXECUTE FUNCTION gpupool_refuse_change()`,
      );
    }
    await queryRunner.query(`
      CREATE FUNCTION gpupool_check_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE total numeric;
      BEGIN
        SELECT COALESCE(SUM(amount), 0) INTO total FROM ledger_entries WHERE transaction_id = NEW.transaction_id;
        IF total <> 0 THEN
          RAISE EXCEPTION 'ledger transaction % does not balance (sum %)', NEW.transaction_id, total
            USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
      END $$`);
    await queryRunner.query(`
      CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON "ledger_entries"
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gpupool_check_transaction_balanced()`);
    await queryRunner.query(
      `ALTER TABLE "ledger_entries" ADD CONSTRAINT "ck_ledger_entries_nonzero" CHECK (amount <> 0)`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "ledger_entries" DROP CONSTRAINT "ck_ledger_entries_nonzero"`);
    await queryRunner.query(`DROP TRIGGER ledger_entries_balanced ON "ledger_entries"`);
    await queryRunner.query(`DROP FUNCTION gpupool_check_transaction_balanced()`);
    for (const table of ['audit_events', 'ledger_entries', 'ledger_transactions']) {
      await queryRunner.query(`DROP TRIGGER ${table}_append_only ON "${table}"`);
    }
    await queryRunner.query(`DROP FUNCTION gpupool_refuse_change()`);
  }
}
