import { Module } from '@nestjs/common';
import {
  RecallRepository,
  ReservationMovesRepository,
  ReservationPlansRepository,
  ReservationRepository,
  TypeormRecallRepository,
  TypeormReservationMovesRepository,
} from '#persistence';
import { DecideRecallUseCase } from './decide-recall.use-case.js';
import { HandleCapacityLossUseCase } from './handle-capacity-loss.use-case.js';
import { PlanReservationsUseCase } from './plan-reservations.use-case.js';
import { PlanningQueries, RecallQueries } from './planning.queries.js';
import { ProposeRecallsUseCase } from './propose-recalls.use-case.js';
import { ReleaseReservedServersUseCase } from './release-reserved-servers.use-case.js';
import { WhatIfUseCase } from './what-if.use-case.js';

const USE_CASES = [
  PlanReservationsUseCase,
  HandleCapacityLossUseCase,
  WhatIfUseCase,
  ReleaseReservedServersUseCase,
  PlanningQueries,
  RecallQueries,
  ProposeRecallsUseCase,
  DecideRecallUseCase,
];

/**
 * The capacity calendar of reserved allocations, for both processes: planning and re-planning a
 * model's queue (with capacity loss), what-if, early releases, the waitlist, and recalls. Needs
 * PersistenceModule (global) and a JobProducer in the container (optional for the planning jobs).
 */
@Module({
  providers: [
    ...USE_CASES,
    ReservationPlansRepository,
    ReservationRepository,
    { provide: ReservationMovesRepository, useClass: TypeormReservationMovesRepository },
    { provide: RecallRepository, useClass: TypeormRecallRepository },
  ],
  exports: [...USE_CASES, ReservationPlansRepository, ReservationMovesRepository, RecallRepository],
})
export class PlanningApplicationModule {}
