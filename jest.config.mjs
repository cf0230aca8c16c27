// Projects: `unit` (pure logic, no services), `bundle` (the CLI's tests against its bundle), `chart` (needs helm), `integration` (needs
// `scripts/testenv up`) and `cluster` (needs `scripts/testenv cluster up`).
// TypeScript runs straight from source through SWC as native ESM.
const shared = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'es6' },
      },
    ],
  },
  moduleNameMapper: {
    '^@launch-agent/(config|runtime)$': '<rootDir>/packages/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
  // etcd's data dirs under .testenv/ hold `*.snap` files, which jest would call obsolete snapshots.
  modulePathIgnorePatterns: ['<rootDir>/.testenv/'],
};

export default {
  // Jest reads testTimeout only at the top level; unit tests finish long before it.
  testTimeout: 120000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/packages/*/test/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'],
      // The bundle's own checks run once, in the bundle project.
      testPathIgnorePatterns: ['<rootDir>/packages/cli/test/bundle.test.ts'],
    },
    {
      // The CLI's tests again, each command run as `node packages/cli/dist/bin.js` (the bundle
      // `pnpm build` writes), so what ships is what is tested.
      ...shared,
      displayName: 'bundle',
      testMatch: [
        '<rootDir>/packages/cli/test/cli.test.ts',
        '<rootDir>/packages/cli/test/tenant-namespace.test.ts',
        '<rootDir>/packages/cli/test/bundle.test.ts',
      ],
      setupFiles: ['<rootDir>/packages/cli/test/bundle-mode.ts'],
    },
    {
      // Needs helm on PATH (scripts/install-chart-tools); scripts/test-chart runs it.
      ...shared,
      displayName: 'chart',
      testMatch: ['<rootDir>/test/chart/**/*.test.ts'],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
    },
    {
      // A real single-node cluster (`scripts/testenv cluster up`); only `pnpm test:cluster` runs it.
      ...shared,
      displayName: 'cluster',
      testMatch: ['<rootDir>/test/cluster/**/*.test.ts'],
    },
  ],
};
