import type { DataSource } from 'typeorm';
import { randomUUID } from 'node:crypto';
import {
  emptyPage,
  OrganizationRepository,
  ProjectMembershipRepository,
  ProjectRepository,
  UserRepository,
  type NewAccount,
  type NewOrganization,
  type NewProject,
  type NewUser,
  type OrganizationEntity,
  type Page,
  type ProjectEntity,
  type ProjectListFilter,
  type ProjectMemberEntity,
  type ProjectMembership,
  type ProjectMemberWithUser,
  type ProjectRole,
  type UserEntity,
} from '#persistence';

/**
 * An in-memory directory (organizations, users, projects, memberships) behind the repository ports,
 * for unit tests of directory use cases and of ProjectAccess. Lists are not paged: `page` returns
 * every row in scope, newest first.
 */
export class DirectoryStore {
  readonly organizations = new Map<string, OrganizationEntity>();
  readonly users = new Map<string, UserEntity>();
  readonly projects = new Map<string, ProjectEntity>();
  readonly members: ProjectMemberEntity[] = [];
  private clock = Date.parse('2026-03-01T00:00:00Z');

  now(): Date {
    this.clock += 1000;
    return new Date(this.clock);
  }

  addOrganization(values: Partial<OrganizationEntity> = {}): OrganizationEntity {
    const row: OrganizationEntity = {
      id: randomUUID(),
      name: 'KAIST',
      type: 'university',
      region: 'daejeon',
      capitalArea: false,
      taxIdKind: null,
      taxId: null,
      createdAt: this.now(),
      ...values,
    };
    this.organizations.set(row.id, row);
    return row;
  }

  addUser(values: Partial<UserEntity> = {}): UserEntity {
    const id = values.id ?? randomUUID();
    const row: UserEntity = {
      id,
      email: `${id}@example.kr`,
      name: `User ${id.slice(0, 4)}`,
      passwordHash: null,
      organizationId: null,
      roles: [],
      agencyCode: null,
      active: true,
      createdAt: this.now(),
      ...values,
    };
    this.users.set(row.id, row);
    return row;
  }

  addProject(project: NewProject, memberIds: string[] = []): ProjectEntity {
    const row: ProjectEntity = { id: randomUUID(), createdAt: this.now(), ...project };
    this.projects.set(row.id, row);
    this.addMember({ projectId: row.id, userId: project.piUserId, role: 'pi' });
    for (const userId of memberIds) this.addMember({ projectId: row.id, userId, role: 'member' });
    return row;
  }

  addMember(membership: ProjectMembership): void {
    this.members.push({ ...membership, createdAt: this.now() });
  }

  memberOf(projectId: string, userId: string): ProjectMemberEntity | undefined {
    return this.members.find((row) => row.projectId === projectId && row.userId === userId);
  }
}

export class FakeProjectRepository extends ProjectRepository {
  constructor(private readonly store: DirectoryStore) {
    super();
  }

  override insert(_tx: unknown, project: NewProject): Promise<ProjectEntity> {
    const row: ProjectEntity = { id: randomUUID(), createdAt: this.store.now(), ...project };
    this.store.projects.set(row.id, row);
    return Promise.resolve({ ...row });
  }

  override find(projectId: string): Promise<ProjectEntity | null> {
    const row = this.store.projects.get(projectId);
    return Promise.resolve(row ? { ...row } : null);
  }

  override findForUpdate(_tx: unknown, projectId: string): Promise<ProjectEntity | null> {
    return this.find(projectId);
  }

  override setPi(_tx: unknown, projectId: string, userId: string): Promise<void> {
    const row = this.store.projects.get(projectId);
    if (row) row.piUserId = userId;
    return Promise.resolve();
  }

  override membersOf(projectId: string): Promise<ProjectMemberWithUser[]> {
    return Promise.resolve(
      this.store.members
        .filter((row) => row.projectId === projectId)
        .map((row) => ({ ...row, user: this.userOf(row.userId) })),
    );
  }

  override findMember(_tx: unknown, projectId: string, userId: string): Promise<ProjectMemberEntity | null> {
    const row = this.store.memberOf(projectId, userId);
    return Promise.resolve(row ? { ...row } : null);
  }

  override insertMembers(_tx: unknown, members: ProjectMembership[]): Promise<void> {
    for (const member of members) {
      if (this.store.memberOf(member.projectId, member.userId))
        return Promise.reject(new Error(`duplicate membership ${member.projectId}/${member.userId}`));
      this.store.addMember(member);
    }
    return Promise.resolve();
  }

