import { Injectable } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { notFound, planWhatIf } from '#domain';
import {
  queuedLineRequest,
  ReservationPlansRepository,
  TransactionRunner,
  type Tx,
  type WhatIfRequestRow,
} from '#persistence';
import {
  namedCandidates,
  orderLines,
  PENDING_REQUEST_STATES,
  shapeWhatIf,
  whatIfRequests,
  type WhatIfResult,
} from './what-if-shaping.js';

/** Which pending requests to plan: the named ones (in this order), or the program's whole pending list. */
export interface WhatIfQuery {
  requestIds?: string[];
  programId?: string;
}

/**
 * Plans pending requests' reserved lines after the approved queue (pending and waitlisted reserved
 * allocations, in approval order) on the calendar as it is now. Runs in a READ ONLY transaction:
 * whatever happens, nothing is written.
 */
@Injectable()
export class WhatIfUseCase {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly plans: ReservationPlansRepository,
  ) {}

  execute(query: WhatIfQuery, now: Date = new Date()): Promise<WhatIfResult> {
    return this.transactions.run(
      async (tx) => {
        await this.plans.readOnly(tx);
        const candidates = await this.candidates(tx, query);
        const lines = orderLines(
          await this.plans.reservedLinesOf(
            tx,
            candidates.map((candidate) => candidate.id),
          ),
          candidates,
        );
        const models = [...new Set(lines.map((line) => line.gpuModel))].sort();
        const queue = (await this.plans.queue(tx, models)).filter(
          (line) => line.allocationStatus === 'active',
        );
        const queueRequests = queue.map((line, index) => queuedLineRequest(line, index));
        const asked = whatIfRequests(lines, candidates, queueRequests.length);
        const { input, calendar } = await this.plans.inputs(tx, models, [...queueRequests, ...asked], now);
        const started = performance.now();
        const plan = planWhatIf(input);
        const planningMs = Math.round(performance.now() - started);
        return shapeWhatIf({
          candidates,
          lines,
          asked,
          queueIds: queue.map((line) => line.allocationId),
          input,
          calendar,
          plan,
          planningMs,
        });
      },
      { isolation: 'REPEATABLE READ' },
    );
  }

  private async candidates(tx: Tx, query: WhatIfQuery): Promise<WhatIfRequestRow[]> {
    if (query.programId !== undefined && !(await this.plans.programExists(tx, query.programId))) {
      throw notFound('Program', query.programId);
    }
    if (query.requestIds === undefined) {
      return this.plans.requestsOfProgram(tx, query.programId as string, PENDING_REQUEST_STATES);
    }
    const rows = await this.plans.requestsByIds(tx, [...new Set(query.requestIds)]);
    return namedCandidates(query.requestIds, rows, query.programId);
  }
}
