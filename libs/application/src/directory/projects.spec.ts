import { DomainError, type Principal } from '#domain';
import { FakeAuditRepository } from '../../../../test/fakes/audit-repository.fake.js';
import {
  DirectoryStore,
  FakeOrganizationRepository,
  FakeProjectMembershipRepository,
  FakeProjectRepository,
  FakeUserRepository,
} from '../../../../test/fakes/directory.fakes.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import { ProjectAccess } from '../access/project-access.js';
import { AddProjectMemberUseCase, RemoveProjectMemberUseCase } from './change-project-members.use-case.js';
import { CreateProjectUseCase } from './create-project.use-case.js';
import { ProjectQueries } from './project.queries.js';

function userPrincipal(
  userId: string,
  organizationId: string | null,
  roles: ('admin' | 'reviewer')[] = [],
): Principal {
  return { kind: 'user', userId, email: `${userId}@example.kr`, roles, organizationId, agencyCode: null };
}

const token: Principal = { kind: 'api_token', tokenId: 'token-1', scopes: ['read'], createdBy: 'someone' };

async function domainErrorOf(promise: Promise<unknown>): Promise<DomainError> {
  const error: unknown = await promise.then(
    () => new Error('expected a DomainError, the call succeeded'),
    (rejection: unknown) => rejection,
  );
  if (!(error instanceof DomainError)) throw error;
  return error;
}

function setUp() {
  const store = new DirectoryStore();
  const transactions = new FakeTransactionRunner();
  const audit = new FakeAuditRepository();
  const projects = new FakeProjectRepository(store);
  const users = new FakeUserRepository(store);
  const access = new ProjectAccess(new FakeProjectMembershipRepository(store));
  const kaist = store.addOrganization();
  const postech = store.addOrganization({ name: 'POSTECH' });
  const pi = store.addUser({ organizationId: kaist.id });
  const member = store.addUser({ organizationId: kaist.id });
  const colleague = store.addUser({ organizationId: kaist.id });
  const outsider = store.addUser({ organizationId: postech.id });
  const admin = store.addUser({ roles: ['admin'] });
  return {
    store,
    transactions,
    audit,
    kaist,
    postech,
    pi,
    member,
    colleague,
    outsider,
    asPi: userPrincipal(pi.id, kaist.id),
    asMember: userPrincipal(member.id, kaist.id),
    asOutsider: userPrincipal(outsider.id, postech.id),
    asAdmin: userPrincipal(admin.id, null, ['admin']),
    create: new CreateProjectUseCase(
      transactions,
      projects,
      new FakeOrganizationRepository(store),
      users,
      audit,
    ),
    addMember: new AddProjectMemberUseCase(transactions, access, projects, users, audit),
    removeMember: new RemoveProjectMemberUseCase(transactions, access, projects, audit),
    queries: new ProjectQueries(transactions, access, projects),
  };
}

