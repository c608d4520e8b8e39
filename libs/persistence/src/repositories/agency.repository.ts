import { Injectable } from '@nestjs/common';
import { DataSource, MoreThan } from 'typeorm';
import { AgencyEntity } from '../entities/program.entities.js';
import type { Tx } from '../transaction.js';

/** Funding agencies, in code order. */
@Injectable()
export class AgencyRepository {
  constructor(private readonly dataSource: DataSource) {}

  exists(code: string, tx?: Tx): Promise<boolean> {
    return (tx ?? this.dataSource.manager).getRepository(AgencyEntity).exists({ where: { code } });
  }

  findByCode(code: string, tx?: Tx): Promise<AgencyEntity | null> {
    return (tx ?? this.dataSource.manager).getRepository(AgencyEntity).findOne({ where: { code } });
  }

  /** Whether the agency was new (ON CONFLICT DO NOTHING: a duplicate is an answer, not an aborted transaction). */
  async insertIfAbsent(tx: Tx, agency: { code: string; name: string }): Promise<boolean> {
    const inserted = await tx
      .createQueryBuilder()
      .insert()
      .into(AgencyEntity)
      .values(agency)
      .orIgnore()
      .returning(['code'])
      .execute();
    return (inserted.raw as unknown[]).length > 0;
  }

  /** Up to `take` agencies after the code `after` (all from the first when undefined). */
  listAfter(after: string | undefined, take: number): Promise<AgencyEntity[]> {
    return this.dataSource.getRepository(AgencyEntity).find({
      where: after === undefined ? {} : { code: MoreThan(after) },
      order: { code: 'ASC' },
      take,
    });
  }
}
