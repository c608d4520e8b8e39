import { invalid } from '../errors/domain-error.js';
import { NodeCalendar } from './calendar.js';
import { findEarliestSlot } from './earliest-start.js';
import { formatInstantSeconds, formatSeconds } from './format.js';
import type { PlacedReservation, PlanningCalendar, PlanningNode } from './types.js';
import { assertValid, planningCalendarProblems } from './validation.js';

/** Nodes that stop serving at `from` (down, pulled for repair) until `until`. */
export interface CapacityLoss {
  nodeIds: readonly string[];
  from: number;
  /** When the nodes are expected back. Default: not before the calendar ends. */
  until?: number;
  /** For the nodes' unavailable interval, e.g. 'down'. */
  reason?: string;
}

export interface MovedLine {
  lineId: string;
  lostNodeIds: string[];
  replacementNodeIds: string[];
  /** The line's servers from `start` on, sorted. */
  nodeIds: string[];
  /** The part of the window that moved: [max(line start, loss start), line end) — the window itself is unchanged. */
  start: number;
  end: number;
}

/** A choice for an admin and the line's owner; none is applied by the planner. */
export type CapacityLossOption =
  /** Keep the line's window with fewer servers (the ones it still has plus the free ones that could join). */
  | { kind: 'fewer_servers_now'; servers: number; start: number; end: number }
  /** Move all the line's servers, same window, to other nodes (possibly another cluster). */
  | { kind: 'move_whole_line'; clusterId: string; nodeIds: string[]; start: number; end: number }
  /** The whole line, with the length of its remaining window, at the earliest later start. */
  | { kind: 'later_start'; start: number; end: number };

export interface UnplaceableLine {
  lineId: string;
  lostNodeIds: string[];
  /** Servers the line still holds for [start, end) on the returned calendar. */
  keptNodeIds: string[];
  start: number;
  end: number;
  reason: string;
  options: CapacityLossOption[];
}

export interface CapacityLossResult {
  /** The nodes with the loss added to their unavailable intervals. */
  nodes: PlanningNode[];
  /** The calendar after the moves: history before the loss stays on the old nodes. */
  reservations: PlacedReservation[];
  moved: MovedLine[];
  unplaceable: UnplaceableLine[];
}

/**
 * Move on capacity loss. Every reservation holding a lost node while it is lost gets new nodes for
 * the rest of its window, [max(start, from), end), on the same window — never shortened, never
 * delayed:
 * - servers on healthy nodes stay where they are, and replacements join them in the same cluster
 *   (and interconnect domain when the line asked for one), chosen best-fit as in planning;
 * - a line that lost all its servers may move as a whole to any cluster of its GPU model;
 * - lines are handled in (start, lineId) order, each seeing the moves before it.
 * A line that cannot be re-placed keeps its healthy servers on the calendar and is reported with
 * options — fewer servers now, the whole line moved now, or the earliest later start — for a person
 * to choose; the planner applies none of them. The lost node's record is cut at `from` (it did serve
 * until then). Sector targets are not re-checked: moving a line between nodes of the same model does
 * not change its node time.
 */
