import { defineConfig } from 'vitest/config';
import Sequencer from './test/support/sequencer.js';

// docs/testing.md: what each suite runs against, and the suite's time per file before and after.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fork server: real tiny-random jobs fork from one interpreter with torch & co. imported (docs/testing.md).
    globalSetup: ['test/global-setup.ts', 'test/aws/moto-global.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // CI has two cores; integration suites start servers and Python children.
    maxWorkers: 2,
    // CPU-heavy files without Python first, while the fork server imports torch; then vitest's longest-first order.
    sequence: { sequencer: Sequencer },
    // Each worker loads the SDKs (Bolt, discord.js, the AWS clients) once for all the files it runs, not once per
    // file: that load was most of the suite's import time. So a test file must leave nothing behind for the next
    // one: no vi.mock, no fake timers, no process-wide listeners; servers, stores and child processes closed in
    // afterEach/afterAll. (process.env: only the dummy AWS credentials of test/aws/moto.ts, the same for every file.)
    isolate: false,
    // Anything slower than this is listed as slow in the report; the suite's own numbers are in docs/testing.md.
    slowTestThreshold: 1000,
  },
});
