// The real LocalRunner, running the real processing job from .venv on the CPU, for integration tests.
import { join } from 'node:path';
import type { FsObjectStore } from '../../bot/local/files.js';
import { LocalRunner } from '../../bot/local/runner.js';
import { testLogger } from './harness.js';
import { PYTHON, REPO_ROOT } from './video.js';

export function realLocalRunner(objects: FsObjectStore, concurrency = 1): LocalRunner {
  return new LocalRunner({
    python: PYTHON,
    cwd: REPO_ROOT,
    inputDir: (id) => objects.inputDir(id),
    outputDir: (id) => objects.outputDir(id),
    modelsDir: join(objects.root, 'models'),
    allowDownload: false,
    device: 'cpu',
    concurrency,
    timeoutMs: 120_000,
    pollMs: 50,
    logger: testLogger(),
    env: { PATH: process.env.PATH },
  });
}
