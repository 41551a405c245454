// The bot's container image (root Dockerfile, .dockerignore) against what the bot needs and the task definition expects.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { startHealthServer } from '../../bot/health.js';
import { HEALTH_PORT } from '../../infra/bot-environment.js';
import { freePort } from '../aws/moto.js';
import { testLogger } from '../support/harness.js';
import { synthesize } from './stacks.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
/** The runtime stage: everything after the last FROM. */
const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

/** What a `.dockerignore` of the form `*`, `!keep`…, `pattern-to-drop`… lets into the build context. */
function inContext(path: string): boolean {
  const lines = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  expect(lines[0]).toBe('*');
  let included = false;
  for (const line of lines.slice(1)) {
    const negated = line.startsWith('!');
    const pattern = (negated ? line.slice(1) : line).replace(/\/$/, '');
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*')}(/.*)?$`);
    if (re.test(path)) included = negated;
  }
  return included;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

function run(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    execFile(process.execPath, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

describe('bot image', () => {
  const scratch: string[] = [];
  afterAll(() => {
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  it('runs as the unprivileged node user, with ffmpeg and the health port the task definition probes', () => {
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/apt-get install[^\n]*\bffmpeg\b/);
    expect(runtime).toMatch(/VIDEOBOT_FFMPEG=\/usr\/bin\/ffmpeg/);
    expect(runtime).toMatch(new RegExp(`VIDEOBOT_HEALTH_PORT=${HEALTH_PORT}\\b`));
    expect(runtime).toMatch(/^CMD \["node", "--import", "tsx", "bot\/main\.ts"\]$/m);
  });

  it('keeps what it runs with in the production dependencies (npm ci --omit=dev)', () => {
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    for (const name of ['tsx', 'better-sqlite3', 'pino', 'zod']) expect(pkg.dependencies, name).toHaveProperty(name);
  });

  it('has a build context holding every file the bot loads outside bot/', () => {
    const outside = new Set<string>();
    for (const file of filesUnder(join(root, 'bot')).filter((f) => f.endsWith('.ts'))) {
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
        const target = relative(root, resolve(dirname(file), spec!.replace(/\.js$/, '.ts')));
        if (!target.startsWith('bot/')) outside.add(target);
      }
    }
    expect([...outside]).toContain('processing/presets.json');
    expect([...outside]).toContain('processing/limits.json');
    for (const path of outside) expect(inContext(path), path).toBe(true);
    for (const path of ['bot/main.ts', 'bot/aws/backend.ts', 'package.json', 'package-lock.json', 'tsconfig.json']) expect(inContext(path), path).toBe(true);
    for (const path of ['infra/app.ts', 'processing/job.py', 'test/aws/moto.ts', '.env', 'var/videobot.db', 'node_modules/tsx/package.json']) {
      expect(inContext(path), path).toBe(false);
    }
  });

  it('starts from the files the context holds, as its CMD runs it', async () => {
    const app = mkdtempSync(join(tmpdir(), 'videobot-image-'));
    scratch.push(app);
    for (const file of [...filesUnder(join(root, 'bot')), join(root, 'processing/presets.json'), join(root, 'processing/limits.json'), join(root, 'package.json'), join(root, 'tsconfig.json')]) {
      const rel = relative(root, file);
      if (inContext(rel)) cpSync(file, join(app, rel), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'), 'dir');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)![1]!) as string[];
    expect(cmd[0]).toBe('node');
    const help = await run([...cmd.slice(1), 'help'], app);
    expect(help.out).toContain('videobot models stage');
    expect(help.code).toBe(0);
  });

  it('health-checks /healthz with the same command as the task definition: unhealthy until ready, then healthy', async () => {
    const check = /HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])/.exec(runtime);
    expect(check).not.toBeNull();
    const command = JSON.parse(check![1]!) as string[];
    expect(command.join(' ')).toContain(`http://127.0.0.1:${HEALTH_PORT}/healthz`);
    const task = Object.values(Template.fromStack(synthesize().service).findResources('AWS::ECS::TaskDefinition'))[0]!;
    expect(task.Properties.ContainerDefinitions[0].HealthCheck.Command).toEqual(['CMD', ...command]);
    const port = await freePort();
    const probe = command.slice(1).map((a) => a.replace(`:${HEALTH_PORT}/`, `:${port}/`));
    expect((await run(probe, root)).code).not.toBe(0); // nothing listening
    const health = await startHealthServer(port, testLogger());
    try {
      expect((await run(probe, root)).code).not.toBe(0); // listening, still starting: 503
      health.ready();
      expect((await run(probe, root)).code).toBe(0);
    } finally {
      await health.close();
    }
  });
});
