import { AuditRepository, type AuditEventEntity, type AuditInput, type Tx } from '#persistence';

/** Keeps every audit event a use case records, in order, for assertions. */
export class FakeAuditRepository extends AuditRepository {
  readonly events: AuditInput[] = [];

  override record(_tx: Tx, input: AuditInput): Promise<void> {
    this.events.push(input);
    return Promise.resolve();
  }

  override history(): Promise<AuditEventEntity[]> {
    return Promise.reject(new Error('FakeAuditRepository.history is not used by unit tests'));
  }

  actions(): string[] {
    return this.events.map((event) => event.action);
  }
}
