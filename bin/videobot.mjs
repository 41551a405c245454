#!/usr/bin/env node
// `npx videobot ...`: runs bot/main.ts through tsx, so no build step is needed.
// On a Node older than package.json's engines, it runs itself again on the Node that `npm run setup`
// installed into .tools/ (scripts/with-node.sh), which node_modules' native addons are built for.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

const root = new URL('../', import.meta.url);
const projectNode = supportedNodeInstead();
if (projectNode) {
  runOn(projectNode);
} else {
  register();
  const { main } = await import('../bot/main.ts');
  let code;
  try {
    code = await main(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`videobot stopped on an unexpected error: ${err?.stack ?? String(err)}\n`);
    code = 70;
  }
  // Exit now (codes: `videobot help`): a handle left open by a client library must not keep a finished command waiting.
  process.exit(code);
}

/** The Node in .tools/ when this one is older than package.json's engines allow (and that one is installed). */
function supportedNodeInstead() {
  const engines = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')).engines?.node ?? '';
  const minMajor = Number(/>=\s*(\d+)/.exec(engines)?.[1] ?? 0);
  if (Number(process.versions.node.split('.')[0]) >= minMajor) return undefined;
  const pinned = readFileSync(new URL('.nvmrc', root), 'utf8').trim().replace(/^v/, '');
  const node = fileURLToPath(new URL(`.tools/node-${pinned}/node_modules/node/bin/node`, root));
  return existsSync(node) ? node : undefined;
}

/**
 * Runs this file on `node` with the same arguments and terminal, and ends as it ends. Ctrl-C reaches
 * both processes from the terminal, so SIGINT is not passed on (the child would see it twice);
 * SIGTERM and SIGHUP, which may be sent to this process alone, are.
 */
function runOn(node) {
  // Listening before the child exists: a SIGTERM that comes while it starts must not end this process alone.
  process.on('SIGINT', () => {});
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  const child = spawn(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  child.on('error', (error) => {
    console.error(`error: could not start ${node}: ${error.message}`);
    process.exitCode = 1;
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else {
      process.exitCode = code ?? 1;
    }
  });
}
