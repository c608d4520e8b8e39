import { jestConfig } from './jest.base.js';

// The reliability suite (`npm run test:chaos`): fuzzing, the authorization matrix, duplicates and
// process/Redis/PostgreSQL faults under load. Slow and machine-hungry, so one file at a time and
// not a tier of `npm test`; CI runs it after `npm test` (.ci/run).
export default jestConfig({
  displayName: 'chaos',
  testMatch: ['<rootDir>/test/reliability/**/*.chaos-spec.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  testTimeout: 900000,
  maxWorkers: 1,
});
