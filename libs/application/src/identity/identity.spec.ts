import type { DataSource } from 'typeorm';
import { DomainError, type Principal } from '#domain';
import { AgencyRepository } from '#persistence';
import { FakeAuditRepository } from '../../../../test/fakes/audit-repository.fake.js';
import {
  DirectoryStore,
  FakeOrganizationRepository,
  FakeProjectMembershipRepository,
  FakeUserRepository,
} from '../../../../test/fakes/directory.fakes.js';
import { FakeApiTokenRepository, FakeCredentials } from '../../../../test/fakes/identity.fakes.js';
import { FakeTransactionRunner } from '../../../../test/fakes/transaction-runner.fake.js';
import {
  ApiTokenQueries,
  CreateApiTokenUseCase,
  MintSimulatorTokenUseCase,
  RevokeApiTokenUseCase,
  SIMULATOR_TOKEN_NAME,
} from './api-tokens.use-case.js';
import { PrincipalResolver, TOKEN_USE_RESOLUTION_MS } from './authentication.js';
import { BootstrapAdminUseCase } from './bootstrap-admin.use-case.js';
import { CreateOrganizationUseCase, OrganizationQueries } from './organizations.use-case.js';
import { LoginUseCase, SessionQueries } from './session.use-case.js';
import { CreateUserUseCase, UserQueries } from './users.use-case.js';

function userPrincipal(userId: string, organizationId: string | null, roles: 'admin'[] = []): Principal {
  return { kind: 'user', userId, email: `${userId}@example.kr`, roles, organizationId, agencyCode: null };
}

const apiToken: Principal = { kind: 'api_token', tokenId: 'token-1', scopes: ['read'], createdBy: 'u' };

async function domainErrorOf(promise: Promise<unknown>): Promise<DomainError> {
  const error: unknown = await promise.then(
    () => new Error('expected a DomainError, the call succeeded'),
    (rejection: unknown) => rejection,
  );
  if (!(error instanceof DomainError)) throw error;
  return error;
}

/** Agencies by code, without a database. */
class FakeAgencyRepository extends AgencyRepository {
  constructor(private readonly codes: Set<string>) {
    super(undefined as unknown as DataSource);
  }

  override exists(code: string): Promise<boolean> {
    return Promise.resolve(this.codes.has(code));
  }
}

function setUp() {
  const store = new DirectoryStore();
  const transactions = new FakeTransactionRunner();
  const audit = new FakeAuditRepository();
  const users = new FakeUserRepository(store);
  const organizations = new FakeOrganizationRepository(store);
  const tokens = new FakeApiTokenRepository(store);
  const credentials = new FakeCredentials();
  const agencies = new FakeAgencyRepository(new Set(['NRF']));
  const kaist = store.addOrganization({ name: 'KAIST' });
  const admin = store.addUser({ email: 'admin@example.kr', roles: ['admin'], organizationId: kaist.id });
  const operator = store.addUser({ email: 'op@example.kr', roles: ['operator'], organizationId: kaist.id });
  return {
    store,
    transactions,
    audit,
    users,
    organizations,
    tokens,
    credentials,
    kaist,
    admin,
    operator,
    adminPrincipal: userPrincipal(admin.id, kaist.id, ['admin']),
    operatorPrincipal: userPrincipal(operator.id, kaist.id),
    createUser: new CreateUserUseCase(transactions, users, organizations, agencies, credentials, audit),
    userQueries: new UserQueries(users),
    createOrganization: new CreateOrganizationUseCase(transactions, organizations, audit),
    organizationQueries: new OrganizationQueries(organizations),
    createToken: new CreateApiTokenUseCase(transactions, tokens, credentials, audit),
    revokeToken: new RevokeApiTokenUseCase(transactions, tokens, audit),
    tokenQueries: new ApiTokenQueries(tokens),
    mintSimulatorToken: new MintSimulatorTokenUseCase(transactions, users, tokens, credentials, audit),
    login: new LoginUseCase(users, credentials),
    session: new SessionQueries(users, organizations, new FakeProjectMembershipRepository(store)),
    principals: new PrincipalResolver(tokens, users),
    bootstrapAdmin: new BootstrapAdminUseCase(users, credentials),
  };
}