describe('CreateProjectUseCase', () => {
  it('lets a person create a project of their own organization with themselves as PI, audited', async () => {
    const t = setUp();
    const project = await t.create.execute(
      t.asPi,
      {
        title: 'Protein folding',
        organizationId: t.kaist.id,
        piUserId: t.pi.id,
        memberIds: [t.member.id, t.pi.id],
      },
      'req-1',
    );
    expect(project.members.map((row) => [row.userId, row.role])).toEqual([
      [t.pi.id, 'pi'],
      [t.member.id, 'member'],
    ]);
    expect(t.audit.events).toEqual([
      expect.objectContaining({
        action: 'project.created',
        subjectId: project.id,
        after: project,
        requestId: 'req-1',
      }),
    ]);
    expect(t.transactions.runs).toEqual([{ options: {}, outcome: 'committed' }]);
  });

  it.each([
    [
      'someone else as PI',
      (t: ReturnType<typeof setUp>) => ({ asWho: t.asMember, pi: t.pi.id, org: t.kaist.id }),
    ],
    [
      'another organization',
      (t: ReturnType<typeof setUp>) => ({ asWho: t.asPi, pi: t.pi.id, org: t.postech.id }),
    ],
    ['an API token', (t: ReturnType<typeof setUp>) => ({ asWho: token, pi: t.pi.id, org: t.kaist.id })],
  ])('refuses a non-admin creating a project for %s, before any transaction', async (_case, pick) => {
    const t = setUp();
    const { asWho, pi, org } = pick(t);
    const error = await domainErrorOf(
      t.create.execute(asWho, { title: 'X', organizationId: org, piUserId: pi }, null),
    );
    expect([error.kind, error.code]).toEqual(['forbidden', 'PROJECT_CREATION_FORBIDDEN']);
    expect(t.transactions.runs).toEqual([]);
    expect(t.store.projects.size).toBe(0);
  });

  it('lets an admin create a project for anyone, but the PI must belong to its organization', async () => {
    const t = setUp();
    const error = await domainErrorOf(
      t.create.execute(t.asAdmin, { title: 'X', organizationId: t.postech.id, piUserId: t.pi.id }, null),
    );
    expect(error.code).toBe('PI_OUTSIDE_ORGANIZATION');
    const made = await t.create.execute(
      t.asAdmin,
      { title: 'X', organizationId: t.postech.id, piUserId: t.outsider.id },
      null,
    );
    expect(made.piUserId).toBe(t.outsider.id);
  });

  it('names every unknown or deactivated user, by field', async () => {
    const t = setUp();
    t.member.active = false;
    const ghost = '00000000-0000-4000-8000-000000000000';
    const error = await domainErrorOf(
      t.create.execute(
        t.asAdmin,
        { title: 'X', organizationId: t.kaist.id, piUserId: ghost, memberIds: [t.member.id] },
        null,
      ),
    );
    expect(error.code).toBe('UNKNOWN_USER');
    expect(error.details).toEqual([
      { field: 'piUserId', message: `no active user ${ghost}` },
      { field: 'memberIds', message: `no active user ${t.member.id}` },
    ]);
    expect(t.transactions.runs).toEqual([{ options: {}, outcome: 'rolled back' }]);
  });

  it('refuses an unknown organization', async () => {
    const t = setUp();
    const error = await domainErrorOf(
      t.create.execute(
        t.asAdmin,
        { title: 'X', organizationId: '00000000-0000-4000-8000-000000000001', piUserId: t.pi.id },
        null,
      ),
    );
    expect(error.code).toBe('UNKNOWN_ORGANIZATION');
  });
});

