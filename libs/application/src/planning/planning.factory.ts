import type { DataSource } from 'typeorm';
import {
  LedgerRepository,
  ReservationPlansRepository,
  ReservationRepository,
  TypeormNotificationsRepository,
  TypeormRecallRepository,
  TypeormReservationMovesRepository,
  TypeormTransactionRunner,
} from '#persistence';
import type { JobProducer } from '#queues';
import { DecideRecallUseCase } from './decide-recall.use-case.js';
import { HandleCapacityLossUseCase } from './handle-capacity-loss.use-case.js';
import { PlanReservationsUseCase } from './plan-reservations.use-case.js';
import { PlanningQueries } from './planning.queries.js';
import { ProposeRecallsUseCase } from './propose-recalls.use-case.js';
import { ReleaseReservedServersUseCase } from './release-reserved-servers.use-case.js';
import { WhatIfUseCase } from './what-if.use-case.js';

/**
 * PlanningApplicationModule's graph built without a Nest container, for integration tests (both
 * processes use the module). `producer` may
 * be null where nothing is enqueued (the planning use cases then enqueue nothing); the release and
 * recall decisions need one.
 */
export function createPlanningUseCases(dataSource: DataSource, producer: JobProducer | null) {
  const transactions = new TypeormTransactionRunner(dataSource);
  const plans = new ReservationPlansRepository(dataSource);
  const moves = new TypeormReservationMovesRepository(dataSource);
  const reservations = new ReservationRepository(dataSource);
  const notifications = new TypeormNotificationsRepository();
  const recalls = new TypeormRecallRepository(dataSource);
  const capacityLoss = new HandleCapacityLossUseCase(transactions, plans, moves, notifications, producer);
  const release = new ReleaseReservedServersUseCase(transactions, reservations, producer as JobProducer);
  return {
    plans,
    moves,
    capacityLoss,
    planning: new PlanReservationsUseCase(transactions, plans, capacityLoss, producer),
    whatIf: new WhatIfUseCase(transactions, plans),
    queries: new PlanningQueries(reservations),
    release,
    proposeRecalls: new ProposeRecallsUseCase(transactions, recalls, notifications),
    decideRecall: new DecideRecallUseCase(
      transactions,
      recalls,
      new LedgerRepository(),
      notifications,
      release,
      producer as JobProducer,
    ),
  };
}