describe('CreateUserUseCase', () => {
  const input = (organizationId: string) => ({
    email: 'new@example.kr',
    name: 'New Person',
    password: 'correct horse',
    organizationId,
    roles: ['operator'],
  });

  it('hashes the password, stores the account and audits its view without the hash', async () => {
    const t = setUp();
    const created = await t.createUser.execute(t.adminPrincipal, input(t.kaist.id), 'req-1');
    expect(created).toMatchObject({ email: 'new@example.kr', hasPassword: true, active: true });
    expect(t.store.users.get(created.id)?.passwordHash).toBe('hash:correct horse');
    expect(t.audit.events).toEqual([
      expect.objectContaining({
        action: 'user.created',
        subjectId: created.id,
        after: created,
        requestId: 'req-1',
      }),
    ]);
    expect(JSON.stringify(t.audit.events)).not.toContain('hash:');
  });

  it('refuses a taken email, an unknown organization and an unknown agency, writing nothing', async () => {
    const t = setUp();
    const before = t.store.users.size;
    expect(
      (
        await domainErrorOf(
          t.createUser.execute(t.adminPrincipal, { ...input(t.kaist.id), email: 'op@example.kr' }, null),
        )
      ).code,
    ).toBe('EMAIL_TAKEN');
    expect(
      (
        await domainErrorOf(
          t.createUser.execute(t.adminPrincipal, input('00000000-0000-4000-8000-000000000000'), null),
        )
      ).code,
    ).toBe('UNKNOWN_ORGANIZATION');
    expect(
      (
        await domainErrorOf(
          t.createUser.execute(t.adminPrincipal, { ...input(t.kaist.id), agencyCode: 'NOPE' }, null),
        )
      ).code,
    ).toBe('UNKNOWN_AGENCY');
    expect(t.store.users.size).toBe(before);
    expect(t.audit.events).toEqual([]);
  });

  it('accepts a known agency and an account without a password', async () => {
    const t = setUp();
    const created = await t.createUser.execute(
      t.adminPrincipal,
      { ...input(t.kaist.id), password: undefined, agencyCode: 'NRF' },
      null,
    );
    expect(created).toMatchObject({ agencyCode: 'NRF', hasPassword: false });
    expect(t.credentials.hashed).toEqual([]);
  });
});

describe('UserQueries.get', () => {
  it('shows admins any account and others only their own, as a 404', async () => {
    const t = setUp();
    expect((await t.userQueries.get(t.adminPrincipal, t.operator.id)).id).toBe(t.operator.id);
    expect((await t.userQueries.get(t.operatorPrincipal, t.operator.id)).id).toBe(t.operator.id);
    expect((await domainErrorOf(t.userQueries.get(t.operatorPrincipal, t.admin.id))).kind).toBe('not_found');
    expect((await domainErrorOf(t.userQueries.get(apiToken, t.operator.id))).kind).toBe('not_found');
  });
});

describe('organizations', () => {
  const taxIdentity = { kind: 'business_registration_number' as const, normalized: '2208162517' };
  const input = { name: 'Lab', type: 'company', region: 'seoul', capitalArea: true, taxIdentity };

  it('registers an organization with its formatted number and audits it', async () => {
    const t = setUp();
    const created = await t.createOrganization.execute(t.adminPrincipal, input, 'req-2');
    expect(created).toMatchObject({ capitalArea: true, businessRegistrationNumber: '220-81-62517' });
    expect(t.audit.actions()).toEqual(['organization.created']);
  });

  it('refuses a second organization with the same number, naming the first', async () => {
    const t = setUp();
    const first = await t.createOrganization.execute(t.adminPrincipal, input, null);
    const error = await domainErrorOf(t.createOrganization.execute(t.adminPrincipal, input, null));
    expect(error.code).toBe('ORGANIZATION_EXISTS');
    expect(error.details).toEqual([
      {
        field: 'businessRegistrationNumber',
        message: 'already registered',
        existingOrganizationId: first.id,
      },
    ]);
    expect(t.audit.actions()).toEqual(['organization.created']);
  });

  it('lists every organization to admins, their own to users and none to API tokens', async () => {
    const t = setUp();
    t.store.addOrganization({ name: 'POSTECH' });
    const page = { limit: 50 };
    expect((await t.organizationQueries.list(t.adminPrincipal, {}, page)).items).toHaveLength(2);
    expect(await t.organizationQueries.list(apiToken, {}, page)).toEqual({ items: [], nextCursor: null });
    await expect(t.organizationQueries.get(t.operatorPrincipal, t.kaist.id)).resolves.toMatchObject({
      name: 'KAIST',
    });
    const other = [...t.store.organizations.values()].find((row) => row.name === 'POSTECH');
    expect((await domainErrorOf(t.organizationQueries.get(t.operatorPrincipal, other?.id ?? ''))).kind).toBe(
      'not_found',
    );
  });
});

