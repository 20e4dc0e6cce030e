import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'services/*/test/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'e2e/test/**/*.test.ts',
    ],
    globalSetup: ['packages/testing/src/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Test files share one Redis and one S3 server; each uses its own key prefix and bucket.
    pool: 'forks',
  },
});
