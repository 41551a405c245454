// Resident processing workers (`python -m processing serve`): one long-lived Python process per job slot, one job at a time each.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '../core/ports.js';
import { killGroup } from './processes.js';

export interface WorkerOptions {
  readonly python: string;
  /** The command that starts the worker, before its flags; default `[python, '-m', 'processing', 'serve']` (tests: a stub job). */
  readonly command?: readonly string[];
  readonly cwd: string;
  /** `python -m processing serve` flags: --models-dir, --device, --allow-download. */
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  readonly logger: Logger;
  /** After a cancel, how long the worker gets to reach its next step before it is killed. */
  readonly cancelGraceMs?: number;
  /** On shutdown, how long a worker gets to exit after its stdin closes before it is killed. */
  readonly stopGraceMs?: number;
}

/** How a job on a worker ended: the worker's report, or the worker's own exit while the job ran. */
export interface WorkerJobEnd {
  readonly status: 'completed' | 'failed' | 'cancelled' | 'rejected' | 'worker-exited';
  /** The job's exit code (as `processing run` would have exited), or the worker's when it died. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A job handed to a worker. */
export interface WorkerJob {
  readonly pid: number;
  readonly done: Promise<WorkerJobEnd>;
  /** Asks the worker to stop the job at its next step; kills the worker if it does not within the grace. */
  cancel(): void;
  /** Ends the job now by killing its worker (time limit); the next job gets a fresh worker. */
  kill(): void;
  /** The worker's recent stderr (its logs), for the runner's error log. */
  stderrTail(): string;
}

interface Current {
  readonly jobId: string;
  readonly resolve: (end: WorkerJobEnd) => void;
  cancelTimer?: ReturnType<typeof setTimeout>;
}

const CANCEL_GRACE_MS = 15_000;
// The worker itself exits at most 5 s after its stdin closes (processing/serve.py STOP_GRACE_S).
const STOP_GRACE_MS = 8_000;

/** One `python -m processing serve` process. Ends when its stdin closes (the bot stopped or died). */
export class ResidentWorker {
  readonly pid: number;
  private readonly child: ChildProcess;
  private current: Current | undefined;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;
  private stderr = '';
  private readonly log: Logger;

  constructor(private readonly options: WorkerOptions) {
    const [command, ...prefix] = options.command ?? [options.python, '-m', 'processing', 'serve'];
    this.child = spawn(command!, [...prefix, ...options.args], {
      cwd: options.cwd,
      env: options.env,
      // Own process group: a Ctrl-C at the terminal reaches the bot, which stops its workers in order.
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (this.child.pid === undefined) {
      this.child.on('error', () => {}); // the spawn error is reported by the throw below
      throw new Error(`could not start ${[command, ...prefix].join(' ')}`);
    }
    this.pid = this.child.pid;
    this.log = options.logger.child({ component: 'worker', pid: this.pid });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal };
        this.log.info({ code, signal }, 'resident worker exited');
        this.finishCurrent({ status: 'worker-exited', code, signal });
        resolve();
      });
    });
    this.child.on('error', (err) => this.log.error({ err }, 'resident worker error'));
    // A write after the worker died fails with EPIPE; the close handler reports the job.
    this.child.stdin!.on('error', (err) => this.log.debug({ err }, 'resident worker stdin closed'));
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
      this.log.debug({ err: d.toString().trimEnd() }, 'processing stderr');
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line));
    this.log.info({ args: options.args.join(' ') }, 'resident worker started');
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  run(jobId: string, inputDir: string, outputDir: string): WorkerJob {
    if (!this.alive || this.current) throw new Error(`worker ${this.pid} cannot take job ${jobId}`);
    const done = new Promise<WorkerJobEnd>((resolve) => (this.current = { jobId, resolve }));
    this.stderr = '';
    this.send({ id: jobId, input: inputDir, output: outputDir });
    return {
      pid: this.pid,
      done,
      cancel: () => this.cancel(jobId),
      kill: () => this.kill(),
      stderrTail: () => this.stderr,
    };
  }

  private cancel(jobId: string): void {
    const current = this.current;
    if (current?.jobId !== jobId || current.cancelTimer) return;
    this.send({ cancel: jobId });
    current.cancelTimer = setTimeout(() => {
      this.log.warn({ jobId }, 'the worker did not stop the cancelled job in time; killing it');
      this.kill();
    }, this.options.cancelGraceMs ?? CANCEL_GRACE_MS);
  }

  kill(): void {
    if (!this.alive) return;
    killGroup(this.pid, 'SIGKILL');
  }

  /** Closes stdin (the worker stops its job at the next step and exits); kills it if it lingers. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.stdin!.end();
    const grace = setTimeout(() => this.kill(), this.options.stopGraceMs ?? STOP_GRACE_MS);
    await this.exited;
    clearTimeout(grace);
  }

  private send(message: Record<string, unknown>): void {
    if (!this.alive || this.child.stdin!.destroyed) return;
    this.child.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  private onLine(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.log.warn({ line: line.slice(0, 200) }, 'resident worker wrote a line that is not JSON');
      return;
    }
    if (message.ready === true) return;
    if (this.current && message.id === this.current.jobId) {
      const status = String(message.status) as WorkerJobEnd['status'];
      const code = typeof message.exit_code === 'number' ? message.exit_code : null;
      this.log.info({ jobId: message.id, status, resident: message.resident }, 'resident worker finished a job');
      this.finishCurrent({ status, code, signal: null });
    }
  }

  private finishCurrent(end: WorkerJobEnd): void {
    const current = this.current;
    if (!current) return;
    this.current = undefined; // idle before anyone hears of it: the next job may come at once
    clearTimeout(current.cancelTimer);
    current.resolve(end);
  }
}

/** One resident worker per job slot: started on the slot's first job, replaced when it has died. */
export class WorkerPool {
  private readonly workers: ResidentWorker[] = [];

  constructor(private readonly options: WorkerOptions & { readonly size: number }) {}

  /** Hands the job to an idle live worker, starting one if none is. */
  run(jobId: string, inputDir: string, outputDir: string): WorkerJob {
    for (let i = this.workers.length - 1; i >= 0; i--) if (!this.workers[i]!.alive) this.workers.splice(i, 1);
    let worker = this.workers.find((w) => !w.busy);
    if (!worker) {
      if (this.workers.length >= this.options.size) throw new Error(`all ${this.options.size} workers are busy`);
      worker = new ResidentWorker(this.options);
      this.workers.push(worker);
    }
    return worker.run(jobId, inputDir, outputDir);
  }

  /** Pids of the live workers (for tests and logs). */
  get pids(): number[] {
    return this.workers.filter((w) => w.alive).map((w) => w.pid);
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    this.workers.length = 0;
  }
}
