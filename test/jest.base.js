// Shared Jest settings: ESM TypeScript through SWC (see STACK-NOTES.md), run with
// NODE_OPTIONS=--experimental-vm-modules. SWC does not type-check; `npm run typecheck` does.
const swc = {
  jsc: {
    target: 'es2023',
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    keepClassNames: true,
  },
  module: { type: 'es6' },
  sourceMaps: 'inline',
  swcrc: false,
};

export function jestConfig(overrides) {
  return {
    rootDir: '..',
    testEnvironment: 'node',
    extensionsToTreatAsEsm: ['.ts'],
    transform: { '^.+\\.ts$': ['@swc/jest', swc] },
    moduleNameMapper: {
      '^#domain$': '<rootDir>/libs/domain/src/index.ts',
      '^#config$': '<rootDir>/libs/config/src/index.ts',
      '^#persistence$': '<rootDir>/libs/persistence/src/index.ts',
      '^#queues$': '<rootDir>/libs/queues/src/index.ts',
      '^#application$': '<rootDir>/libs/application/src/index.ts',
      '^(\\.{1,2}/.*)\\.js$': '$1',
    },
    testPathIgnorePatterns: ['/node_modules/', '/dist/'],
    ...overrides,
  };
}
