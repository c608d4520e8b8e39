import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { OrganizationEntity } from '../entities/directory.entities.js';
import { emptyPage, keysetPage, type Page, type PageQuery } from '../pagination.js';
import type { Tx } from '../transaction.js';

export interface NewOrganization {
  name: string;
  type: string;
  region: string;
  capitalArea: boolean;
  taxIdKind: string | null;
  taxId: string | null;
}

export interface OrganizationListFilter {
  /** Only this organization (null: none at all); undefined: every organization. */
  onlyId?: string | null;
  type?: string | undefined;
  region?: string | undefined;
}

/** Universities, companies and institutes that lead projects. */
export abstract class OrganizationRepository {
  abstract exists(organizationId: string, tx?: Tx): Promise<boolean>;
  abstract find(organizationId: string, tx?: Tx): Promise<OrganizationEntity | null>;
  abstract findByTaxId(taxId: string, tx?: Tx): Promise<OrganizationEntity | null>;
  abstract insert(tx: Tx, organization: NewOrganization): Promise<OrganizationEntity>;
  abstract page(filter: OrganizationListFilter, page: PageQuery): Promise<Page<OrganizationEntity>>;
}

@Injectable()
export class TypeormOrganizationRepository extends OrganizationRepository {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  override exists(organizationId: string, tx?: Tx): Promise<boolean> {
    return (tx ?? this.dataSource.manager)
      .getRepository(OrganizationEntity)
      .exists({ where: { id: organizationId } });
  }

  override find(organizationId: string, tx?: Tx): Promise<OrganizationEntity | null> {
    return (tx ?? this.dataSource.manager)
      .getRepository(OrganizationEntity)
      .findOne({ where: { id: organizationId } });
  }

  override findByTaxId(taxId: string, tx?: Tx): Promise<OrganizationEntity | null> {
    return (tx ?? this.dataSource.manager).getRepository(OrganizationEntity).findOne({ where: { taxId } });
  }

  override async insert(tx: Tx, organization: NewOrganization): Promise<OrganizationEntity> {
    const organizations = tx.getRepository(OrganizationEntity);
    return organizations.save(organizations.create(organization));
  }

  override page(filter: OrganizationListFilter, page: PageQuery): Promise<Page<OrganizationEntity>> {
    if (filter.onlyId === null) return Promise.resolve(emptyPage());
    const builder = this.dataSource.getRepository(OrganizationEntity).createQueryBuilder('organization');
    if (filter.onlyId !== undefined) builder.andWhere('organization.id = :ownId', { ownId: filter.onlyId });
    if (filter.type) builder.andWhere('organization.type = :type', { type: filter.type });
    if (filter.region) builder.andWhere('organization.region = :region', { region: filter.region });
    return keysetPage(builder, page, (row) => row);
  }
}
