import { jestConfig } from './jest.base.js';

export default jestConfig({
  displayName: 'integration',
  testMatch: ['<rootDir>/test/integration/**/*.int-spec.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  testTimeout: 120000,
  maxWorkers: 2,
});
