import { auditJson } from './audit-json.js';

describe('auditJson', () => {
  it('keeps bigint amounts exact as decimal strings', () => {
    expect(auditJson({ granted: 9007199254740993n, lines: [{ gpuSeconds: 3600n }] })).toEqual({
      granted: '9007199254740993',
      lines: [{ gpuSeconds: '3600' }],
    });
  });

  it('stores nothing for missing values and wraps scalars', () => {
    expect(auditJson(undefined)).toBeNull();
    expect(auditJson(null)).toBeNull();
    expect(auditJson('approved')).toEqual({ value: 'approved' });
  });
});
