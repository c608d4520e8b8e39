import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { notFound } from '#domain';
import { RecallProposalEntity, RecallRepository } from '#persistence';
import type { Page } from '../common/pagination.js';
import { keysetPage } from '../common/query-support.js';
import type { ListRecallProposalsQuery } from './dto/recall.request.js';
import { toRecallProposalResponse, type RecallProposalResponse } from './dto/recall.response.js';

/**
 * The read side of recall proposals for admins (made by the scheduler's sweep; decided through
 * DecideRecallUseCase): the filtered, keyset-paged list and one proposal.
 */
@Injectable()
export class RecallsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly recalls: RecallRepository,
  ) {}

  async list(query: ListRecallProposalsQuery): Promise<Page<RecallProposalResponse>> {
    const builder = this.dataSource
      .getRepository(RecallProposalEntity)
      .createQueryBuilder('r')
      .innerJoinAndSelect('r.allocation', 'a');
    if (query.programId !== undefined)
      builder.andWhere('r.program_id = :programId', { programId: query.programId });
    if (query.allocationId !== undefined)
      builder.andWhere('r.allocation_id = :allocationId', { allocationId: query.allocationId });
    if (query.projectId !== undefined)
      builder.andWhere('a.project_id = :projectId', { projectId: query.projectId });
    if (query.status !== undefined) builder.andWhere('r.status = :status', { status: query.status });
    return keysetPage(builder, query, toRecallProposalResponse);
  }

  async get(id: string): Promise<RecallProposalResponse> {
    const row = await this.recalls.find(id);
    if (!row) throw notFound('Recall proposal', id);
    return toRecallProposalResponse(row);
  }
}
