import type { OrganizationType } from '../organizations/organization-type.js';
import {
  chargePeriodFor,
  type BillingPeriod,
  type ChargeClass,
  type ChargePlacement,
} from './billing-period.js';
import { priceLine, type PricingPolicy, type VatPayer } from './pricing.js';
import type { RateCard } from './rate-card.js';
import { splitUsageAtRateChanges } from './statement.js';

/**
 * What a billing close computes from the usage it reads: pieces of usage records (cut at Seoul days
 * and rate changes) summed into lines per allocation, placement and price; then every line priced
 * with its program's policy and numbered in one reproducible order. Pure: the close's repository
 * reads the records and writes the lines.
 */

export type CorrectionReason = 'late_usage' | 'refund';

/** A posted usage record as a close reads it. */
export interface CloseUsageRecord {
  allocationId: string;
  gpuModel: string;
  gpus: number;
  startedAt: Date;
  endedAt: Date;
  /** Its admission attempt was failed by the infrastructure: the ledger refunded its usage. */
  refunded: boolean;
  /** Periods whose pieces of this record are billed already (charged and not credited back). */
  billedPeriods: readonly BillingPeriod[];
}

/** Usage summed into one future statement line (not priced yet). */
export interface AccumulatedLine {
  allocationId: string;
  placement: ChargePlacement;
  correctionReason: CorrectionReason | null;
  gpuModel: string;
  krwPerGpuHour: bigint;
  rateEffectiveFrom: Date;
  startsAt: Date;
  endsAt: Date;
  gpuSeconds: bigint;
  pieces: number;
}

interface LinePiece {
  gpuModel: string;
  krwPerGpuHour: bigint;
  rateEffectiveFrom: Date;
  startsAt: Date;
  endsAt: Date;
  gpuSeconds: bigint;
}

/**
 * The lines of one close (or preview) as usage is read: charges of unbilled pieces, credits of
 * refunded pieces billed before. Counts what it marks so the close can report it.
 */
export class CloseAccumulator {
  private readonly lines = new Map<string, AccumulatedLine>();
  private readonly placements = new Map<string, ChargePlacement>();
  private readonly cardsByModel = new Map<string, RateCard[]>();
  /** Record pieces charged and credited: one per record and period marked billed. */
  chargedPieces = 0;
  creditedPieces = 0;
  /** The period's own usage left unbilled because its attempt was refunded. */
  refundedGpuSeconds = 0n;

  /**
   * @param earlierClosed whether a period before this one is closed. A close has them all closed
   *   (closes are in order); a preview may not, and pieces of an earlier open period are that
   *   period's to bill, not this one's.
   */
  constructor(
    readonly period: BillingPeriod,
    cards: readonly RateCard[],
    private readonly earlierClosed: (period: BillingPeriod) => boolean = () => true,
  ) {
    for (const card of cards) {
      this.cardsByModel.set(card.gpuModel, [...(this.cardsByModel.get(card.gpuModel) ?? []), card]);
    }
  }

  /**
   * Charges the record's pieces this close bills and that are not billed yet (refunded pieces of the
   * period only count as refunded). Returns the periods to mark billed for the record.
   */
  charge(record: CloseUsageRecord): BillingPeriod[] {
    const billed = new Set(record.billedPeriods);
    const marked: BillingPeriod[] = [];
    for (const piece of this.piecesOf(record)) {
      if (!this.charges(piece.period) || billed.has(piece.period)) continue;
      if (record.refunded) {
        if (piece.period === this.period) this.refundedGpuSeconds += piece.gpuSeconds;
        continue;
      }
      const placement = this.placementOf(piece.period);
      this.add(
        record.allocationId,
        placement,
        placement.chargeClass === null ? null : 'late_usage',
        piece,
        1n,
      );
      if (!marked.includes(piece.period)) marked.push(piece.period);
    }
    this.chargedPieces += marked.length;
    return marked;
  }

  /**
   * Credits a refunded record's billed pieces in this period, as negative corrections naming the
   * period each was billed for, priced as charged. Returns the periods credited and the GPU-seconds.
   */
  credit(record: CloseUsageRecord): { periods: BillingPeriod[]; gpuSeconds: bigint } {
    const billed = new Set(record.billedPeriods);
    const periods: BillingPeriod[] = [];
    let gpuSeconds = 0n;
    if (billed.size === 0) return { periods, gpuSeconds };
    for (const piece of this.piecesOf(record)) {
      if (!billed.has(piece.period)) continue;
      const placement: ChargePlacement = {
        chargePeriod: this.period,
        chargeClass: 'Correction',
        correctsPeriod: piece.period,
      };
      this.add(record.allocationId, placement, 'refund', piece, -1n);
      gpuSeconds += piece.gpuSeconds;
      if (!periods.includes(piece.period)) periods.push(piece.period);
    }
    this.creditedPieces += periods.length;
    return { periods, gpuSeconds };
  }

