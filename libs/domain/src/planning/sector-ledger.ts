import type { SectorTargets } from '../programs/program.js';
import type { NodeCalendar } from './calendar.js';
import { DEFAULT_SECTOR_TARGETS, SECTORS, type PlanningMonth, type Sector } from './types.js';

/**
 * Sector targets as caps that are "borrowable, but first served to the owner".
 *
 * Scope: one program, one GPU model, one month m. All amounts are node-seconds (a reserved line is
 * whole servers, so node time is the unit; GPU-seconds are node-seconds × GPUs per node).
 *
 *   C        the model's capacity in m: Σ over its nodes of (seconds of m − unavailable seconds in m)
 *   own(x)   ⌊C × target(x) / 100⌋, target from the program's sectorTargets (default 50/30/20)
 *   U(x)     node-seconds in m already reserved for the program's sector-x lines (the calendar's
 *            records with this programId and sector, plus lines placed earlier in this run)
 *   a(m)     the line's node-seconds in m: servers × |[start, start + d) ∩ m|
 *
 * Round 1 (own share). Every line, in (orderKey, lineId) order, is searched with the bound
 *
 *   U(s) + a(m) ≤ own(s)   in every month m it touches.
 *
 * If its earliest start under that bound equals its earliest start with no bound, it is decided in
 * round 1 (placed, or waitlisted for capacity). Otherwise — its sector's share is what held it back —
 * it goes to round 2. Every line that fits within its own sector's share is therefore placed before
 * any line that needs to borrow: a borrower never takes nodes an owner's line within its share needed.
 *
 * Round 2 (borrowing). The held-back lines, in (orderKey, lineId) order, with
 *
 *   P(x)     pending demand: Σ servers × |[requestedStart, requestedStart + d) ∩ m| over the
 *            program's round-2 sector-x lines of this model not decided yet
 *   held(x)  max(U(x), min(own(x), U(x) + P(x))) — what sector x uses or still asks for of its share
 *
 *   U(s) + a(m) ≤ allowance(s) = max(own(s), C − Σ_{x ≠ s} held(x))   in every month m it touches.
 *
 * A sector may borrow only what the other sectors neither use nor still ask for in that month in this
 * batch; an owner's pending demand in round 2 is held back from borrowers even when the owner's line
 * comes later in order. A line refused in round 2 is waitlisted, with blockedBy 'sector_target' when
 * it would have fitted with no rule.
 *
 * Limits, on purpose: the rule bounds node time per month, not geometry; demand counts in the months
 * a request asked for, so a line pushed into later months is not protected there; each program's
 * targets apply to the model's whole capacity (the government plan splits the pool) — dividing
 * capacity between programs is the shared queue's program shares, not this rule. Calendar records
 * without a sector take capacity but count toward no sector.
 */
export class SectorLedger {
  private readonly monthCount: number;
  /** Capacity per model: node-seconds per month. */
  private readonly capacity = new Map<string, number[]>();
  /** Per `${programId}\u0000${gpuModel}`: [month × 3 + sector] node-seconds. */
  private readonly used = new Map<string, Float64Array>();
  private readonly pending = new Map<string, Float64Array>();

  constructor(
    private readonly months: readonly PlanningMonth[],
    calendar: NodeCalendar,
    private readonly targetsByProgram: Readonly<Record<string, SectorTargets>> = {},
  ) {
    this.monthCount = months.length;
    for (const model of calendar.gpuModels()) {
      const perMonth = months.map((month) => {
        let seconds = 0;
        for (const i of calendar.nodesOfModel(model))
          seconds += calendar.availableSeconds(i, month.start, month.end);
        return seconds;
      });
      this.capacity.set(model, perMonth);
    }
  }

  targetsOf(programId: string): SectorTargets {
    return this.targetsByProgram[programId] ?? DEFAULT_SECTOR_TARGETS;
  }

  capacityOf(gpuModel: string, month: number): number {
    return this.capacity.get(gpuModel)?.[month] ?? 0;
  }

  private cells(book: Map<string, Float64Array>, programId: string, gpuModel: string): Float64Array {
    const key = `${programId}\u0000${gpuModel}`;
    let cells = book.get(key);
    if (!cells) {
      cells = new Float64Array(this.monthCount * SECTORS.length);
      book.set(key, cells);
    }
    return cells;
  }

  private add(
    book: Map<string, Float64Array>,
    programId: string,
    gpuModel: string,
    sector: Sector,
    start: number,
    end: number,
    servers: number,
  ): void {
    const cells = this.cells(book, programId, gpuModel);
    const s = SECTORS.indexOf(sector);
    this.months.forEach((month, m) => {
      const overlap = Math.min(end, month.end) - Math.max(start, month.start);
      if (overlap > 0) cells[m * SECTORS.length + s] += servers * overlap;
    });
  }

  /** Records reserved node time of a program's sector (existing records and new placements). */
  addUse(
    programId: string,
    gpuModel: string,
    sector: Sector,
    start: number,
    end: number,
    servers: number,
  ): void {
    this.add(this.used, programId, gpuModel, sector, start, end, servers);
  }

  /** Adds (servers > 0) or removes (servers < 0) a pending request's requested window. */
  addPending(
    programId: string,
    gpuModel: string,
    sector: Sector,
    start: number,
    end: number,
    servers: number,
  ): void {
    this.add(this.pending, programId, gpuModel, sector, start, end, servers);
  }

  /** own(x), U(x), P(x) for every sector in one month. */
  monthState(
    programId: string,
    gpuModel: string,
    month: number,
  ): { capacity: number; own: number[]; used: number[]; pending: number[] } {
    const capacity = this.capacityOf(gpuModel, month);
    const targets = this.targetsOf(programId);
    const used = this.cells(this.used, programId, gpuModel);
    const pending = this.cells(this.pending, programId, gpuModel);
    return {
      capacity,
      own: SECTORS.map((x) => Math.floor((capacity * targets[x]) / 100)),
      used: SECTORS.map((_, x) => used[month * SECTORS.length + x]),
      pending: SECTORS.map((_, x) => pending[month * SECTORS.length + x]),
    };
  }

  /** allowance(s) in month m (see the class comment). */
  allowance(programId: string, gpuModel: string, sector: Sector, month: number): number {
    const { capacity, own, used, pending } = this.monthState(programId, gpuModel, month);
    const s = SECTORS.indexOf(sector);
    let heldByOthers = 0;
    for (let x = 0; x < SECTORS.length; x += 1) {
      if (x === s) continue;
      heldByOthers += Math.max(used[x], Math.min(own[x], used[x] + pending[x]));
    }
    return Math.max(own[s], capacity - heldByOthers);
  }

  /** Round 1, per month: node-seconds a sector-s line may still add within its own share (own − U(s)). */
  ownShareRoom(programId: string, gpuModel: string, sector: Sector): number[] {
    const s = SECTORS.indexOf(sector);
    return this.months.map((_, m) => {
      const state = this.monthState(programId, gpuModel, m);
      return state.own[s] - state.used[s];
    });
  }

  /** Round 2, per month: node-seconds a sector-s line may still add (allowance − U(s), possibly negative). */
  room(programId: string, gpuModel: string, sector: Sector): number[] {
    const used = this.cells(this.used, programId, gpuModel);
    const s = SECTORS.indexOf(sector);
    return this.months.map(
      (_, m) => this.allowance(programId, gpuModel, sector, m) - used[m * SECTORS.length + s],
    );
  }
}