  override setMemberRole(_tx: unknown, membership: ProjectMembership): Promise<void> {
    const row = this.store.memberOf(membership.projectId, membership.userId);
    if (row) row.role = membership.role;
    return Promise.resolve();
  }

  override deleteMember(_tx: unknown, projectId: string, userId: string): Promise<void> {
    const index = this.store.members.findIndex((row) => row.projectId === projectId && row.userId === userId);
    if (index >= 0) this.store.members.splice(index, 1);
    return Promise.resolve();
  }

  override page(filter: ProjectListFilter): Promise<Page<ProjectEntity>> {
    if (filter.scope.kind === 'none') return Promise.resolve(emptyPage());
    const scope = filter.scope;
    const items = [...this.store.projects.values()]
      .filter((row) => filter.organizationId === undefined || row.organizationId === filter.organizationId)
      .filter((row) => {
        if (scope.kind === 'all') return true;
        const member = this.store.memberOf(row.id, scope.userId);
        return member !== undefined && (!scope.piOnly || member.role === 'pi');
      })
      .sort((left, right) => right.createdAt.getTime() - left.createdAt.getTime());
    return Promise.resolve({ items, nextCursor: null });
  }

  private userOf(userId: string): UserEntity {
    const user = this.store.users.get(userId);
    if (!user) throw new Error(`membership names unknown user ${userId}`);
    return user;
  }
}

export class FakeUserRepository extends UserRepository {
  constructor(private readonly store: DirectoryStore) {
    super();
  }

  override find(userId: string): Promise<UserEntity | null> {
    return Promise.resolve(this.store.users.get(userId) ?? null);
  }

  override activeByIds(ids: string[]): Promise<Map<string, UserEntity>> {
    const rows = ids.flatMap((id) => {
      const user = this.store.users.get(id);
      return user?.active ? [user] : [];
    });
    return Promise.resolve(new Map(rows.map((row) => [row.id, row])));
  }

  override emailTaken(email: string): Promise<boolean> {
    return Promise.resolve([...this.store.users.values()].some((row) => row.email === email));
  }

  override insert(_tx: unknown, user: NewUser): Promise<UserEntity> {
    return Promise.resolve(this.store.addUser(user));
  }

  override page(): Promise<Page<UserEntity>> {
    return Promise.resolve({ items: [...this.store.users.values()], nextCursor: null });
  }

  override findByEmail(email: string): Promise<UserEntity | null> {
    return Promise.resolve([...this.store.users.values()].find((row) => row.email === email) ?? null);
  }

  override insertIfEmailAbsent(account: NewAccount): Promise<string | null> {
    if ([...this.store.users.values()].some((row) => row.email === account.email))
      return Promise.resolve(null);
    return Promise.resolve(this.store.addUser(account).id);
  }
}

export class FakeOrganizationRepository extends OrganizationRepository {
  constructor(private readonly store: DirectoryStore) {
    super();
  }

  override exists(organizationId: string): Promise<boolean> {
    return Promise.resolve(this.store.organizations.has(organizationId));
  }

  override find(organizationId: string): Promise<OrganizationEntity | null> {
    return Promise.resolve(this.store.organizations.get(organizationId) ?? null);
  }

  override findByTaxId(taxId: string): Promise<OrganizationEntity | null> {
    return Promise.resolve([...this.store.organizations.values()].find((row) => row.taxId === taxId) ?? null);
  }

  override insert(_tx: unknown, organization: NewOrganization): Promise<OrganizationEntity> {
    return Promise.resolve(this.store.addOrganization(organization));
  }

  override page(): Promise<Page<OrganizationEntity>> {
    return Promise.resolve({ items: [...this.store.organizations.values()], nextCursor: null });
  }
}

/** ProjectAccess's membership questions, answered from the same store. */
export class FakeProjectMembershipRepository extends ProjectMembershipRepository {
  constructor(private readonly store: DirectoryStore) {
    super(undefined as unknown as DataSource);
  }

  override projectExists(projectId: string): Promise<boolean> {
    return Promise.resolve(this.store.projects.has(projectId));
  }

  override roleOf(projectId: string, userId: string): Promise<ProjectRole | null> {
    return Promise.resolve((this.store.memberOf(projectId, userId)?.role as ProjectRole | undefined) ?? null);
  }

  override projectIdsOf(userId: string): Promise<string[]> {
    return Promise.resolve(
      this.store.members.filter((row) => row.userId === userId).map((row) => row.projectId),
    );
  }

  override membershipsOf(userId: string): Promise<ProjectMemberEntity[]> {
    return Promise.resolve(this.store.members.filter((row) => row.userId === userId));
  }
}