  /** The lines with usage (charges and credits that cancel out make no line), in the order first met. */
  nonEmptyLines(): AccumulatedLine[] {
    return [...this.lines.values()].filter((line) => line.gpuSeconds !== 0n);
  }

  private piecesOf(record: CloseUsageRecord) {
    return splitUsageAtRateChanges(
      record.gpus,
      record.startedAt,
      record.endedAt,
      this.cardsByModel.get(record.gpuModel) ?? [],
      record.gpuModel,
    );
  }

  /** Whether this computation charges pieces of `usagePeriod`: its own, and those of closed earlier ones. */
  private charges(usagePeriod: BillingPeriod): boolean {
    return usagePeriod === this.period || (usagePeriod < this.period && this.earlierClosed(usagePeriod));
  }

  /** Where a piece of `usagePeriod` is charged in this close: here, or here as a correction of it. */
  private placementOf(usagePeriod: BillingPeriod): ChargePlacement {
    let placement = this.placements.get(usagePeriod);
    if (placement === undefined) {
      // Every period before the one closing is closed (closes are in order), and only it takes charges.
      const closed = usagePeriod < this.period ? [usagePeriod] : [];
      placement = chargePeriodFor(usagePeriod, closed, [this.period]);
      this.placements.set(usagePeriod, placement);
    }
    return placement;
  }

  private add(
    allocationId: string,
    placement: ChargePlacement,
    reason: CorrectionReason | null,
    piece: LinePiece,
    sign: 1n | -1n,
  ): void {
    const key = [
      allocationId,
      placement.correctsPeriod ?? '',
      reason ?? '',
      piece.gpuModel,
      piece.rateEffectiveFrom.getTime(),
      piece.krwPerGpuHour,
    ].join('\u0000');
    const line = this.lines.get(key);
    if (line === undefined) {
      this.lines.set(key, {
        allocationId,
        placement,
        correctionReason: reason,
        gpuModel: piece.gpuModel,
        krwPerGpuHour: piece.krwPerGpuHour,
        rateEffectiveFrom: piece.rateEffectiveFrom,
        startsAt: piece.startsAt,
        endsAt: piece.endsAt,
        gpuSeconds: sign * piece.gpuSeconds,
        pieces: 1,
      });
      return;
    }
    line.gpuSeconds += sign * piece.gpuSeconds;
    line.pieces += 1;
    if (piece.startsAt < line.startsAt) line.startsAt = piece.startsAt;
    if (piece.endsAt > line.endsAt) line.endsAt = piece.endsAt;
  }
}

/** Who a line bills: the allocation's project, organization and program. */
export interface BilledParty {
  projectId: string;
  projectTitle: string;
  organizationId: string;
  organizationName: string;
  orgType: OrganizationType;
  taxId: string | null;
  taxIdKind: string | null;
  programId: string;
}

/** A program as its lines name it, with the policy it prices with now. */
export interface BillingProgram {
  code: string;
  name: string;
  agencyCode: string;
  policy: PricingPolicy;
}

/** A priced statement line, before it is numbered. */
export interface PricedCloseLine {
  chargeClass: NonNullable<ChargeClass> | '';
  correctionReason: CorrectionReason | null;
  originalPeriod: BillingPeriod | null;
  allocationId: string;
  projectId: string;
  projectTitle: string;
  organizationId: string;
  organizationName: string;
  orgType: OrganizationType;
  businessRegistrationNumber: string | null;
  taxIdKind: string | null;
  programId: string;
  programCode: string;
  programName: string;
  agencyCode: string;
  gpuModel: string;
  krwPerGpuHour: bigint;
  rateEffectiveFrom: Date;
  chargeStart: Date;
  chargeEnd: Date;
  gpuSeconds: bigint;
  listValue: bigint;
  discount: bigint;
  supplyPrice: bigint;
  subsidy: bigint;
  coPay: bigint;
  vat: bigint;
  vatPayer: VatPayer;
  vatFromOrganization: bigint;
  vatFromProgram: bigint;
  totalDueOrg: bigint;
  totalProgram: bigint;
  usagePieces: number;
}

/** A (usage period, program) policy a close priced with for the first time: recorded for later corrections. */
export interface RecordedPolicy {
  period: BillingPeriod;
  programId: string;
  policy: PricingPolicy;
}

/**
 * Prices and orders a close's lines. The period's own lines price with the program's policy now (and
 * record it for the period); corrections price with the policy recorded for the period they correct.
 */
