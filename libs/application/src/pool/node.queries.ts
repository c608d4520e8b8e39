import { Injectable } from '@nestjs/common';
import { DomainError, notFound } from '#domain';
import {
  NodeRepository,
  type NodeEntity,
  type NodeListFilter,
  type Page,
  type PlacedWorkload,
} from '#persistence';
import { nodeView, type NodeView } from './node.views.js';

export interface NodeDetailView extends NodeView {
  /** Admitted and running workloads placed on this node, with the GPUs each holds here. */
  workloads: PlacedWorkload[];
}

/** The operator's node list and one node with what runs on it. */
@Injectable()
export class NodeQueries {
  constructor(private readonly nodes: NodeRepository) {}

  /**
   * Nodes in name order (`<cluster>-<model>-<n>` sorts as operators read racks), keyset over
   * (name, id) so pages stay stable while nodes are added.
   */
  async list(
    filter: Omit<NodeListFilter, 'after'>,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<Page<NodeView>> {
    const rows = await this.nodes.list({ ...filter, after: decodeNodeCursor(page.cursor) }, page.limit + 1);
    const items = rows.slice(0, page.limit);
    const last = items[items.length - 1];
    return {
      items: items.map(nodeView),
      nextCursor: rows.length > page.limit && last ? encodeNodeCursor(last) : null,
    };
  }

  async get(id: string): Promise<NodeDetailView> {
    const node = await this.nodes.find(id);
    if (!node) throw notFound('Node', id);
    const workloads = await this.nodes.workloadsOn(id);
    return { ...nodeView(node), workloads };
  }
}

function encodeNodeCursor(node: NodeEntity): string {
  return Buffer.from(JSON.stringify([node.name, node.id]), 'utf8').toString('base64url');
}

function decodeNodeCursor(cursor: string | undefined): { name: string; id: string } | undefined {
  if (cursor === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = null;
  }
  if (
    Array.isArray(parsed) &&
    parsed.length === 2 &&
    typeof parsed[0] === 'string' &&
    typeof parsed[1] === 'string' &&
    /^[0-9a-f-]{36}$/i.test(parsed[1])
  ) {
    return { name: parsed[0], id: parsed[1] };
  }
  throw new DomainError(
    'invalid',
    'INVALID_CURSOR',
    'The cursor is not one this API issued; start again without it.',
  );
}
