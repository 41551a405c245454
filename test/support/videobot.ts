// Runs `videobot` for tests: commands in this process through bot/main.ts's main (what bin/videobot.mjs calls, with a
// test's stdout, stderr and signals), or the real entry point, bin/videobot.mjs, as a child process (spawnVideobot: the
// one end-to-end run of it). Bots that need a process of their own (beside a command, killed and started again) run
// from a bundle of bot/main.ts instead: support/harness.ts botBundle.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { InterruptSignal } from '../../bot/cli.js';
import { main } from '../../bot/main.js';
import { REPO_ROOT } from './video.js';

export interface CommandRun {
  /** What the command has written so far. */
  out(): string;
  err(): string;
  /** Its exit code, as bin/videobot.mjs would exit with it. */
  readonly exit: Promise<number>;
  /** Ctrl-C (SIGINT), `timeout` (SIGTERM) or a closed terminal (SIGHUP), as the process would receive it. */
  signal(signal: InterruptSignal): void;
}

/** `videobot ...args` in this process with `env` as its whole environment. */
export function startCommand(args: readonly string[], env: NodeJS.ProcessEnv): CommandRun {
  let out = '';
  let err = '';
  const signals = new EventEmitter();
  const exit = main(args, env, { stdout: collect((s) => (out += s)), stderr: collect((s) => (err += s)), signals });
  return { out: () => out, err: () => err, exit, signal: (s) => void signals.emit(s, s) };
}

/** `videobot ...args` in this process until it ends. */
export async function runCommand(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string; stderr: string }> {
  const run = startCommand(args, env);
  const status = await run.exit;
  return { status, stdout: run.out(), stderr: run.err() };
}

function collect(append: (text: string) => void): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      append(chunk.toString());
      done();
    },
  });
}

/**
 * The real entry point, as `npx videobot` starts it: bin/videobot.mjs on this Node. Where this Node is older than
 * package.json's engines, bin/ would switch to the Node in .tools/, whose native addons differ from the ones
 * node_modules was built for here; then bot/main.ts runs through tsx, as bin/ runs it after the switch.
 */
export const VIDEOBOT_ENTRY: readonly string[] = nodeMeetsEngines() ? [join(REPO_ROOT, 'bin', 'videobot.mjs')] : ['--import', 'tsx', join(REPO_ROOT, 'bot', 'main.ts')];

function nodeMeetsEngines(): boolean {
  const engines = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node ?? '';
  return Number(process.versions.node.split('.')[0]) >= Number(/>=\s*(\d+)/.exec(engines)?.[1] ?? 0);
}

export interface VideobotProcess {
  readonly proc: ChildProcessWithoutNullStreams;
  out(): string;
  err(): string;
  readonly exit: Promise<number | null>;
}

/** `videobot ...args` as a child process (cwd: the repository) with `env` as its whole environment. */
export function spawnVideobot(args: readonly string[], env: NodeJS.ProcessEnv): VideobotProcess {
  const proc = spawn(process.execPath, [...VIDEOBOT_ENTRY, ...args], { cwd: REPO_ROOT, env });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, out: () => out, err: () => err, exit };
}
