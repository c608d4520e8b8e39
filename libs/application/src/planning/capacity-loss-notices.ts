import { createHash } from 'node:crypto';
import { formatSeoulDateTime, type CapacityLossOption, type MovedLine, type UnplaceableLine } from '#domain';
import type { CapacityLossAudit, CapacityLossWrites, NotificationInput } from '#persistence';
import { capacityLossSpans, type CapacityLossStep } from './capacity-loss-plan.js';

/** What the notices and audit events of a capacity-loss run name, besides the planner's steps. */
export interface CapacityLossContext {
  gpuModel: string;
  /** The affected lines by allocation id. */
  lines: ReadonlyMap<
    string,
    { reservationId: string; projectId: string; projectTitle: string; clusterId: string }
  >;
  /** Every node of the model: its name and cluster. */
  nodes: ReadonlyMap<string, { name: string; clusterId: string }>;
  clusterNames: ReadonlyMap<string, string>;
  /** The lost nodes' states ('down', 'draining'). */
  lostStates: ReadonlyMap<string, string>;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/**
 * The writes of a capacity-loss run: the spans (capacity-loss-plan.ts), a moved-whole line's new
 * cluster, an audit event per line and step, and the notices — `reservation_moved` to the owner
 * (which nodes, from when), `reservation_unplaceable` to the owner and to the admins (platform-wide)
 * with the planner's options, none applied. Dedupe keys name the line, the loss instant and the lost
 * nodes, so a repeated run sends nothing new.
 */
export function capacityLossWrites(
  steps: readonly CapacityLossStep[],
  context: CapacityLossContext,
): CapacityLossWrites {
  const spans = capacityLossSpans(steps);
  const clusterChanges: { allocationId: string; clusterId: string }[] = [];
  const audits: CapacityLossAudit[] = [];
  const notifications: NotificationInput[] = [];
  const clusterOfLine = new Map([...context.lines].map(([id, line]) => [id, line.clusterId]));

  for (const step of steps) {
    for (const move of step.moved) {
      const line = context.lines.get(move.lineId);
      if (!line) continue;
      const newCluster = context.nodes.get(move.nodeIds[0])?.clusterId;
      const movedCluster = newCluster !== undefined && newCluster !== clusterOfLine.get(move.lineId);
      if (movedCluster) {
        clusterChanges.push({ allocationId: move.lineId, clusterId: newCluster });
        clusterOfLine.set(move.lineId, newCluster);
      }
      audits.push({
        action: 'allocation.reservation_moved',
        allocationId: move.lineId,
        before: { nodeIds: [...keptOf(move), ...move.lostNodeIds].sort() },
        after: {
          reservationId: line.reservationId,
          lostAt: instant(step.lostAt),
          lostNodeIds: move.lostNodeIds,
          replacementNodeIds: move.replacementNodeIds,
          nodeIds: move.nodeIds,
          ...(movedCluster ? { clusterId: newCluster } : {}),
          startsAt: instant(move.start),
          endsAt: instant(move.end),
        },
      });
      notifications.push(movedNotice(step, move, line, movedCluster ? newCluster : null, context));
    }
    for (const stuck of step.unplaceable) {
      const line = context.lines.get(stuck.lineId);
      if (!line) continue;
      const options = stuck.options.map((option) => describeOption(option, context));
      audits.push({
        action: 'allocation.reservation_unplaceable',
        allocationId: stuck.lineId,
        before: { nodeIds: [...stuck.keptNodeIds, ...stuck.lostNodeIds].sort() },
        after: {
          reservationId: line.reservationId,
          lostAt: instant(step.lostAt),
          lostNodeIds: stuck.lostNodeIds,
          keptNodeIds: stuck.keptNodeIds,
          startsAt: instant(stuck.start),
          endsAt: instant(stuck.end),
          reason: stuck.reason,
          options,
        },
      });
      notifications.push(...unplaceableNotices(step, stuck, line, options, context));
    }
  }
  return {
    cuts: spans.cuts.map((cut) => ({ allocationId: cut.lineId, nodeId: cut.nodeId, at: cut.at })),
    adds: spans.adds.map((add) => ({
      allocationId: add.lineId,
      nodeId: add.nodeId,
      start: add.start,
      end: add.end,
    })),
    clusterChanges,
    audits,
    notifications,
  };
}

function movedNotice(
  step: CapacityLossStep,
  move: MovedLine,
  line: { projectId: string },
  newCluster: string | null,
  context: CapacityLossContext,
): NotificationInput {
  const lost = move.lostNodeIds.map((id) => nameOf(id, context));
  const replacements = move.replacementNodeIds.map((id) => nameOf(id, context));
  const where =
    newCluster === null ? '' : ` in cluster ${context.clusterNames.get(newCluster) ?? newCluster}`;
  return {
    projectId: line.projectId,
    allocationId: move.lineId,
    kind: 'reservation_moved',
    dedupeKey: `reservation_moved:${move.lineId}:${step.lostAt}:${fingerprint(move.lostNodeIds)}`,
    title: `Reserved ${context.gpuModel} servers moved`,
    body:
      `${joinWords(lost)} ${lost.length === 1 ? 'is' : 'are'} ${stateOf(move.lostNodeIds, context)} since ` +
      `${formatSeoulDateTime(step.lostAt * 1000)}. From ${formatSeoulDateTime(move.start * 1000)} until ` +
      `${formatSeoulDateTime(move.end * 1000)} your reservation holds ${joinWords(replacements)}${where} ` +
      `instead; its window and number of servers are unchanged.`,
    data: {
      gpuModel: context.gpuModel,
      lostAt: instant(step.lostAt).toISOString(),
      startsAt: instant(move.start).toISOString(),
      endsAt: instant(move.end).toISOString(),
      lostNodes: move.lostNodeIds.map((id) => named(id, context)),
      replacementNodes: move.replacementNodeIds.map((id) => named(id, context)),
      nodes: move.nodeIds.map((id) => named(id, context)),
      ...(newCluster === null ? {} : { clusterId: newCluster }),
    },
  };
}

function unplaceableNotices(
  step: CapacityLossStep,
  stuck: UnplaceableLine,
  line: { projectId: string; projectTitle: string },
  options: Record<string, unknown>[],
  context: CapacityLossContext,
): NotificationInput[] {
  const lost = stuck.lostNodeIds.map((id) => nameOf(id, context));
  const kept = stuck.keptNodeIds.map((id) => nameOf(id, context));
  const servers = stuck.keptNodeIds.length + stuck.lostNodeIds.length;
  const choices = stuck.options.map((option) => optionSentence(option, context));
  const situation =
    `${joinWords(lost)} ${lost.length === 1 ? 'is' : 'are'} ${stateOf(stuck.lostNodeIds, context)} since ` +
    `${formatSeoulDateTime(step.lostAt * 1000)}, and no free ${context.gpuModel} node the line may use can take ` +
    `over from ${formatSeoulDateTime(stuck.start * 1000)} until ${formatSeoulDateTime(stuck.end * 1000)}. ` +
    `The reservation keeps ${kept.length} of ${servers} server${servers === 1 ? '' : 's'}` +
    `${kept.length > 0 ? ` (${joinWords(kept)})` : ''}. ` +
    (choices.length > 0
      ? `Options: ${choices.map((choice, i) => `(${i + 1}) ${choice}`).join('; ')}.`
      : 'No option fits on the calendar now: end the rest of the line early, or wait for capacity.');
  const key = `${stuck.lineId}:${step.lostAt}:${fingerprint(stuck.lostNodeIds)}`;
  const data = {
    gpuModel: context.gpuModel,
    projectId: line.projectId,
    lostAt: instant(step.lostAt).toISOString(),
    startsAt: instant(stuck.start).toISOString(),
    endsAt: instant(stuck.end).toISOString(),
    lostNodes: stuck.lostNodeIds.map((id) => named(id, context)),
    keptNodes: stuck.keptNodeIds.map((id) => named(id, context)),
    options,
    // The planner's own sentence, with node and cluster names for ids.
    reason: stuck.reason.replace(UUID, (id) => nameOf(id, context)),
  };
  const title = `Reserved ${context.gpuModel} servers lost: a decision is needed`;
  return [
    {
      projectId: line.projectId,
      allocationId: stuck.lineId,
      kind: 'reservation_unplaceable',
      dedupeKey: `reservation_unplaceable:${key}`,
      title,
      body: `${situation} None of these is applied: an administrator of the program decides with you.`,
      data,
    },
    {
      // Platform-wide: the program's administrators see it (and platform webhooks receive it).
      projectId: null,
      allocationId: stuck.lineId,
      kind: 'reservation_unplaceable',
      dedupeKey: `reservation_unplaceable:admins:${key}`,
      title: `${title} (project ${line.projectTitle})`,
      body: `Project ${line.projectTitle}: ${situation} None of these is applied until an administrator chooses one.`,
      data,
    },
  ];
}

function optionSentence(option: CapacityLossOption, context: CapacityLossContext): string {
  switch (option.kind) {
    case 'fewer_servers_now':
      return `keep the window with ${option.servers} server${option.servers === 1 ? '' : 's'}`;
    case 'move_whole_line':
      return (
        `move all servers to ${joinWords(option.nodeIds.map((id) => nameOf(id, context)))} ` +
        `(cluster ${context.clusterNames.get(option.clusterId) ?? option.clusterId}) for the same window`
      );
    case 'later_start':
      return (
        `run the whole line from ${formatSeoulDateTime(option.start * 1000)} ` +
        `to ${formatSeoulDateTime(option.end * 1000)} instead`
      );
  }
}

function describeOption(option: CapacityLossOption, context: CapacityLossContext): Record<string, unknown> {
  switch (option.kind) {
    case 'fewer_servers_now':
      return {
        kind: option.kind,
        servers: option.servers,
        startsAt: instant(option.start).toISOString(),
        endsAt: instant(option.end).toISOString(),
      };
    case 'move_whole_line':
      return {
        kind: option.kind,
        clusterId: option.clusterId,
        clusterName: context.clusterNames.get(option.clusterId) ?? option.clusterId,
        nodes: option.nodeIds.map((id) => named(id, context)),
        startsAt: instant(option.start).toISOString(),
        endsAt: instant(option.end).toISOString(),
      };
    case 'later_start':
      return {
        kind: option.kind,
        startsAt: instant(option.start).toISOString(),
        endsAt: instant(option.end).toISOString(),
      };
  }
}

function keptOf(move: MovedLine): string[] {
  const replaced = new Set(move.replacementNodeIds);
  return move.nodeIds.filter((id) => !replaced.has(id));
}

function stateOf(nodeIds: readonly string[], context: CapacityLossContext): string {
  const states = [...new Set(nodeIds.map((id) => context.lostStates.get(id) ?? 'down'))].sort();
  return states.join(' or ');
}

function nameOf(id: string, context: CapacityLossContext): string {
  return context.nodes.get(id)?.name ?? context.clusterNames.get(id) ?? id;
}

function named(id: string, context: CapacityLossContext): { id: string; name: string } {
  return { id, name: nameOf(id, context) };
}

function instant(seconds: number): Date {
  return new Date(seconds * 1000);
}

/** A short, stable name for a set of nodes (a dedupe key stays small whatever the line's size). */
function fingerprint(nodeIds: readonly string[]): string {
  return createHash('sha256')
    .update([...nodeIds].sort().join(','))
    .digest('hex')
    .slice(0, 16);
}

function joinWords(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}