describe('API tokens', () => {
  it('mints a token for a signed-in user, storing only its hash, and refuses API tokens', async () => {
    const t = setUp();
    const created = await t.createToken.execute(t.operatorPrincipal, { name: 'ci', scopes: ['read'] }, null);
    expect(created.token).toBe('gpp_secret1');
    const stored = t.tokens.tokens.get(created.id);
    expect(stored).toMatchObject({ tokenHash: 'sha:gpp_secret1', createdBy: t.operator.id });
    expect(JSON.stringify(t.audit.events)).not.toContain('gpp_secret1');
    const refused = await domainErrorOf(
      t.createToken.execute(apiToken, { name: 'x', scopes: ['read'] }, null),
    );
    expect(refused.code).toBe('USER_REQUIRED');
    expect(t.tokens.tokens.size).toBe(1);
  });

  it("lets admins and the creator revoke, hides others' tokens, and revokes once", async () => {
    const t = setUp();
    const mine = t.tokens.add({ createdBy: t.operator.id });
    const theirs = t.tokens.add({ createdBy: t.admin.id });
    expect((await domainErrorOf(t.revokeToken.execute(t.operatorPrincipal, theirs.id, null))).kind).toBe(
      'not_found',
    );
    await t.revokeToken.execute(t.operatorPrincipal, mine.id, null);
    await t.revokeToken.execute(t.operatorPrincipal, mine.id, null);
    await t.revokeToken.execute(t.adminPrincipal, theirs.id, null);
    expect(t.tokens.tokens.get(mine.id)?.revokedAt).toBeInstanceOf(Date);
    expect(t.audit.actions()).toEqual(['api_token.revoked', 'api_token.revoked']);
    expect(t.audit.events[0]).toMatchObject({
      before: { revokedAt: null },
      after: { revokedAt: expect.any(String) as string },
    });
  });

  it('lists the creator their own live tokens and admins every one', async () => {
    const t = setUp();
    t.tokens.add({ createdBy: t.operator.id });
    t.tokens.add({ createdBy: t.operator.id, revokedAt: new Date() });
    t.tokens.add({ createdBy: t.admin.id });
    const page = { limit: 50 };
    expect(
      (await t.tokenQueries.list(t.operatorPrincipal, { includeRevoked: false }, page)).items,
    ).toHaveLength(1);
    expect(
      (await t.tokenQueries.list(t.operatorPrincipal, { includeRevoked: true }, page)).items,
    ).toHaveLength(2);
    expect((await t.tokenQueries.list(t.adminPrincipal, { includeRevoked: true }, page)).items).toHaveLength(
      3,
    );
  });

  it('replaces the live simulator tokens with one owned by the bootstrap admin, under the lock', async () => {
    const t = setUp();
    const older = t.tokens.add({ createdBy: t.admin.id, name: SIMULATOR_TOKEN_NAME });
    const secret = await t.mintSimulatorToken.execute('ADMIN@example.kr');
    expect(t.tokens.mintLocks).toBe(1);
    expect(t.tokens.tokens.get(older.id)?.revokedAt).toBeInstanceOf(Date);
    const live = [...t.tokens.tokens.values()].filter((row) => row.revokedAt === null);
    expect(live).toEqual([
      expect.objectContaining({
        tokenHash: `sha:${secret}`,
        scopes: ['agent', 'usage:write'],
        createdBy: t.admin.id,
      }),
    ]);
    expect(t.audit.actions()).toEqual(['api_token.revoked', 'api_token.created']);
  });

  it('refuses to mint the simulator token without an active bootstrap admin', async () => {
    const t = setUp();
    t.admin.active = false;
    await expect(t.mintSimulatorToken.execute('admin@example.kr')).rejects.toThrow(
      /does not exist or is inactive/,
    );
    expect(t.tokens.tokens.size).toBe(0);
  });
});

