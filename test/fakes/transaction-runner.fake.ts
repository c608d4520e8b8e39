import { TransactionRunner, type TransactionOptions, type Tx } from '#persistence';

/**
 * Runs the work at once with a stand-in unit of work, for unit tests of use cases whose
 * repositories are fakes (they ignore `tx`). Records each run's options so a test can assert the
 * isolation a use case asked for; a run whose work throws is counted as rolled back.
 */
export class FakeTransactionRunner extends TransactionRunner {
  readonly runs: { options: TransactionOptions; outcome: 'committed' | 'rolled back' }[] = [];

  override async run<T>(work: (tx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    try {
      const result = await work({} as Tx);
      this.runs.push({ options, outcome: 'committed' });
      return result;
    } catch (error) {
      this.runs.push({ options, outcome: 'rolled back' });
      throw error;
    }
  }
}
