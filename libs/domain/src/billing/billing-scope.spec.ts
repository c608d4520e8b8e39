import type { Principal, Role } from '../access/principal.js';
import { agencyInScope, agencyVisibleTo, billingScopeOf } from './billing-scope.js';

const user = (roles: Role[], agencyCode: string | null): Principal => ({
  kind: 'user',
  userId: '00000000-0000-4000-8000-000000000001',
  email: 'u@example.org',
  roles,
  organizationId: null,
  agencyCode,
});

describe('billingScopeOf', () => {
  it('gives admins and pool finance users every agency, an agency’s finance user theirs', () => {
    expect(billingScopeOf(user(['admin'], 'NIPA'))).toEqual({ kind: 'all' });
    expect(billingScopeOf(user(['finance'], null))).toEqual({ kind: 'all' });
    expect(billingScopeOf(user(['finance'], 'NIPA'))).toEqual({ kind: 'agency', agencyCode: 'NIPA' });
  });

  it('refuses anyone else with ROLE_REQUIRED', () => {
    expect(() => billingScopeOf(user(['operator', 'reviewer'], null))).toThrow(
      expect.objectContaining({ code: 'ROLE_REQUIRED' }),
    );
    expect(() =>
      billingScopeOf({ kind: 'api_token', tokenId: 't', scopes: [], createdBy: 'u' } as unknown as Principal),
    ).toThrow(expect.objectContaining({ code: 'ROLE_REQUIRED' }));
  });
});

describe('agencyInScope', () => {
  it('gives an agency’s finance user their agency and refuses another', () => {
    const scope = { kind: 'agency', agencyCode: 'NIPA' } as const;
    expect(agencyInScope(scope, undefined)).toBe('NIPA');
    expect(agencyInScope(scope, 'NIPA')).toBe('NIPA');
    expect(() => agencyInScope(scope, 'KISTI')).toThrow(
      expect.objectContaining({ code: 'AGENCY_OUT_OF_SCOPE' }),
    );
    expect(agencyVisibleTo(scope, 'KISTI')).toBe(false);
  });

  it('gives the others what they asked for (null: every agency)', () => {
    expect(agencyInScope({ kind: 'all' }, undefined)).toBeNull();
    expect(agencyInScope({ kind: 'all' }, 'KISTI')).toBe('KISTI');
    expect(agencyVisibleTo({ kind: 'all' }, null)).toBe(true);
  });
});
