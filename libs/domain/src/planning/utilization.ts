import type { NodeCalendar } from './calendar.js';
import {
  SECTORS,
  type PlacedReservation,
  type PlanningMonth,
  type Sector,
  type UtilizationCell,
} from './types.js';

/** a ÷ b rounded half up to `digits` decimals, from exact integers (0 when b is 0). */
export function displayRatio(numerator: bigint, denominator: bigint, digits = 4): number {
  if (denominator === 0n) return 0;
  const scale = 10n ** BigInt(digits);
  return Number((numerator * scale * 2n + denominator) / (denominator * 2n)) / Number(scale);
}

/**
 * Reserved GPU-seconds against capacity per GPU model and month. A reservation counts only on
 * available node time (a record that overlaps a node's down time counts for the part the node was
 * up), so reserved ≤ capacity always holds.
 */
export function computeUtilization(
  calendar: NodeCalendar,
  months: readonly PlanningMonth[],
  reservations: readonly PlacedReservation[],
): UtilizationCell[] {
  type Cell = { reserved: Record<Sector | 'unassigned', bigint>; capacity: bigint };
  const cells = new Map<string, Cell[]>();
  const blank = (): Cell => ({
    reserved: { national: 0n, industry: 0n, academia: 0n, unassigned: 0n },
    capacity: 0n,
  });
  for (const model of calendar.gpuModels()) {
    const perMonth = months.map((month) => {
      const cell = blank();
      let capacity = 0;
      for (const i of calendar.nodesOfModel(model)) {
        capacity += calendar.availableSeconds(i, month.start, month.end) * calendar.nodes[i].gpusPerNode;
      }
      cell.capacity = BigInt(capacity);
      return cell;
    });
    cells.set(model, perMonth);
  }
  const first = months[0]?.start ?? 0;
  const last = months[months.length - 1]?.end ?? 0;
  for (const reservation of reservations) {
    const sector: Sector | 'unassigned' =
      reservation.sector !== undefined && SECTORS.includes(reservation.sector)
        ? reservation.sector
        : 'unassigned';
    for (const nodeId of reservation.nodeIds) {
      const i = calendar.nodeIndex.get(nodeId);
      if (i === undefined) continue;
      const node = calendar.nodes[i];
      const perMonth = cells.get(node.gpuModel) as Cell[];
      const from = Math.max(reservation.start, first);
      const to = Math.min(reservation.end, last);
      for (let m = 0; m < months.length && from < to; m += 1) {
        const start = Math.max(from, months[m].start);
        const end = Math.min(to, months[m].end);
        if (end <= start) continue;
        const seconds = calendar.availableSeconds(i, start, end);
        perMonth[m].reserved[sector] += BigInt(seconds * node.gpusPerNode);
      }
    }
  }
  const result: UtilizationCell[] = [];
  for (const model of [...cells.keys()].sort()) {
    (cells.get(model) as Cell[]).forEach((cell, m) => {
      const reserved = SECTORS.reduce((sum, sector) => sum + cell.reserved[sector], cell.reserved.unassigned);
      result.push({
        gpuModel: model,
        month: months[m].key,
        reservedGpuSeconds: reserved,
        capacityGpuSeconds: cell.capacity,
        ratio: displayRatio(reserved, cell.capacity),
        reservedBySector: { ...cell.reserved },
      });
    });
  }
  return result;
}
