import { defineConfig } from 'vitest/config';

/**
 * `npm run test:client`: the unmodified muse client against real gateways. Needs
 * ../shared/platform/muse-client (or MUSEHUB_SHARED_DIR) and root; fails — never skips — without.
 */
export default defineConfig({
  test: {
    include: ['test/client/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts', 'test/client/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 900_000,
    pool: 'forks',
    // Each scenario already runs a gateway and a client process (and nginx, Swift): two files at once fill 2 cores.
    maxWorkers: 2,
  },
});
