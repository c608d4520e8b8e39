import { Injectable } from '@nestjs/common';
import { ClusterRepository, type ClusterListFilter, type Page, type PageQuery } from '#persistence';
import { clusterViewOf, clusterViewsOf, type ClusterView } from './cluster.views.js';

/** The operator's views of clusters: their pools and node counts by state. */
@Injectable()
export class ClusterQueries {
  constructor(private readonly clusters: ClusterRepository) {}

  async list(filter: ClusterListFilter, page: PageQuery): Promise<Page<ClusterView>> {
    const rows = await this.clusters.page(filter, page);
    return { items: await clusterViewsOf(this.clusters, rows.items), nextCursor: rows.nextCursor };
  }

  get(id: string): Promise<ClusterView> {
    return clusterViewOf(this.clusters, id);
  }
}
