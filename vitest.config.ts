import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // CI has two cores; integration suites start servers and Python children.
    maxWorkers: 2,
  },
});
