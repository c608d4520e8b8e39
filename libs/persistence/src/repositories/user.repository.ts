import { Injectable } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import { UserEntity } from '../entities/directory.entities.js';
import { keysetPage, type Page, type PageQuery } from '../pagination.js';
import type { Tx } from '../transaction.js';

export interface NewUser {
  email: string;
  name: string;
  passwordHash: string | null;
  organizationId: string;
  roles: string[];
  agencyCode: string | null;
}

/** An account outside any organization (the bootstrap admin). */
export interface NewAccount {
  email: string;
  name: string;
  passwordHash: string;
  roles: string[];
}

export interface UserListFilter {
  role?: string | undefined;
  organizationId?: string | undefined;
}

/** People who sign in (and the API tokens' creators). */
export abstract class UserRepository {
  abstract find(userId: string, tx?: Tx): Promise<UserEntity | null>;
  /** The active users among `ids`, by id. */
  abstract activeByIds(ids: string[], tx?: Tx): Promise<Map<string, UserEntity>>;
  abstract emailTaken(email: string, tx?: Tx): Promise<boolean>;
  abstract insert(tx: Tx, user: NewUser): Promise<UserEntity>;
  abstract page(filter: UserListFilter, page: PageQuery): Promise<Page<UserEntity>>;
  /** Emails are stored lowercased; pass the lowercased address. */
  abstract findByEmail(email: string, tx?: Tx): Promise<UserEntity | null>;
  /** Inserts an account with no organization unless the email is taken: its id, or null when taken. */
  abstract insertIfEmailAbsent(account: NewAccount): Promise<string | null>;
}

@Injectable()
export class TypeormUserRepository extends UserRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override find(userId: string, tx?: Tx): Promise<UserEntity | null> {
    return (tx ?? this.dataSource.manager).getRepository(UserEntity).findOne({ where: { id: userId } });
  }

  override async activeByIds(ids: string[], tx?: Tx): Promise<Map<string, UserEntity>> {
    const rows = await (tx ?? this.dataSource.manager)
      .getRepository(UserEntity)
      .find({ where: { id: In(ids), active: true } });
    return new Map(rows.map((row) => [row.id, row]));
  }

  override emailTaken(email: string, tx?: Tx): Promise<boolean> {
    return (tx ?? this.dataSource.manager).getRepository(UserEntity).exists({ where: { email } });
  }

  override async insert(tx: Tx, user: NewUser): Promise<UserEntity> {
    const users = tx.getRepository(UserEntity);
    return users.save(users.create({ ...user, active: true }));
  }

  override page(filter: UserListFilter, page: PageQuery): Promise<Page<UserEntity>> {
    const builder = this.dataSource.getRepository(UserEntity).createQueryBuilder('account');
    if (filter.role) builder.andWhere(':role = ANY("account"."roles")', { role: filter.role });
    if (filter.organizationId)
      builder.andWhere('"account"."organization_id" = :organizationId', {
        organizationId: filter.organizationId,
      });
    return keysetPage(builder, page, (row) => row);
  }

  override findByEmail(email: string, tx?: Tx): Promise<UserEntity | null> {
    return (tx ?? this.dataSource.manager).getRepository(UserEntity).findOne({ where: { email } });
  }

  override async insertIfEmailAbsent(account: NewAccount): Promise<string | null> {
    const inserted = await this.dataSource
      .getRepository(UserEntity)
      .createQueryBuilder()
      .insert()
      .values(account)
      .orIgnore()
      .returning(['id'])
      .execute();
    return (inserted.raw as { id: string }[])[0]?.id ?? null;
  }
}
