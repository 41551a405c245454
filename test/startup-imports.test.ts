// A local bot on the terminal chat starts without loading the chat platforms' or AWS's SDKs (bot/main.ts and
// bot/chat/registry.ts import them when the config chooses them): discord.js, Bolt and the AWS clients cost ~1.5 s a start.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/video.js';

/** A module loader hook that prints every package the process resolves (ESM and CommonJS entry points alike). */
const HOOK = `
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  const m = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(result.url);
  if (m) process.stderr.write('PACKAGE ' + m[1] + '\\n');
  return result;
}`;
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOK)}`)});`;

/** Runs `videobot` (bot/main.ts main) with this environment and the terminal's input closed; the packages it loaded. */
function packagesLoaded(argv: string[], env: Record<string, string>): { code: number | null; packages: Set<string>; stderr: string } {
  const script = `const { main } = await import('./bot/main.ts'); process.exitCode = await main(${JSON.stringify(argv)}, process.env);`;
  const run = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    input: '',
    encoding: 'utf8',
    timeout: 60_000,
  });
  const packages = new Set([...run.stderr.matchAll(/^PACKAGE (\S+)$/gm)].map((m) => m[1]!));
  return { code: run.status, packages, stderr: run.stderr };
}

const SDK = /^(discord\.js|@discordjs\/|@slack\/|@aws-sdk\/|@smithy\/)/;


describe('start-up imports', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'videobot-startup-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('a local bot on the terminal chat loads no chat platform or AWS SDK', () => {
    // The test model on the CPU skips the GPU probe; VIDEOBOT_PYTHON only has to be an executable file to start.
    const run = packagesLoaded([], {
      VIDEOBOT_CHAT: 'shell',
      VIDEOBOT_BACKEND: 'local',
      VIDEOBOT_DATA_DIR: dataDir,
      VIDEOBOT_DEFAULT_MODEL: 'tiny-random',
      VIDEOBOT_DEVICE: 'cpu',
      VIDEOBOT_PYTHON: process.execPath,
      VIDEOBOT_HEALTH_PORT: '0',
    });
    expect(run.code, run.stderr).toBe(0);
    // The hook sees the bot's own packages: the SQLite store's and the logger's.
    expect(run.packages).toContain('better-sqlite3');
    expect(run.packages).toContain('pino');
    expect([...run.packages].filter((p) => SDK.test(p))).toEqual([]);
  });

  it('the hook notices an SDK: `discord register` loads discord.js', () => {
    // No network: the token is refused by a local address nobody listens on, after discord.js is loaded.
    const run = packagesLoaded(['discord', 'register'], {
      VIDEOBOT_DATA_DIR: dataDir,
      DISCORD_TOKEN: 'x',
      DISCORD_APPLICATION_ID: '1',
      DISCORD_API_URL: 'http://127.0.0.1:9/api',
    });
    expect(run.packages).toContain('discord.js');
  });
});