describe('sign-in and principals', () => {
  it('signs in with the right password only, and not into an inactive account', async () => {
    const t = setUp();
    t.store.addUser({ email: 'pi@example.kr', passwordHash: 'hash:pw' });
    await expect(t.login.execute('PI@example.kr', 'pw')).resolves.toMatchObject({ tokenType: 'Bearer' });
    expect((await domainErrorOf(t.login.execute('pi@example.kr', 'wrong'))).code).toBe('INVALID_CREDENTIALS');
    expect((await domainErrorOf(t.login.execute('nobody@example.kr', 'pw'))).code).toBe(
      'INVALID_CREDENTIALS',
    );
    t.store.addUser({ email: 'gone@example.kr', passwordHash: 'hash:pw', active: false });
    expect((await domainErrorOf(t.login.execute('gone@example.kr', 'pw'))).code).toBe('INVALID_CREDENTIALS');
  });

  it('describes a user with their organization and projects, and a token by its scopes', async () => {
    const t = setUp();
    t.store.addProject({ title: 'P', organizationId: t.kaist.id, piUserId: t.operator.id });
    await expect(t.session.me(t.operatorPrincipal)).resolves.toMatchObject({
      kind: 'user',
      organization: { id: t.kaist.id, name: 'KAIST' },
      projects: [{ role: 'pi' }],
    });
    await expect(t.session.me(apiToken)).resolves.toEqual({
      kind: 'api_token',
      tokenId: 'token-1',
      scopes: ['read'],
    });
  });

  it('resolves a live token of an active creator and records its use at most once a minute', async () => {
    const t = setUp();
    const row = t.tokens.add({ createdBy: t.operator.id, tokenHash: 'h1', scopes: ['agent'] });
    const now = new Date('2026-03-02T00:00:00Z');
    await expect(t.principals.apiToken('h1', now)).resolves.toEqual({
      kind: 'api_token',
      tokenId: row.id,
      scopes: ['agent'],
      createdBy: t.operator.id,
    });
    await t.principals.apiToken('h1', new Date(now.getTime() + TOKEN_USE_RESOLUTION_MS - 1));
    await t.principals.apiToken('h1', new Date(now.getTime() + TOKEN_USE_RESOLUTION_MS));
    expect(t.tokens.uses.map((use) => use.usedAt.getTime() - now.getTime())).toEqual([
      0,
      TOKEN_USE_RESOLUTION_MS,
    ]);
    t.operator.active = false;
    await expect(t.principals.apiToken('h1', now)).resolves.toBeNull();
    await expect(t.principals.apiToken('unknown', now)).resolves.toBeNull();
  });

  it('resolves active users only', async () => {
    const t = setUp();
    await expect(t.principals.user(t.operator.id)).resolves.toMatchObject({
      kind: 'user',
      userId: t.operator.id,
    });
    t.operator.active = false;
    await expect(t.principals.user(t.operator.id)).resolves.toBeNull();
  });
});

describe('BootstrapAdminUseCase', () => {
  it('creates the admin once and never touches an existing account', async () => {
    const t = setUp();
    const first = await t.bootstrapAdmin.execute({ email: 'Root@Example.kr', password: 'pw' });
    expect(first.created).toBe(true);
    expect(t.store.users.get(first.userId)).toMatchObject({ email: 'root@example.kr', roles: ['admin'] });
    const again = await t.bootstrapAdmin.execute({ email: 'root@example.kr', password: 'other' });
    expect(again).toEqual({ created: false, userId: first.userId });
    expect(t.store.users.get(first.userId)?.passwordHash).toBe('hash:pw');
    expect(t.credentials.hashed).toEqual(['pw']);
  });
});
