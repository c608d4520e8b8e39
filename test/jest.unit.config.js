import { jestConfig } from './jest.base.js';

export default jestConfig({ displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] });
