import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
} from 'typeorm';

@Entity('organizations')
export class OrganizationEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('text') name!: string;
  @Column('text') type!: string;
  @Column('text') region!: string;
  @Column('boolean') capitalArea!: boolean;
  @Column('text', { nullable: true }) taxIdKind!: string | null;
  @Index('uq_organizations_tax_id', { unique: true, where: 'tax_id IS NOT NULL' })
  @Column('text', { nullable: true })
  taxId!: string | null;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

@Entity('users')
export class UserEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Index('uq_users_email', { unique: true })
  @Column('text')
  email!: string;
  @Column('text') name!: string;
  @Column('text', { nullable: true }) passwordHash!: string | null;
  @Column('uuid', { nullable: true }) organizationId!: string | null;
  @ManyToOne(() => OrganizationEntity, { onDelete: 'RESTRICT', nullable: true })
  @JoinColumn({ name: 'organization_id' })
  organization?: OrganizationEntity;
  @Column('text', { array: true, default: () => "'{}'" }) roles!: string[];
  @Column('text', { nullable: true }) agencyCode!: string | null;
  @Column('boolean', { default: true }) active!: boolean;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

@Entity('api_tokens')
export class ApiTokenEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('text') name!: string;
  /** SHA-256 of the secret part; the token itself is shown once and never stored. */
  @Index('uq_api_tokens_hash', { unique: true })
  @Column('text')
  tokenHash!: string;
  @Column('text') tokenPrefix!: string;
  @Column('text', { array: true }) scopes!: string[];
  @Column('uuid') createdBy!: string;
  @ManyToOne(() => UserEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'created_by' })
  creator?: UserEntity;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
  @Column('timestamptz', { nullable: true }) revokedAt!: Date | null;
  @Column('timestamptz', { nullable: true }) lastUsedAt!: Date | null;
}

@Entity('projects')
export class ProjectEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('text') title!: string;
  @Column('uuid') organizationId!: string;
  @ManyToOne(() => OrganizationEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'organization_id' })
  organization?: OrganizationEntity;
  @Column('uuid') piUserId!: string;
  @ManyToOne(() => UserEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'pi_user_id' })
  pi?: UserEntity;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}

@Entity('project_members')
export class ProjectMemberEntity {
  @PrimaryColumn('uuid') projectId!: string;
  @PrimaryColumn('uuid') userId!: string;
  @ManyToOne(() => ProjectEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'project_id' })
  project?: ProjectEntity;
  @ManyToOne(() => UserEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'user_id' })
  user?: UserEntity;
  /** `pi` or `member`. */
  @Column('text') role!: string;
  @CreateDateColumn({ type: 'timestamptz', precision: 3 }) createdAt!: Date;
}
