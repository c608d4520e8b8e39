import {
  moveOnCapacityLoss,
  type MovedLine,
  type PlacedReservation,
  type PlanningCalendar,
  type PlanningNode,
  type UnplaceableLine,
} from '#domain';

/** A node that stopped serving at `lostAt` (whole Unix seconds) and is not back. */
export interface LostNode {
  nodeId: string;
  lostAt: number;
  /** The node's state, e.g. 'down' or 'draining'. */
  reason: string;
}

/** What the planner decided for the nodes lost at one instant. */
export interface CapacityLossStep {
  lostAt: number;
  lostNodeIds: string[];
  moved: MovedLine[];
  unplaceable: UnplaceableLine[];
}

/** The calendar writes a plan comes to: spans cut at a loss, replacement spans added. */
export interface CapacityLossSpans {
  cuts: { lineId: string; nodeId: string; at: number }[];
  adds: { lineId: string; nodeId: string; start: number; end: number }[];
}

/**
 * Moves reserved lines off lost nodes with the planner's `moveOnCapacityLoss`, one call per loss
 * instant in time order, each on the calendar the previous one left. Around the planner:
 * - every lost node is unavailable from its own loss on, so no line is moved onto a node that is
 *   already lost (or lost later) while it is out;
 * - the records a line holds over the loss with the same end are merged into one (after an earlier
 *   move a line's servers sit in several records), so the planner sees the line's whole server set —
 *   its cluster and interconnect domain — rather than a fragment;
 * - a line is never given a node it held before (`heldBefore`: the calendar stores one span per
 *   node and reservation): such a pick is refused by making the node unavailable for that span and
 *   asking again.
 * Pure and deterministic: the same calendar and losses give the same steps.
 */
export function planCapacityLoss(
  calendar: PlanningCalendar,
  lost: readonly LostNode[],
  heldBefore: ReadonlyMap<string, ReadonlySet<string>>,
): CapacityLossStep[] {
  const horizonEnd = calendar.months[calendar.months.length - 1]?.end ?? 0;
  const lostAtOf = new Map(lost.map((node) => [node.nodeId, node]));
  const nodes: PlanningNode[] = calendar.nodes.map((node) => {
    const loss = lostAtOf.get(node.id);
    if (!loss || loss.lostAt >= horizonEnd) return node;
    return {
      ...node,
      unavailable: [
        ...(node.unavailable ?? []),
        { start: loss.lostAt, end: horizonEnd, reason: loss.reason },
      ],
    };
  });
  const held = new Map<string, Set<string>>(
    [...heldBefore].map(([lineId, nodeIds]) => [lineId, new Set(nodeIds)]),
  );
  const instants = [...new Set(lost.map((node) => node.lostAt))].sort((a, b) => a - b);

  let reservations: PlacedReservation[] = [...calendar.reservations];
  const steps: CapacityLossStep[] = [];
  for (const lostAt of instants) {
    const group = new Set(lost.filter((node) => node.lostAt === lostAt).map((node) => node.nodeId));
    // Only nodes some record holds after the loss: the others have nothing to move.
    const lostNodeIds = [...group]
      .filter((id) => reservations.some((r) => r.end > lostAt && r.nodeIds.includes(id)))
      .sort();
    if (lostNodeIds.length === 0) continue;
    const current = mergeRecordsOver(reservations, lostAt);
    const blocked: { nodeId: string; start: number; end: number }[] = [];
    // Each retry blocks at least one more (node, span), so this ends within the node count.
    for (let attempt = 0; attempt <= nodes.length; attempt += 1) {
      const result = moveOnCapacityLoss(
        { ...calendar, nodes: withBlocks(nodes, blocked), reservations: current },
        {
          nodeIds: lostNodeIds,
          from: lostAt,
          until: horizonEnd,
          reason: lostAtOf.get(lostNodeIds[0])?.reason,
        },
      );
      const refused = result.moved.flatMap((move) =>
        move.replacementNodeIds
          .filter((nodeId) => held.get(move.lineId)?.has(nodeId))
          .map((nodeId) => ({ nodeId, start: move.start, end: move.end })),
      );
      if (refused.length > 0 && attempt < nodes.length) {
        blocked.push(...refused);
        continue;
      }
      for (const move of result.moved) {
        const lineHeld = held.get(move.lineId) ?? new Set<string>();
        for (const nodeId of move.replacementNodeIds) lineHeld.add(nodeId);
        held.set(move.lineId, lineHeld);
      }
      reservations = result.reservations;
      steps.push({ lostAt, lostNodeIds, moved: result.moved, unplaceable: result.unplaceable });
      break;
    }
  }
  return steps;
}

/** The span writes of the steps: each lost node cut at its loss, each replacement added. */
export function capacityLossSpans(steps: readonly CapacityLossStep[]): CapacityLossSpans {
  const spans: CapacityLossSpans = { cuts: [], adds: [] };
  for (const step of steps) {
    for (const line of [...step.moved, ...step.unplaceable]) {
      for (const nodeId of line.lostNodeIds)
        spans.cuts.push({ lineId: line.lineId, nodeId, at: step.lostAt });
    }
    for (const move of step.moved) {
      for (const nodeId of move.replacementNodeIds) {
        spans.adds.push({ lineId: move.lineId, nodeId, start: move.start, end: move.end });
      }
    }
  }
  return spans;
}

/**
 * One record per line and end for the records running over `at` (start ≤ at < end), starting at the
 * latest of their starts: identical to the calendar from `at` on, which is all a loss at `at` moves.
 */
function mergeRecordsOver(reservations: readonly PlacedReservation[], at: number): PlacedReservation[] {
  const others: PlacedReservation[] = [];
  const merged = new Map<string, PlacedReservation>();
  for (const record of reservations) {
    if (record.start > at || record.end <= at) {
      others.push(record);
      continue;
    }
    const key = `${record.lineId}\u0000${record.end}`;
    const previous = merged.get(key);
    merged.set(
      key,
      previous
        ? {
            ...previous,
            nodeIds: [...previous.nodeIds, ...record.nodeIds],
            start: Math.max(previous.start, record.start),
          }
        : record,
    );
  }
  return [...others, ...merged.values()];
}

function withBlocks(
  nodes: readonly PlanningNode[],
  blocked: readonly { nodeId: string; start: number; end: number }[],
): PlanningNode[] {
  if (blocked.length === 0) return [...nodes];
  return nodes.map((node) => {
    const spans = blocked.filter((block) => block.nodeId === node.id);
    if (spans.length === 0) return node;
    return {
      ...node,
      unavailable: [
        ...(node.unavailable ?? []),
        ...spans.map(({ start, end }) => ({ start, end, reason: 'held before by the line' })),
      ],
    };
  });
}
