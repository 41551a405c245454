// The real LocalRunner for integration tests: the options every test shares, and the runner on the real processing job.
import { join } from 'node:path';
import type { FsObjectStore } from '../../bot/local/files.js';
import { LocalRunner, type LocalRunnerOptions } from '../../bot/local/runner.js';
import { testLogger } from './harness.js';
import { PYTHON, REPO_ROOT } from './video.js';

/** A one-slot CPU LocalRunner's options over `objects` (the venv's python, the repo as cwd, no downloads), with `overrides`. */
export function testRunnerOptions(objects: FsObjectStore, overrides: Partial<LocalRunnerOptions> = {}): LocalRunnerOptions {
  return {
    python: PYTHON,
    cwd: REPO_ROOT,
    inputDir: (id) => objects.inputDir(id),
    outputDir: (id) => objects.outputDir(id),
    modelsDir: join(objects.root, 'models'),
    allowDownload: false,
    device: 'cpu',
    concurrency: 1,
    timeoutMs: 120_000,
    pollMs: 50,
    logger: testLogger(),
    env: { PATH: process.env.PATH },
    ...overrides,
  };
}

/** The real LocalRunner running the real processing job from .venv on the CPU. */
export function realLocalRunner(objects: FsObjectStore, concurrency = 1): LocalRunner {
  return new LocalRunner(testRunnerOptions(objects, { concurrency }));
}
