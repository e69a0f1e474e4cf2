import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The real muse client's suite has its own command (npm run test:client): it needs ../shared.
    exclude: ['test/client/**', '**/node_modules/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Each file gets its own database, so files run in parallel across workers.
    pool: 'forks',
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
