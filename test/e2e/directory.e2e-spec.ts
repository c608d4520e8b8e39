import pg from 'pg';
import { startApi, type ApiHarness } from '../support/api-harness.js';

// Public registration numbers of listed companies (valid check digits), and a non-profit 고유번호.
const NAVER_BRN = '220-81-62517';
const SAMSUNG_BRN = '1248100998';
const NONPROFIT_NUMBER = '101-82-00008';

interface Created {
  id: string;
}

describe('directory: organizations, users, API tokens, projects', () => {
  let api: ApiHarness;
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  const admin = () => auth(api.adminToken);

  let university: Created;
  let startup: Created;
  let researcher: { id: string; token: string };
  let colleague: { id: string; token: string };
  let founder: { id: string; token: string };
  let operatorToken: string;

  async function createUser(body: Record<string, unknown>): Promise<Created> {
    const response = await api.http.post('/v1/users').set(admin()).send(body);
    expect(response.status).toBe(201);
    return response.body as Created;
  }

  async function auditActions(subjectId: string): Promise<string[]> {
    const client = new pg.Client({ connectionString: api.databaseUrl });
    await client.connect();
    try {
      const result = await client.query<{ action: string }>(
        'SELECT action FROM audit_events WHERE subject_id = $1 ORDER BY id',
        [subjectId],
      );
      return result.rows.map((row) => row.action);
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    api = await startApi('directory');
  });
  afterAll(async () => {
    await api.close();
  });

  describe('organizations', () => {
    it('registers an organization with a valid business registration number and derives the capital area', async () => {
      const response = await api.http.post('/v1/organizations').set(admin()).send({
        name: 'KAIST',
        type: 'university',
        region: 'daejeon',
        businessRegistrationNumber: NONPROFIT_NUMBER,
      });
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({
        name: 'KAIST',
        type: 'university',
        region: 'daejeon',
        capitalArea: false,
        taxIdKind: 'nonprofit_unique_number',
        businessRegistrationNumber: '101-82-00008',
      });
      university = response.body as Created;

      const seoul = await api.http.post('/v1/organizations').set(admin()).send({
        name: 'Naver Cloud Lab',
        type: 'startup',
        region: 'seoul',
        businessRegistrationNumber: NAVER_BRN,
      });
      expect(seoul.status).toBe(201);
      expect(seoul.body).toMatchObject({
        capitalArea: true,
        taxIdKind: 'business_registration_number',
        businessRegistrationNumber: NAVER_BRN,
      });
      startup = seoul.body as Created;
      expect(await auditActions(startup.id)).toEqual(['organization.created']);

      const withoutNumber = await api.http
        .post('/v1/organizations')
        .set(admin())
        .send({ name: 'Gyeonggi Public Lab', type: 'public', region: 'gyeonggi' });
      expect(withoutNumber.status).toBe(201);
      expect(withoutNumber.body).toMatchObject({
        capitalArea: true,
        taxIdKind: null,
        businessRegistrationNumber: null,
      });
    });

    it('rejects an invalid business registration number, naming the field', async () => {
      const response = await api.http.post('/v1/organizations').set(admin()).send({
        name: 'Typo Inc.',
        type: 'sme',
        region: 'busan',
        businessRegistrationNumber: '220-81-62518',
      });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('INVALID_TAX_IDENTITY');
      expect(response.body.error.details).toEqual([
        expect.objectContaining({ field: 'businessRegistrationNumber', reason: 'check_digit' }),
      ]);
      const malformed = await api.http
        .post('/v1/organizations')
        .set(admin())
        .send({ name: 'Typo Inc.', type: 'sme', region: 'busan', businessRegistrationNumber: '12-345' });
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.details[0]).toMatchObject({
        field: 'businessRegistrationNumber',
        reason: 'format',
      });
    });

    it('refuses a second organization with the same number, however it is spelled', async () => {
      const response = await api.http.post('/v1/organizations').set(admin()).send({
        name: 'Naver again',
        type: 'enterprise',
        region: 'gyeonggi',
        businessRegistrationNumber: '2208162517',
      });
      expect(response.status).toBe(409);
      expect(response.body.error.code).toBe('ORGANIZATION_EXISTS');
      expect(response.body.error.details[0]).toMatchObject({
        field: 'businessRegistrationNumber',
        existingOrganizationId: startup.id,
      });
    });

    it('answers a race for the same number with one 201 and one 409, never a 500', async () => {
      const body = {
        name: 'Samsung AI Center',
        type: 'enterprise',
        region: 'gyeonggi',
        businessRegistrationNumber: SAMSUNG_BRN,
      };
      const responses = await Promise.all([
        api.http.post('/v1/organizations').set(admin()).send(body),
        api.http
          .post('/v1/organizations')
          .set(admin())
          .send({ ...body, businessRegistrationNumber: '124-81-00998' }),
      ]);
      expect(responses.map((response) => response.status).sort()).toEqual([201, 409]);
    });

    it('lists organizations page by page without gaps or repeats', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const query: Record<string, string | number> = { limit: 1, ...(cursor ? { cursor } : {}) };
        const page = await api.http.get('/v1/organizations').query(query).set(admin()).expect(200);
        expect(page.body.items.length).toBeLessThanOrEqual(1);
        seen.push(...page.body.items.map((item: Created) => item.id));
        cursor = page.body.nextCursor as string | null;
      } while (cursor);
      expect(seen).toHaveLength(4);
      expect(new Set(seen).size).toBe(4);

      const filtered = await api.http.get('/v1/organizations?region=daejeon').set(admin()).expect(200);
      expect(filtered.body.items.map((item: Created) => item.id)).toEqual([university.id]);
      await api.http.get(`/v1/organizations/${university.id}`).set(admin()).expect(200);
    });
  });

  describe('users', () => {
    it('creates users without exposing the password hash, and they can sign in', async () => {
      const response = await api.http.post('/v1/users').set(admin()).send({
        email: 'Kim.Researcher@KAIST.ac.kr',
        name: '김연구',
        organizationId: university.id,
        roles: [],
        password: 'researcher-password-1',
      });
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({
        email: 'kim.researcher@kaist.ac.kr',
        roles: [],
        hasPassword: true,
        active: true,
      });
      expect(JSON.stringify(response.body)).not.toMatch(/argon2|passwordHash/);
      researcher = {
        id: (response.body as Created).id,
        token: await api.login('kim.researcher@kaist.ac.kr', 'researcher-password-1'),
      };
      expect(await auditActions(researcher.id)).toEqual(['user.created']);

      const colleagueUser = await createUser({
        email: 'lee@kaist.ac.kr',
        name: '이동료',
        organizationId: university.id,
        roles: ['reviewer'],
        password: 'colleague-password-1',
      });
      colleague = { id: colleagueUser.id, token: await api.login('lee@kaist.ac.kr', 'colleague-password-1') };
      const founderUser = await createUser({
        email: 'founder@startup.kr',
        name: 'Founder',
        organizationId: startup.id,
        roles: [],
        password: 'founder-password-1',
      });
      founder = { id: founderUser.id, token: await api.login('founder@startup.kr', 'founder-password-1') };
      await createUser({
        email: 'ops@gpupool.kr',
        name: 'Operator',
        organizationId: university.id,
        roles: ['operator'],
        password: 'operator-password-1',
      });
      operatorToken = await api.login('ops@gpupool.kr', 'operator-password-1');
    });

    it('refuses a duplicate email (case-insensitively), an unknown organization and an unknown agency', async () => {
      const duplicate = await api.http
        .post('/v1/users')
        .set(admin())
        .send({ email: 'LEE@kaist.ac.kr', name: 'Again', organizationId: university.id, roles: [] });
      expect(duplicate.status).toBe(409);
      expect(duplicate.body.error.code).toBe('EMAIL_TAKEN');

      const unknownOrganization = await api.http.post('/v1/users').set(admin()).send({
        email: 'nobody@x.kr',
        name: 'Nobody',
        organizationId: '00000000-0000-4000-8000-000000000000',
        roles: [],
      });
      expect(unknownOrganization.status).toBe(422);
      expect(unknownOrganization.body.error.code).toBe('UNKNOWN_ORGANIZATION');
      expect(unknownOrganization.body.error.message).toContain('does not exist');

      const unknownAgency = await api.http
        .post('/v1/users')
        .set(admin())
        .send({
          email: 'fin@x.kr',
          name: 'Finance',
          organizationId: university.id,
          roles: ['finance'],
          agencyCode: 'NOPE',
        });
      expect(unknownAgency.status).toBe(422);
      expect(unknownAgency.body.error.code).toBe('UNKNOWN_AGENCY');

      const agencyWithoutFinance = await api.http
        .post('/v1/users')
        .set(admin())
        .send({
          email: 'fin@x.kr',
          name: 'Finance',
          organizationId: university.id,
          roles: ['reviewer'],
          agencyCode: 'MSIT',
        });
      expect(agencyWithoutFinance.status).toBe(400);
      expect(agencyWithoutFinance.body.error.details).toEqual([
        expect.objectContaining({ field: 'agencyCode' }),
      ]);
    });

    it('scopes a finance user to an existing agency', async () => {
      const client = new pg.Client({ connectionString: api.databaseUrl });
      await client.connect();
      try {
        await client.query(
          "INSERT INTO agencies (code, name) VALUES ('NIPA', 'National IT Industry Promotion Agency')",
        );
      } finally {
        await client.end();
      }
      const response = await api.http
        .post('/v1/users')
        .set(admin())
        .send({
          email: 'settle@nipa.kr',
          name: 'NIPA finance',
          organizationId: university.id,
          roles: ['finance'],
          agencyCode: 'NIPA',
        });
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({ roles: ['finance'], agencyCode: 'NIPA', hasPassword: false });
    });

    it('answers a race for the same email with one 201 and one 409', async () => {
      const body = { email: 'twin@kaist.ac.kr', name: 'Twin', organizationId: university.id, roles: [] };
      const responses = await Promise.all([
        api.http.post('/v1/users').set(admin()).send(body),
        api.http
          .post('/v1/users')
          .set(admin())
          .send({ ...body, email: 'TWIN@kaist.ac.kr' }),
      ]);
      expect(responses.map((response) => response.status).sort()).toEqual([201, 409]);
    });

    it('lists users for admins, filtered by role, and lets others read only themselves', async () => {
      const reviewers = await api.http.get('/v1/users?role=reviewer').set(admin()).expect(200);
      expect(reviewers.body.items.map((user: Created) => user.id)).toEqual([colleague.id]);
      await api.http.get('/v1/users').set(auth(researcher.token)).expect(403);
      const self = await api.http.get(`/v1/users/${researcher.id}`).set(auth(researcher.token)).expect(200);
      expect(self.body.email).toBe('kim.researcher@kaist.ac.kr');
      const other = await api.http.get(`/v1/users/${colleague.id}`).set(auth(researcher.token));
      expect(other.status).toBe(404);
    });

    it('enforces roles: a non-admin cannot register organizations or users', async () => {
      const organization = await api.http
        .post('/v1/organizations')
        .set(auth(researcher.token))
        .send({ name: 'Rogue', type: 'sme', region: 'jeju' });
      expect(organization.status).toBe(403);
      expect(organization.body.error.code).toBe('ROLE_REQUIRED');
      const user = await api.http
        .post('/v1/users')
        .set(auth(operatorToken))
        .send({ email: 'x@y.kr', name: 'X', organizationId: university.id, roles: ['admin'] });
      expect(user.status).toBe(403);
      // Non-admins see only their own organization.
      const organizations = await api.http.get('/v1/organizations').set(auth(founder.token)).expect(200);
      expect(organizations.body.items.map((item: Created) => item.id)).toEqual([startup.id]);
      await api.http.get(`/v1/organizations/${university.id}`).set(auth(founder.token)).expect(404);
    });
  });

  describe('API tokens', () => {
    it('shows the token once, refuses it where it has no scope, and refuses it after revocation', async () => {
      const created = await api.http
        .post('/v1/api-tokens')
        .set(auth(operatorToken))
        .send({ name: 'cluster-1 agent', scopes: ['usage:write'] });
      expect(created.status).toBe(201);
      const { id, token, tokenPrefix } = created.body as { id: string; token: string; tokenPrefix: string };
      expect(token).toMatch(/^gpp_/);
      expect(token.startsWith(tokenPrefix)).toBe(true);
      expect(Object.keys(created.body).sort()).toEqual([
        'createdAt',
        'id',
        'name',
        'scopes',
        'token',
        'tokenPrefix',
      ]);

      const listed = await api.http.get('/v1/api-tokens').set(auth(operatorToken)).expect(200);
      expect(listed.body.items).toEqual([
        expect.objectContaining({ id, name: 'cluster-1 agent', scopes: ['usage:write'] }),
      ]);
      expect(JSON.stringify(listed.body)).not.toContain(token);
      expect(JSON.stringify(listed.body)).not.toContain('tokenHash');

      const noScope = await api.http.get('/v1/organizations').set(auth(token));
      expect(noScope.status).toBe(403);
      expect(noScope.body.error.code).toBe('USER_SESSION_REQUIRED');
      expect(noScope.body.error.details).toEqual({ acceptsApiTokens: false, requiredRoles: [] });
      // A route that takes tokens of other scopes names them, and its roles for people.
      const otherScope = await api.http.get('/v1/pool/capacity').set(auth(token));
      expect(otherScope.status).toBe(403);
      expect(otherScope.body.error).toEqual({
        code: 'SCOPE_REQUIRED',
        message: expect.stringContaining('read or workloads:read'),
        details: { requiredScopes: ['read', 'workloads:read'], tokenScopes: ['usage:write'] },
      });
      const adminOnly = await api.http.post('/v1/organizations').set(auth(token)).send({});
      expect(adminOnly.status).toBe(403);
      expect(adminOnly.body.error).toMatchObject({
        code: 'USER_SESSION_REQUIRED',
        message: expect.stringContaining('admin role'),
        details: { acceptsApiTokens: false, requiredRoles: ['admin'] },
      });
      // Using the token (even on a route it may not call) is recorded.
      const afterUse = await api.http.get('/v1/api-tokens').set(auth(operatorToken)).expect(200);
      expect(afterUse.body.items[0].lastUsedAt).toEqual(expect.any(String));

      // Without the admin or operator role, tokens are out of reach.
      await api.http.delete(`/v1/api-tokens/${id}`).set(auth(researcher.token)).expect(403);
      await api.http.delete(`/v1/api-tokens/${id}`).set(auth(operatorToken)).expect(204);
      await api.http.delete(`/v1/api-tokens/${id}`).set(admin()).expect(204);
      const revoked = await api.http.get('/v1/organizations').set(auth(token));
      expect(revoked.status).toBe(401);
      expect(revoked.body.error.code).toBe('INVALID_TOKEN');
      expect(await auditActions(id)).toEqual(['api_token.created', 'api_token.revoked']);

      const afterRevoke = await api.http.get('/v1/api-tokens').set(auth(operatorToken)).expect(200);
      expect(afterRevoke.body.items).toEqual([]);
      const withRevoked = await api.http
        .get('/v1/api-tokens?includeRevoked=true')
        .set(auth(operatorToken))
        .expect(200);
      expect(withRevoked.body.items[0].revokedAt).toEqual(expect.any(String));
    });

    it('keeps an operator to their own tokens while admins see all', async () => {
      const adminOwned = await api.http
        .post('/v1/api-tokens')
        .set(admin())
        .send({ name: 'admin reader', scopes: ['read'] });
      expect(adminOwned.status).toBe(201);
      await api.http.delete(`/v1/api-tokens/${adminOwned.body.id}`).set(auth(operatorToken)).expect(404);
      const all = await api.http.get('/v1/api-tokens?includeRevoked=true').set(admin()).expect(200);
      expect(all.body.items).toHaveLength(2);
      const unknownScope = await api.http
        .post('/v1/api-tokens')
        .set(admin())
        .send({ name: 'x', scopes: ['root'] });
      expect(unknownScope.status).toBe(400);
    });
  });

  describe('projects', () => {
    let projectA: Created;
    let projectB: Created;

    it('lets a researcher create a project of their own organization, with themselves as PI', async () => {
      const response = await api.http
        .post('/v1/projects')
        .set(auth(researcher.token))
        .send({
          title: 'Korean LLM pretraining',
          organizationId: university.id,
          piUserId: researcher.id,
          memberIds: [colleague.id],
        });
      expect(response.status).toBe(201);
      expect(response.body.members).toEqual([
        expect.objectContaining({ userId: researcher.id, role: 'pi' }),
        expect.objectContaining({ userId: colleague.id, role: 'member' }),
      ]);
      projectA = response.body as Created;
      expect(await auditActions(projectA.id)).toEqual(['project.created']);

      const forSomeoneElse = await api.http
        .post('/v1/projects')
        .set(auth(researcher.token))
        .send({ title: 'Not mine', organizationId: startup.id, piUserId: founder.id });
      expect(forSomeoneElse.status).toBe(403);
      expect(forSomeoneElse.body.error.code).toBe('PROJECT_CREATION_FORBIDDEN');

      const adminMade = await api.http
        .post('/v1/projects')
        .set(admin())
        .send({ title: 'Vision foundation model', organizationId: startup.id, piUserId: founder.id });
      expect(adminMade.status).toBe(201);
      projectB = adminMade.body as Created;

      const piElsewhere = await api.http
        .post('/v1/projects')
        .set(admin())
        .send({ title: 'Wrong PI', organizationId: startup.id, piUserId: researcher.id });
      expect(piElsewhere.status).toBe(422);
      expect(piElsewhere.body.error.code).toBe('PI_OUTSIDE_ORGANIZATION');
    });

    it('shows each user only their projects: a member of A gets 404 for B', async () => {
      const own = await api.http.get(`/v1/projects/${projectA.id}`).set(auth(colleague.token)).expect(200);
      expect(own.body.members).toHaveLength(2);
      const other = await api.http.get(`/v1/projects/${projectB.id}`).set(auth(colleague.token));
      expect(other.status).toBe(404);
      expect(other.body.error.code).toBe('NOT_FOUND');
      const missing = await api.http
        .get('/v1/projects/00000000-0000-4000-8000-000000000000')
        .set(auth(colleague.token));
      expect(missing.status).toBe(404);
      // The answer for someone else's project is the answer for a project that does not exist.
      expect(missing.body.error.code).toBe(other.body.error.code);
      expect(other.body.error.message).toBe(
        missing.body.error.message.replace('00000000-0000-4000-8000-000000000000', projectB.id),
      );

      const mine = await api.http.get('/v1/projects').set(auth(colleague.token)).expect(200);
      expect(mine.body.items.map((item: Created) => item.id)).toEqual([projectA.id]);
      const everything = await api.http.get('/v1/projects').set(admin()).expect(200);
      expect(everything.body.items.map((item: Created) => item.id).sort()).toEqual(
        [projectA.id, projectB.id].sort(),
      );
    });

    it('lets the PI manage members, never removing the PI', async () => {
      const byMember = await api.http
        .post(`/v1/projects/${projectA.id}/members`)
        .set(auth(colleague.token))
        .send({ userId: founder.id });
      expect(byMember.status).toBe(403);
      expect(byMember.body.error.code).toBe('PI_REQUIRED');
      const byOutsider = await api.http
        .post(`/v1/projects/${projectA.id}/members`)
        .set(auth(founder.token))
        .send({ userId: founder.id });
      expect(byOutsider.status).toBe(404);

      const added = await api.http
        .post(`/v1/projects/${projectA.id}/members`)
        .set(auth(researcher.token))
        .send({ userId: founder.id });
      expect(added.status).toBe(201);
      expect(added.body).toMatchObject({ projectId: projectA.id, userId: founder.id, role: 'member' });
      const twice = await api.http
        .post(`/v1/projects/${projectA.id}/members`)
        .set(auth(researcher.token))
        .send({ userId: founder.id });
      expect(twice.status).toBe(409);
      await api.http.get(`/v1/projects/${projectA.id}`).set(auth(founder.token)).expect(200);

      const removePi = await api.http
        .delete(`/v1/projects/${projectA.id}/members/${researcher.id}`)
        .set(admin());
      expect(removePi.status).toBe(422);
      expect(removePi.body.error.code).toBe('PI_CANNOT_BE_REMOVED');
      await api.http
        .delete(`/v1/projects/${projectA.id}/members/${founder.id}`)
        .set(auth(researcher.token))
        .expect(204);
      await api.http.get(`/v1/projects/${projectA.id}`).set(auth(founder.token)).expect(404);
      await api.http
        .delete(`/v1/projects/${projectA.id}/members/${founder.id}`)
        .set(auth(researcher.token))
        .expect(404);
      expect(await auditActions(projectA.id)).toEqual([
        'project.created',
        'project.member_added',
        'project.member_removed',
      ]);
    });

    it('hands a project to a new PI of the same organization', async () => {
      const handover = await api.http
        .post(`/v1/projects/${projectA.id}/members`)
        .set(auth(researcher.token))
        .send({ userId: colleague.id, role: 'pi' });
      expect(handover.status).toBe(201);
      const project = await api.http
        .get(`/v1/projects/${projectA.id}`)
        .set(auth(researcher.token))
        .expect(200);
      expect(project.body.piUserId).toBe(colleague.id);
      expect(project.body.members).toEqual([
        expect.objectContaining({ userId: colleague.id, role: 'pi' }),
        expect.objectContaining({ userId: researcher.id, role: 'member' }),
      ]);
      // The previous PI may now leave.
      await api.http
        .delete(`/v1/projects/${projectA.id}/members/${researcher.id}`)
        .set(auth(researcher.token))
        .expect(204);
    });
  });

  describe('bad input is a 400 with the API.md body, never a 500', () => {
    const organization = { name: 'Valid Name', type: 'sme', region: 'ulsan' };
    const cases: [string, string, string, unknown][] = [
      ['unknown field', 'post', '/v1/organizations', { ...organization, ceo: 'someone' }],
      ['wrong type', 'post', '/v1/organizations', { ...organization, name: 42 }],
      ['unknown enum value', 'post', '/v1/organizations', { ...organization, region: 'tokyo' }],
      ['oversized name', 'post', '/v1/organizations', { ...organization, name: 'x'.repeat(201) }],
      ['blank name', 'post', '/v1/organizations', { ...organization, name: '   ' }],
      ['NUL in a name', 'post', '/v1/organizations', { ...organization, name: 'a\u0000b' }],
      ['null number', 'post', '/v1/organizations', { ...organization, businessRegistrationNumber: null }],
      [
        'oversized email',
        'post',
        '/v1/users',
        {
          email: `${'a'.repeat(250)}@x.kr`,
          name: 'A',
          organizationId: '00000000-0000-4000-8000-000000000000',
          roles: [],
        },
      ],
      [
        'unknown role',
        'post',
        '/v1/users',
        {
          email: 'a@x.kr',
          name: 'A',
          organizationId: '00000000-0000-4000-8000-000000000000',
          roles: ['root'],
        },
      ],
      [
        'malformed organization id',
        'post',
        '/v1/users',
        { email: 'a@x.kr', name: 'A', organizationId: 'not-a-uuid', roles: [] },
      ],
      [
        'roles not an array',
        'post',
        '/v1/users',
        {
          email: 'a@x.kr',
          name: 'A',
          organizationId: '00000000-0000-4000-8000-000000000000',
          roles: 'admin',
        },
      ],
      ['empty scopes', 'post', '/v1/api-tokens', { name: 'agent', scopes: [] }],
      [
        'malformed member id',
        'post',
        '/v1/projects',
        {
          title: 'T',
          organizationId: '00000000-0000-4000-8000-000000000000',
          piUserId: '00000000-0000-4000-8000-000000000000',
          memberIds: ['1'],
        },
      ],
      ['malformed id in the path', 'get', '/v1/projects/not-a-uuid', undefined],
      ['malformed id in the path', 'get', '/v1/organizations/123', undefined],
      ['malformed id in the path', 'get', '/v1/users/%27%20OR%201=1', undefined],
      ['malformed id in the path', 'delete', '/v1/api-tokens/xyz', undefined],
      [
        'malformed user id in the path',
        'delete',
        '/v1/projects/00000000-0000-4000-8000-000000000000/members/xyz',
        undefined,
      ],
      ['unknown query parameter', 'get', '/v1/users?sort=name', undefined],
      ['limit out of range', 'get', '/v1/projects?limit=0', undefined],
      ['limit not a number', 'get', '/v1/organizations?limit=ten', undefined],
      ['forged cursor', 'get', '/v1/organizations?cursor=bm90LWEtY3Vyc29y', undefined],
      ['repeated filter', 'get', '/v1/users?role=admin&role=finance', undefined],
    ];

    it.each(cases)('%s: %s %s', async (_label, method, path, body) => {
      const call =
        method === 'post'
          ? api.http.post(path)
          : method === 'delete'
            ? api.http.delete(path)
            : api.http.get(path);
      const response = await (body === undefined
        ? call.set(admin())
        : call.set(admin()).send(body as object));
      expect(response.status).toBe(400);
      expect(response.body).toEqual({
        error: expect.objectContaining({
          code: expect.stringMatching(/^[A-Z_]+$/),
          message: expect.any(String),
        }),
      });
    });

    it('names the offending field', async () => {
      const response = await api.http
        .post('/v1/organizations')
        .set(admin())
        .send({ ...organization, extra: true, name: 7 });
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
      const fields = (response.body.error.details as { field: string }[]).map((detail) => detail.field);
      expect(fields).toEqual(expect.arrayContaining(['name']));
      expect(JSON.stringify(response.body.error.details)).toContain('extra');
    });
  });

  it('publishes every directory route in OpenAPI with a tag', async () => {
    const document = await api.http.get('/docs-json').expect(200);
    const paths = document.body.paths as Record<string, Record<string, { tags?: string[] }>>;
    for (const path of [
      '/v1/organizations',
      '/v1/organizations/{id}',
      '/v1/users',
      '/v1/users/{id}',
      '/v1/api-tokens',
      '/v1/api-tokens/{id}',
      '/v1/projects',
      '/v1/projects/{id}',
      '/v1/projects/{id}/members',
      '/v1/projects/{id}/members/{userId}',
    ]) {
      expect(paths[path]).toBeDefined();
      for (const operation of Object.values(paths[path] ?? {}))
        expect(operation.tags?.length).toBeGreaterThan(0);
    }
    expect(JSON.stringify(paths['/v1/organizations'])).toContain('businessRegistrationNumber');
  });
});
