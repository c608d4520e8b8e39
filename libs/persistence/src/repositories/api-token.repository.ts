import { Injectable } from '@nestjs/common';
import { DataSource, IsNull } from 'typeorm';
import { ApiTokenEntity } from '../entities/directory.entities.js';
import { keysetPage, type Page, type PageQuery } from '../pagination.js';
import type { Tx } from '../transaction.js';

export interface NewApiToken {
  name: string;
  scopes: string[];
  tokenHash: string;
  tokenPrefix: string;
  createdBy: string;
}

export interface ApiTokenListFilter {
  /** Only the tokens this user created; undefined: every token. */
  createdBy?: string | undefined;
  includeRevoked: boolean;
}

/** Machine credentials: only the SHA-256 of a token's secret is stored. */
export abstract class ApiTokenRepository {
  abstract insert(tx: Tx, token: NewApiToken): Promise<ApiTokenEntity>;
  /** The token, row-locked until the transaction ends. */
  abstract findForUpdate(tx: Tx, tokenId: string): Promise<ApiTokenEntity | null>;
  abstract markRevoked(tx: Tx, tokenId: string, revokedAt: Date): Promise<void>;
  abstract page(filter: ApiTokenListFilter, page: PageQuery): Promise<Page<ApiTokenEntity>>;
  /** The unrevoked token with this hash, with its creator. */
  abstract findLiveByHash(tokenHash: string): Promise<ApiTokenEntity | null>;
  abstract recordUse(tokenId: string, usedAt: Date): Promise<void>;
  /** The unrevoked tokens of this name. */
  abstract liveNamed(tx: Tx, name: string): Promise<ApiTokenEntity[]>;
  /** Serializes, until the transaction ends, every transaction minting the simulator's token. */
  abstract lockSimulatorTokenMint(tx: Tx): Promise<void>;
}

@Injectable()
export class TypeormApiTokenRepository extends ApiTokenRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override async insert(tx: Tx, token: NewApiToken): Promise<ApiTokenEntity> {
    const tokens = tx.getRepository(ApiTokenEntity);
    return tokens.save(tokens.create(token));
  }

  override findForUpdate(tx: Tx, tokenId: string): Promise<ApiTokenEntity | null> {
    return tx
      .getRepository(ApiTokenEntity)
      .findOne({ where: { id: tokenId }, lock: { mode: 'pessimistic_write' } });
  }

  override async markRevoked(tx: Tx, tokenId: string, revokedAt: Date): Promise<void> {
    await tx.getRepository(ApiTokenEntity).update({ id: tokenId }, { revokedAt });
  }

  override page(filter: ApiTokenListFilter, page: PageQuery): Promise<Page<ApiTokenEntity>> {
    const builder = this.dataSource.getRepository(ApiTokenEntity).createQueryBuilder('token');
    if (filter.createdBy !== undefined)
      builder.andWhere('"token"."created_by" = :userId', { userId: filter.createdBy });
    if (!filter.includeRevoked) builder.andWhere('"token"."revoked_at" IS NULL');
    return keysetPage(builder, page, (row) => row);
  }

  override findLiveByHash(tokenHash: string): Promise<ApiTokenEntity | null> {
    return this.dataSource.getRepository(ApiTokenEntity).findOne({
      where: { tokenHash, revokedAt: IsNull() },
      relations: { creator: true },
    });
  }

  override async recordUse(tokenId: string, usedAt: Date): Promise<void> {
    await this.dataSource.getRepository(ApiTokenEntity).update(tokenId, { lastUsedAt: usedAt });
  }

  override liveNamed(tx: Tx, name: string): Promise<ApiTokenEntity[]> {
    return tx.getRepository(ApiTokenEntity).find({ where: { name, revokedAt: IsNull() } });
  }

  override async lockSimulatorTokenMint(tx: Tx): Promise<void> {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('gpupool:simulator-token'))");
  }
}