export function moveOnCapacityLoss(calendar: PlanningCalendar, loss: CapacityLoss): CapacityLossResult {
  assertValid(planningCalendarProblems(calendar));
  const horizonStart = calendar.months[0].start;
  const horizonEnd = calendar.months[calendar.months.length - 1].end;
  const until = loss.until ?? horizonEnd;
  const known = new Set(calendar.nodes.map((node) => node.id));
  const lost = new Set(loss.nodeIds);
  if (lost.size === 0 || [...lost].some((id) => !known.has(id))) {
    throw invalid('CAPACITY_LOSS_NODES_INVALID', 'Name at least one lost node, each a node of the pool.');
  }
  if (!Number.isSafeInteger(loss.from) || !Number.isSafeInteger(until) || until <= loss.from) {
    throw invalid(
      'CAPACITY_LOSS_WINDOW_INVALID',
      'A capacity loss needs whole seconds with `from` before `until`.',
    );
  }
  const nodes: PlanningNode[] = calendar.nodes.map((node) =>
    lost.has(node.id)
      ? {
          ...node,
          unavailable: [
            ...(node.unavailable ?? []),
            { start: loss.from, end: until, ...(loss.reason ? { reason: loss.reason } : {}) },
          ],
        }
      : node,
  );

  const isAffected = (r: PlacedReservation): boolean =>
    r.nodeIds.some((id) => lost.has(id)) && r.start < until && r.end > loss.from;
  const affected = calendar.reservations
    .filter(isAffected)
    .sort((a, b) => a.start - b.start || (a.lineId < b.lineId ? -1 : a.lineId > b.lineId ? 1 : 0));

  // The calendar without the lost servers' future: every other record, each affected line's history
  // before the loss, and its healthy servers for the rest of its window.
  const records: PlacedReservation[] = calendar.reservations.filter((r) => !isAffected(r));
  const keptPart = new Map<PlacedReservation, PlacedReservation>();
  for (const r of affected) {
    const cut = Math.max(r.start, loss.from);
    if (r.start < cut) records.push({ ...r, end: cut });
    const kept = r.nodeIds.filter((id) => !lost.has(id));
    if (kept.length > 0) {
      const part = { ...r, nodeIds: kept, start: cut };
      keptPart.set(r, part);
      records.push(part);
    }
  }
  const nodeCalendar = new NodeCalendar(nodes, records, horizonStart, horizonEnd);
  const nodeOf = (id: string): number => nodeCalendar.nodeIndex.get(id) as number;

  const moved: MovedLine[] = [];
  const stuck: { line: PlacedReservation; allowed: number[]; groups: 'one' | 'cluster' | 'domain' }[] = [];
  for (const r of affected) {
    const start = Math.max(r.start, loss.from);
    const duration = r.end - start;
    const lostIds = r.nodeIds.filter((id) => lost.has(id));
    const keptIds = r.nodeIds.filter((id) => !lost.has(id));
    const model = nodeCalendar.nodes[nodeOf(r.nodeIds[0])].gpuModel;
    let allowed: number[];
    let servers: number;
    let sameDomain: boolean;
    let groups: 'one' | 'cluster' | 'domain';
    if (keptIds.length > 0) {
      const anchor = nodeOf(keptIds[0]);
      allowed = nodeCalendar
        .nodesOfModel(model)
        .filter(
          (i) =>
            nodeCalendar.clusterOf[i] === nodeCalendar.clusterOf[anchor] &&
            (!r.sameInterconnectDomain || nodeCalendar.domainOf[i] === nodeCalendar.domainOf[anchor]),
        );
      servers = lostIds.length;
      sameDomain = false;
      groups = 'one';
    } else {
      allowed = [...nodeCalendar.nodesOfModel(model)];
      servers = r.nodeIds.length;
      sameDomain = r.sameInterconnectDomain ?? false;
      groups = sameDomain ? 'domain' : 'cluster';
    }
    const slot =
      r.end <= horizonEnd
        ? findEarliestSlot(nodeCalendar, calendar.months, {
            gpuModel: model,
            servers,
            durationSeconds: duration,
            earliestStart: start,
            latestStart: start,
            sameInterconnectDomain: sameDomain,
            allowedNodes: allowed,
          })
        : null;
    if (!slot) {
      stuck.push({ line: r, allowed, groups });
      continue;
    }
    const replacementIds = slot.nodes.map((i) => nodeCalendar.nodes[i].id);
    for (const i of slot.nodes) nodeCalendar.occupy(i, start, r.end);
    const nodeIds = [...keptIds, ...replacementIds].sort();
    const previous = keptPart.get(r);
    const next: PlacedReservation = { ...r, nodeIds, start };
    if (previous) records[records.indexOf(previous)] = next;
    else records.push(next);
    moved.push({
      lineId: r.lineId,
      lostNodeIds: lostIds,
      replacementNodeIds: replacementIds,
      nodeIds,
      start,
      end: r.end,
    });
  }

  const unplaceable = stuck.map(({ line, allowed, groups }) =>
    describeStuckLine(calendar, nodes, records, nodeCalendar, line, lost, loss.from, allowed, groups),
  );
  records.sort(
    (a, b) =>
      a.start - b.start ||
      (a.lineId < b.lineId ? -1 : a.lineId > b.lineId ? 1 : 0) ||
      (a.nodeIds[0] < b.nodeIds[0] ? -1 : a.nodeIds[0] > b.nodeIds[0] ? 1 : 0),
  );
  return { nodes, reservations: records, moved, unplaceable };
}

