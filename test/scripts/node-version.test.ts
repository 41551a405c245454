// One supported Node everywhere: the bot image, package.json's engines, .nvmrc (what scripts/with-node.sh
// installs on an older machine), and the Node that `npm test` / `npm run bot` end up on, on which the AWS SDK
// must not warn (it does on Node 20, which reached end of life in April 2026).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/video.js';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const pinnedMajor = Number(read('.nvmrc').trim().split('.')[0]);
const enginesMajor = Number(/^>=\s*(\d+)$/.exec(JSON.parse(read('package.json')).engines.node)?.[1]);

describe('the Node the project runs on', () => {
  it('package.json engines asks for a Node that is still supported, and .nvmrc pins one that meets it', () => {
    expect(enginesMajor).toBeGreaterThanOrEqual(22);
    expect(pinnedMajor).toBeGreaterThanOrEqual(enginesMajor);
    expect(pinnedMajor % 2, 'an LTS (even) major').toBe(0);
  });

  it('pins no Node that aborts in better-sqlite3 12 (Node 24.19+ runs ObjectWrap cleanup hooks it cannot survive)', () => {
    // nodejs/node#65446: from 24.19, an addon built on node::ObjectWrap aborts the process with
    // "Assertion failed: (env) != nullptr" when an object is collected at the wrong moment; better-sqlite3
    // moved to Node-API in 13. The suite hit it on 24.21.0 (test/local, test/slack).
    const sqliteMajor = Number(JSON.parse(read('node_modules/better-sqlite3/package.json')).version.split('.')[0]);
    if (sqliteMajor < 13) expect(pinnedMajor).toBeLessThan(24);
  });

  it('the bot image is built and run on the pinned major', () => {
    const images = [...read('Dockerfile').matchAll(/^FROM\s+node:(\S+)/gm)].map((m) => m[1]);
    expect(images).toEqual([`${pinnedMajor}-slim`, `${pinnedMajor}-slim`]);
  });

  it('the AWS SDK prints no Node version warning on the Node that the npm scripts run', () => {
    const r = spawnSync(
      'bash',
      ['scripts/with-node.sh', 'node', '-e', "new (require('@aws-sdk/client-s3').S3Client)({ region: 'us-east-1' }); console.log(process.versions.node)"],
      { cwd: REPO_ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(Number(r.stdout.trim().split('.')[0])).toBeGreaterThanOrEqual(enginesMajor);
    expect(r.stderr).not.toMatch(/NodeVersionSupportWarning|upgrade to node/);
  }, 120_000);
});