export class ClosePricing {
  private readonly policies: Map<string, PricingPolicy>;
  /** Policies used and not recorded before, in the order first used. */
  readonly recorded: RecordedPolicy[] = [];

  /**
   * @param snapshots policies recorded earlier, by `${period}|${programId}`.
   */
  constructor(
    readonly period: BillingPeriod,
    private readonly parties: ReadonlyMap<string, BilledParty>,
    private readonly programs: ReadonlyMap<string, BillingProgram>,
    snapshots: ReadonlyMap<string, PricingPolicy>,
  ) {
    this.policies = new Map(snapshots);
  }

  /** The lines in line-number order (sorted by what their statements group and name, then price). */
  order(lines: readonly AccumulatedLine[]): AccumulatedLine[] {
    const keyed = lines.map((line) => {
      const party = this.partyOf(line.allocationId);
      const program = this.programOf(party.programId);
      return { line, party, program };
    });
    keyed.sort(
      ({ line: a, party: pa, program: ga }, { line: b, party: pb, program: gb }) =>
        compareText(a.placement.chargeClass ?? '', b.placement.chargeClass ?? '') ||
        compareText(a.placement.correctsPeriod ?? '', b.placement.correctsPeriod ?? '') ||
        compareText(a.correctionReason ?? '', b.correctionReason ?? '') ||
        compareText(ga.agencyCode, gb.agencyCode) ||
        compareText(ga.code, gb.code) ||
        compareText(pa.organizationName, pb.organizationName) ||
        compareText(pa.organizationId, pb.organizationId) ||
        compareText(pa.projectTitle, pb.projectTitle) ||
        compareText(pa.projectId, pb.projectId) ||
        compareText(a.allocationId, b.allocationId) ||
        compareText(a.gpuModel, b.gpuModel) ||
        a.rateEffectiveFrom.getTime() - b.rateEffectiveFrom.getTime(),
    );
    return keyed.map((entry) => entry.line);
  }

  price(line: AccumulatedLine): PricedCloseLine {
    const party = this.partyOf(line.allocationId);
    const program = this.programOf(party.programId);
    const usagePeriod = line.placement.correctsPeriod ?? this.period;
    const amounts = priceLine({
      gpuSeconds: line.gpuSeconds,
      krwPerGpuHour: line.krwPerGpuHour,
      orgType: party.orgType,
      policy: this.policyFor(usagePeriod, party.programId, program),
    });
    return {
      chargeClass: line.placement.chargeClass ?? '',
      correctionReason: line.correctionReason,
      originalPeriod: line.placement.correctsPeriod,
      allocationId: line.allocationId,
      projectId: party.projectId,
      projectTitle: party.projectTitle,
      organizationId: party.organizationId,
      organizationName: party.organizationName,
      orgType: party.orgType,
      businessRegistrationNumber: party.taxId,
      taxIdKind: party.taxIdKind,
      programId: party.programId,
      programCode: program.code,
      programName: program.name,
      agencyCode: program.agencyCode,
      gpuModel: line.gpuModel,
      krwPerGpuHour: line.krwPerGpuHour,
      rateEffectiveFrom: line.rateEffectiveFrom,
      chargeStart: line.startsAt,
      chargeEnd: line.endsAt,
      gpuSeconds: amounts.gpuSeconds,
      listValue: amounts.listValue,
      discount: amounts.discount,
      supplyPrice: amounts.supplyPrice,
      subsidy: amounts.subsidy,
      coPay: amounts.coPay,
      vat: amounts.vat,
      vatPayer: amounts.vatPaidBy,
      vatFromOrganization: amounts.vatFromOrganization,
      vatFromProgram: amounts.vatFromProgram,
      totalDueOrg: amounts.totalDueFromOrganization,
      totalProgram: amounts.totalFromProgram,
      usagePieces: line.pieces,
    };
  }

  private policyFor(usagePeriod: BillingPeriod, programId: string, program: BillingProgram): PricingPolicy {
    const key = `${usagePeriod}|${programId}`;
    let policy = this.policies.get(key);
    if (policy === undefined) {
      policy = program.policy;
      this.policies.set(key, policy);
      this.recorded.push({ period: usagePeriod, programId, policy });
    }
    return policy;
  }

  private partyOf(allocationId: string): BilledParty {
    const party = this.parties.get(allocationId);
    if (!party) throw new Error(`allocation ${allocationId} of a usage record does not exist`);
    return party;
  }

  private programOf(programId: string): BillingProgram {
    const program = this.programs.get(programId);
    if (!program) throw new Error(`program ${programId} of a billed allocation does not exist`);
    return program;
  }
}

/** Code-unit order: the same everywhere, unlike localeCompare, so line numbers are reproducible. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