function describeStuckLine(
  calendar: PlanningCalendar,
  nodes: readonly PlanningNode[],
  records: readonly PlacedReservation[],
  nodeCalendar: NodeCalendar,
  line: PlacedReservation,
  lost: ReadonlySet<string>,
  from: number,
  allowed: readonly number[],
  groups: 'one' | 'cluster' | 'domain',
): UnplaceableLine {
  const start = Math.max(line.start, from);
  const end = line.end;
  const lostIds = line.nodeIds.filter((id) => lost.has(id));
  const keptIds = line.nodeIds.filter((id) => !lost.has(id));
  const model = nodeCalendar.nodes[nodeCalendar.nodeIndex.get(line.nodeIds[0]) as number].gpuModel;
  const options: CapacityLossOption[] = [];

  // Fewer servers now: the healthy servers plus every free node that could join them (or, with none
  // left, the most free nodes any single group has).
  const freeCount = new Map<number, number>();
  for (const i of allowed) {
    if (!nodeCalendar.isFree(i, start, end)) continue;
    const group =
      groups === 'domain' ? nodeCalendar.domainOf[i] : groups === 'cluster' ? nodeCalendar.clusterOf[i] : 0;
    freeCount.set(group, (freeCount.get(group) ?? 0) + 1);
  }
  const joinable = Math.max(0, ...freeCount.values());
  // joinable is below what the line lost, or the line would have been re-placed.
  const fewer = keptIds.length + joinable;
  if (fewer > 0 && fewer < line.nodeIds.length && end <= nodeCalendar.horizonEnd) {
    options.push({ kind: 'fewer_servers_now', servers: fewer, start, end });
  }

  // The whole line elsewhere: on the calendar without this line's healthy servers from `start`.
  const without = records.filter((r) => !(r.lineId === line.lineId && r.start === start && r.end === end));
  const whole = new NodeCalendar(nodes, without, nodeCalendar.horizonStart, nodeCalendar.horizonEnd);
  const slot = findEarliestSlot(whole, calendar.months, {
    gpuModel: model,
    servers: line.nodeIds.length,
    durationSeconds: end - start,
    earliestStart: start,
    sameInterconnectDomain: line.sameInterconnectDomain ?? false,
  });
  if (slot && slot.start === start) {
    options.push({
      kind: 'move_whole_line',
      clusterId: whole.nodes[slot.nodes[0]].clusterId,
      nodeIds: slot.nodes.map((i) => whole.nodes[i].id),
      start,
      end,
    });
  } else if (slot) {
    options.push({ kind: 'later_start', start: slot.start, end: slot.start + (end - start) });
  }

  const where =
    groups === 'one'
      ? `${line.sameInterconnectDomain ? 'its interconnect domain' : 'its cluster'}`
      : `any ${line.sameInterconnectDomain ? 'interconnect domain' : 'cluster'}`;
  const beyond =
    end > nodeCalendar.horizonEnd ? ' (the line runs past the planning calendar; extend it to search)' : '';
  const reason =
    `${lostIds.join(', ')} ${lostIds.length === 1 ? 'is' : 'are'} out from ${formatInstantSeconds(from)}, and no ` +
    `${lostIds.length === line.nodeIds.length ? line.nodeIds.length : lostIds.length} free ${model} ` +
    `node${lostIds.length === 1 ? '' : 's'} in ${where} can take over for the remaining ${formatSeconds(end - start)}${beyond}. ` +
    `The line keeps ${keptIds.length} of ${line.nodeIds.length} servers until someone chooses: ` +
    (options.length > 0
      ? options.map(describeOption).join('; ')
      : 'no option fits on this calendar; cancel the rest of the line or wait for capacity') +
    '.';
  return { lineId: line.lineId, lostNodeIds: lostIds, keptNodeIds: keptIds, start, end, reason, options };
}

function describeOption(option: CapacityLossOption): string {
  switch (option.kind) {
    case 'fewer_servers_now':
      return `keep the window with ${option.servers} server${option.servers === 1 ? '' : 's'}`;
    case 'move_whole_line':
      return `move all servers to ${option.nodeIds.join(', ')} (cluster ${option.clusterId}) for the same window`;
    case 'later_start':
      return `run the whole line from ${formatInstantSeconds(option.start)} to ${formatInstantSeconds(option.end)}`;
  }
}