describe('project members', () => {
  function withProject() {
    const t = setUp();
    const project = t.store.addProject({ title: 'P', organizationId: t.kaist.id, piUserId: t.pi.id }, [
      t.member.id,
    ]);
    return { ...t, project };
  }

  it('hides a project from people outside it (404) and refuses members who do not lead it (403)', async () => {
    const t = withProject();
    const hidden = await domainErrorOf(
      t.addMember.execute(t.asOutsider, t.project.id, { userId: t.colleague.id, role: 'member' }, null),
    );
    expect([hidden.kind, hidden.code]).toEqual(['not_found', 'NOT_FOUND']);
    const forbidden = await domainErrorOf(
      t.addMember.execute(t.asMember, t.project.id, { userId: t.colleague.id, role: 'member' }, null),
    );
    expect([forbidden.kind, forbidden.code]).toEqual(['forbidden', 'PI_REQUIRED']);
    expect(t.store.memberOf(t.project.id, t.colleague.id)).toBeUndefined();
    expect(t.audit.events).toEqual([]);
  });

  it('lets the PI add a member once; the second time is a conflict', async () => {
    const t = withProject();
    const added = await t.addMember.execute(
      t.asPi,
      t.project.id,
      { userId: t.colleague.id, role: 'member' },
      null,
    );
    expect(added).toMatchObject({ userId: t.colleague.id, role: 'member' });
    expect(t.audit.actions()).toEqual(['project.member_added']);
    const again = await domainErrorOf(
      t.addMember.execute(t.asAdmin, t.project.id, { userId: t.colleague.id, role: 'member' }, null),
    );
    expect([again.kind, again.code]).toEqual(['conflict', 'ALREADY_MEMBER']);
  });

  it('hands the project over to a member of its organization; the old PI stays a member', async () => {
    const t = withProject();
    const outside = await domainErrorOf(
      t.addMember.execute(t.asPi, t.project.id, { userId: t.outsider.id, role: 'pi' }, null),
    );
    expect(outside.code).toBe('PI_OUTSIDE_ORGANIZATION');
    const self = await domainErrorOf(
      t.addMember.execute(t.asPi, t.project.id, { userId: t.pi.id, role: 'pi' }, null),
    );
    expect(self.code).toBe('ALREADY_MEMBER');

    const newPi = await t.addMember.execute(
      t.asPi,
      t.project.id,
      { userId: t.member.id, role: 'pi' },
      'req-2',
    );
    expect(newPi.role).toBe('pi');
    expect(t.store.projects.get(t.project.id)?.piUserId).toBe(t.member.id);
    expect(t.store.memberOf(t.project.id, t.pi.id)?.role).toBe('member');
    const [event] = t.audit.events;
    expect(event).toMatchObject({
      action: 'project.pi_changed',
      before: { piUserId: t.pi.id },
      after: { piUserId: t.member.id },
    });
  });

  it('lets a member leave, refuses them removing others, and never removes the PI', async () => {
    const t = withProject();
    t.store.addMember({ projectId: t.project.id, userId: t.colleague.id, role: 'member' });
    const other = await domainErrorOf(t.removeMember.execute(t.asMember, t.project.id, t.colleague.id, null));
    expect(other.code).toBe('PI_REQUIRED');
    const pi = await domainErrorOf(t.removeMember.execute(t.asAdmin, t.project.id, t.pi.id, null));
    expect(pi.code).toBe('PI_CANNOT_BE_REMOVED');

    await t.removeMember.execute(t.asMember, t.project.id, t.member.id, null);
    expect(t.store.memberOf(t.project.id, t.member.id)).toBeUndefined();
    expect(t.audit.actions()).toEqual(['project.member_removed']);
    const gone = await domainErrorOf(t.removeMember.execute(t.asPi, t.project.id, t.member.id, null));
    expect([gone.kind, gone.code]).toEqual(['not_found', 'NOT_FOUND']);
  });
});

describe('ProjectQueries', () => {
  it('lists every project to admins, their own to members, none to API tokens', async () => {
    const t = setUp();
    const mine = t.store.addProject({ title: 'Mine', organizationId: t.kaist.id, piUserId: t.pi.id }, [
      t.member.id,
    ]);
    const theirs = t.store.addProject({
      title: 'Theirs',
      organizationId: t.postech.id,
      piUserId: t.outsider.id,
    });
    const ids = async (principal: Principal) =>
      (await t.queries.list(principal, { limit: 50 })).items.map((row) => row.id);
    expect(await ids(t.asAdmin)).toEqual([theirs.id, mine.id]);
    expect(await ids(t.asMember)).toEqual([mine.id]);
    expect(await ids(t.asOutsider)).toEqual([theirs.id]);
    expect(await ids(token)).toEqual([]);
  });

  it('reads one project in a repeatable-read transaction, and 404s it to outsiders', async () => {
    const t = setUp();
    const project = t.store.addProject({ title: 'Mine', organizationId: t.kaist.id, piUserId: t.pi.id });
    expect((await t.queries.get(t.asPi, project.id)).members).toHaveLength(1);
    expect(t.transactions.runs).toEqual([
      { options: { isolation: 'REPEATABLE READ' }, outcome: 'committed' },
    ]);
    const error = await domainErrorOf(t.queries.get(t.asOutsider, project.id));
    expect(error.kind).toBe('not_found');
  });
});
