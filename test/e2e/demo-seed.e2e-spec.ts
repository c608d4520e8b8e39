import { adminCaller, seedDemo, DEMO_PASSWORD } from '../../apps/api/src/cli/demo-seed.js';
import { startApi, type ApiHarness } from '../support/api-harness.js';

describe('the npm start demo seed', () => {
  let api: ApiHarness;
  let baseUrl: string;
  beforeAll(async () => {
    api = await startApi('demo_seed');
    await api.app.listen(0, '127.0.0.1');
    baseUrl = await api.app.getUrl();
  });
  afterAll(async () => {
    await api.close();
  });

  it('seeds through the API once, and a second run changes nothing', async () => {
    const call = await adminCaller(baseUrl, api.config);
    await expect(seedDemo(call)).resolves.toEqual({ seeded: true });
    await expect(seedDemo(call)).resolves.toEqual({ seeded: false });
    const organizations = await api.http
      .get('/v1/organizations')
      .set('authorization', `Bearer ${api.adminToken}`)
      .expect(200);
    expect((organizations.body.items as { type: string }[]).map((org) => org.type).sort()).toEqual([
      'research_institute',
      'sme',
      'startup',
      'university',
    ]);
    // The README's users can sign in and the PI sees the project.
    const pi = await api.login('pi@kaist.demo', DEMO_PASSWORD);
    const me = await api.http.get('/v1/me').set('authorization', `Bearer ${pi}`).expect(200);
    expect(me.body.projects).toEqual([expect.objectContaining({ role: 'pi' })]);
    await api.login('reviewer1@etri.demo', DEMO_PASSWORD);
    await api.login('finance@nipa.demo', DEMO_PASSWORD);
    // The live demo's project went from request to an approved, active allocation.
    const sweeper = await api.login('pi@hangang.demo', DEMO_PASSWORD);
    const requests = await api.http
      .get('/v1/allocation-requests')
      .set('authorization', `Bearer ${sweeper}`)
      .expect(200);
    expect(requests.body.items).toEqual([expect.objectContaining({ status: 'approved' })]);
  });
});
