// Runner that starts the processing job as a child process on this machine and watches its output folder.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OUTPUT_FILES, parseFailure, parseMetadata, parseProgress } from '../core/contract.js';
import type { Job } from '../core/job.js';
import type { Logger, Runner, RunnerEvent, RunnerStatus } from '../core/ports.js';
import { killGroup, processAlive } from './processes.js';
import { WorkerPool, type WorkerJob } from './worker.js';

export interface LocalRunnerOptions {
  /** The Python interpreter with processing/requirements installed. */
  readonly python: string;
  /** The repository root: `python -m processing` runs here. */
  readonly cwd: string;
  readonly inputDir: (jobId: string) => string;
  readonly outputDir: (jobId: string) => string;
  readonly modelsDir: string;
  readonly allowDownload: boolean;
  readonly device: 'auto' | 'cpu' | 'cuda';
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly pollMs?: number;
  readonly logger: Logger;
  /** Environment for the child; secrets of the bot never reach it. */
  readonly env?: Record<string, string | undefined>;
  /** Run jobs on resident workers (`python -m processing serve`, one per slot, model kept loaded) instead of one process per job. */
  readonly residentWorker?: boolean;
  /** The command that runs one job, before its flags; default `[python, '-m', 'processing', 'run']` (tests: a stub job). */
  readonly jobCommand?: readonly string[];
  /** The command that starts a resident worker, before its flags; default `[python, '-m', 'processing', 'serve']`. */
  readonly workerCommand?: readonly string[];
  /** Resident workers: how long a cancelled job / a stopping worker gets before the worker is killed (bot/local/worker.ts). */
  readonly workerGrace?: { readonly cancelGraceMs?: number; readonly stopGraceMs?: number };
}

interface Running {
  readonly job: Job;
  child?: ChildProcess;
  pid?: number;
  onWorker?: WorkerJob;
  lastProgress?: string;
  poll?: ReturnType<typeof setInterval>;
  watcher?: FSWatcher;
  timeout?: ReturnType<typeof setTimeout>;
  /** The write of the pid file; finish() waits for it, so the file it removes is never written after. */
  pidWritten?: Promise<void>;
  cancelled: boolean;
  timedOut: boolean;
}

const ENV_ALLOW = /^(PATH|HOME|LANG|LC_[A-Z]+|TMPDIR|TZ|CUDA_[A-Z_]+|NVIDIA_[A-Z_]+|PYTORCH_[A-Z_]+|HF_[A-Z_]+|OMP_NUM_THREADS|MKL_NUM_THREADS|LD_LIBRARY_PATH|VIRTUAL_ENV)$/;

export class LocalRunner implements Runner {
  private readonly running = new Map<string, Running>();
  private readonly waiting: Job[] = [];
  private onEvent: ((event: RunnerEvent) => Promise<void>) | undefined;
  private stopping = false;
  private readonly log: Logger;
  private readonly pool: WorkerPool | undefined;

  /** The time limit the runner enforces itself; the service's store-side check backs it up. */
  get maxRuntimeMs(): number {
    return this.options.timeoutMs;
  }

  constructor(private readonly options: LocalRunnerOptions) {
    this.log = options.logger.child({ component: 'local-runner' });
    if (options.residentWorker) {
      this.pool = new WorkerPool({
        size: options.concurrency,
        python: options.python,
        ...(options.workerCommand ? { command: options.workerCommand } : {}),
        cwd: options.cwd,
        args: ['--models-dir', options.modelsDir, '--device', options.device, ...(options.allowDownload ? ['--allow-download'] : [])],
        env: childEnv(options.env ?? {}),
        logger: this.log,
        ...options.workerGrace,
      });
    }
  }

  /** Pids of the live resident workers. */
  get workerPids(): number[] {
    return this.pool?.pids ?? [];
  }

  async start(onEvent: (event: RunnerEvent) => Promise<void>): Promise<void> {
    this.onEvent = onEvent;
    this.stopping = false;
  }

  async submit(job: Job): Promise<{ ref: string }> {
    const ref = `local:${job.id}`;
    if (this.running.has(job.id) || this.waiting.some((j) => j.id === job.id)) return { ref };
    this.waiting.push(job);
    this.next();
    return { ref };
  }

  private next(): void {
    while (!this.stopping && this.running.size < this.options.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      void this.launch(job).catch((err) => {
        this.log.error({ jobId: job.id, err }, 'could not start the processing job');
        this.running.delete(job.id);
        void this.emit({ jobId: job.id, kind: 'failed', failure: { code: 'INTERNAL_ERROR', message: 'The processing job could not be started on this machine.', retryable: false } });
        this.next();
      });
    }
  }

  private async launch(job: Job): Promise<void> {
    const slot: Running = { job, cancelled: false, timedOut: false };
    this.running.set(job.id, slot);
    const out = this.options.outputDir(job.id);
    await rm(out, { recursive: true, force: true });
    await mkdir(out, { recursive: true });
    // Cancelled while the folder was prepared: start nothing (kill() had no process to stop yet).
    if (slot.cancelled) {
      void this.finish(slot, null, null, '').finally(() => this.next());
      return;
    }
    if (this.pool) return this.launchOnWorker(slot, this.pool);
    const [command, ...prefix] = this.options.jobCommand ?? [this.options.python, '-m', 'processing', 'run'];
    const args = [
      ...prefix,
      '--input-dir', this.options.inputDir(job.id),
      '--output-dir', out,
      '--models-dir', this.options.modelsDir,
      '--device', this.options.device,
      ...(this.options.allowDownload ? ['--allow-download'] : []),
    ];
    const child = spawn(command!, args, {
      cwd: this.options.cwd,
      env: childEnv(this.options.env ?? {}),
      // Own process group: a crash of the bot leaves the job running, and the next start adopts it.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    slot.child = child;
    slot.pid = child.pid;
    const jlog = this.log.child({ jobId: job.id, pid: child.pid });
    let stderrTail = '';
    child.stdout?.on('data', (d: Buffer) => jlog.debug({ out: d.toString().trimEnd() }, 'processing stdout'));
    child.stderr?.on('data', (d: Buffer) => {
      stderrTail = (stderrTail + d.toString()).slice(-4000);
      jlog.debug({ err: d.toString().trimEnd() }, 'processing stderr');
    });
    // Everything that must see the child's end is attached before the first await: a child that ends at once
    // (killed, or a Python that cannot start) would otherwise end unseen and keep its slot for good.
    child.on('error', (err) => jlog.error({ err }, 'processing job error'));
    child.on('close', (code, signal) => {
      void this.finish(slot, code, signal, stderrTail).finally(() => this.next());
    });
    jlog.info({ args: args.join(' ') }, 'processing job started');
    void this.emit({ jobId: job.id, kind: 'started', ref: `local:${job.id}` });
    this.watch(slot);
    if (child.pid !== undefined) {
      slot.pidWritten = writeFile(this.pidFile(job.id), JSON.stringify({ pid: child.pid, startedAt: Date.now() })).catch((err: unknown) =>
        jlog.warn({ err }, 'writing the pid file failed; a restart will not adopt this job'),
      );
    }
  }

  /** Resident mode: the job runs on a slot's worker (bot/local/worker.ts), not in a process of its own. */
  private launchOnWorker(slot: Running, pool: WorkerPool): void {
    const jobId = slot.job.id;
    const run = pool.run(jobId, this.options.inputDir(jobId), this.options.outputDir(jobId));
    slot.onWorker = run;
    this.log.info({ jobId, pid: run.pid }, 'processing job handed to a resident worker');
    void this.emit({ jobId, kind: 'started', ref: `local:${jobId}` });
    this.watch(slot);
    void run.done
      .then((end) => {
        if (this.stopping) return; // an orderly stop ended the worker; the next start retries the job
        return this.finish(slot, end.code, end.signal, run.stderrTail());
      })
      .finally(() => this.next());
  }

  /** Polls progress.json and turns changes into progress events; enforces the time limit. */
  private watch(slot: Running): void {
    // inotify sees every atomic rewrite of progress.json at once; the poll is the fallback where watching fails.
    try {
      slot.watcher = watch(this.options.outputDir(slot.job.id), (_event, name) => {
        if (name === OUTPUT_FILES.progress) void this.readProgress(slot);
      });
      slot.watcher.on('error', () => slot.watcher?.close());
    } catch {
      /* polling only */
    }
    slot.poll = setInterval(() => void this.readProgress(slot), this.options.pollMs ?? 500);
    slot.timeout = setTimeout(() => {
      slot.timedOut = true;
      this.kill(slot);
    }, this.options.timeoutMs);
  }

  private async readProgress(slot: Running): Promise<void> {
    const raw = await readFile(join(this.options.outputDir(slot.job.id), OUTPUT_FILES.progress), 'utf8').catch(() => undefined);
    if (!raw || raw === slot.lastProgress) return;
    slot.lastProgress = raw;
    const progress = parseProgress(raw);
    if (progress) await this.emit({ jobId: slot.job.id, kind: 'progress', progress });
  }

  private async finish(slot: Running, code: number | null, signal: NodeJS.Signals | null, stderrTail: string): Promise<void> {
    clearInterval(slot.poll);
    slot.watcher?.close();
    clearTimeout(slot.timeout);
    this.running.delete(slot.job.id);
    await slot.pidWritten;
    await rm(this.pidFile(slot.job.id), { force: true });
    const jobId = slot.job.id;
    if (slot.cancelled) return this.emit({ jobId, kind: 'stopped' });
    if (slot.timedOut) {
      return this.emit({
        jobId,
        kind: 'failed',
        failure: { code: 'TIMEOUT', message: `The job took longer than ${Math.round(this.options.timeoutMs / 60000)} minutes and was stopped.`, retryable: false },
      });
    }
    await this.readProgress(slot);
    const outcome = readOutcome(this.options.outputDir(jobId));
    if (outcome.status === 'completed' && code === 0) return this.emit({ jobId, kind: 'completed', metadata: outcome.metadata });
    if (outcome.status === 'failed') return this.emit({ jobId, kind: 'failed', failure: outcome.failure });
    this.log.error({ jobId, code, signal, stderr: stderrTail }, 'processing job ended without a result');
    return this.emit({
      jobId,
      kind: 'failed',
      failure: {
        code: 'INTERNAL_ERROR',
        message: signal === 'SIGKILL' ? 'The processing job was killed (out of memory on this machine?).' : `The processing job ended unexpectedly (exit ${code ?? signal}).`,
        retryable: signal === 'SIGKILL',
      },
    });
  }

  async cancel(job: Job): Promise<void> {
    const queuedAt = this.waiting.findIndex((j) => j.id === job.id);
    if (queuedAt >= 0) {
      this.waiting.splice(queuedAt, 1);
      return;
    }
    const slot = this.running.get(job.id);
    if (slot) {
      slot.cancelled = true;
      this.kill(slot);
      return;
    }
    // An adopted child from before a restart.
    const pid = this.livePid(job.id);
    if (pid) killGroup(pid);
  }

  private kill(slot: Running): void {
    if (slot.onWorker) return slot.timedOut ? slot.onWorker.kill() : slot.onWorker.cancel();
    if (!slot.pid) return;
    killGroup(slot.pid, 'SIGTERM');
    setTimeout(() => killGroup(slot.pid!, 'SIGKILL'), 5000).unref();
  }

  async describe(job: Job): Promise<RunnerStatus> {
    const outcome = readOutcome(this.options.outputDir(job.id));
    if (outcome.status !== 'unknown') return outcome;
    if (this.running.has(job.id) || this.waiting.some((j) => j.id === job.id)) return { status: 'running' };
    const pid = this.livePid(job.id);
    if (pid) {
      this.adopt(job, pid);
      return { status: 'running' };
    }
    return { status: 'unknown' };
  }

  /** Watches a child left running by an earlier bot process until it exits. */
  private adopt(job: Job, pid: number): void {
    const slot: Running = { job, pid, cancelled: false, timedOut: false };
    this.running.set(job.id, slot);
    this.log.info({ jobId: job.id, pid }, 'adopted a running processing job');
    this.watch(slot);
    const check = setInterval(() => {
      if (processAlive(pid)) return;
      clearInterval(check);
      const outcome = readOutcome(this.options.outputDir(job.id));
      void this.finish(slot, outcome.status === 'completed' ? 0 : 1, null, '').finally(() => this.next());
    }, this.options.pollMs ?? 500);
  }

  private livePid(jobId: string): number | undefined {
    try {
      const { pid } = JSON.parse(readFileSync(this.pidFile(jobId), 'utf8')) as { pid: number };
      if (!processAlive(pid)) return undefined;
      // Guard against pid reuse: the process must be our job's.
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes(this.options.outputDir(jobId)) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  private pidFile(jobId: string): string {
    return join(this.options.outputDir(jobId), '..', 'runner.json');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.waiting.length = 0;
    const slots = [...this.running.values()];
    for (const slot of slots) {
      clearInterval(slot.poll);
      slot.watcher?.close();
      clearTimeout(slot.timeout);
      // An orderly stop ends its children; the next start retries their jobs.
      if (slot.pid) killGroup(slot.pid, 'SIGTERM');
    }
    this.running.clear();
    await Promise.all(slots.flatMap((slot) => (slot.pid ? [groupGone(slot.pid, STOP_GRACE_MS)] : [])));
    await this.pool?.stop();
  }

  private async emit(event: RunnerEvent): Promise<void> {
    try {
      await this.onEvent?.(event);
    } catch (err) {
      this.log.error({ jobId: event.jobId, kind: event.kind, err }, 'event handler failed');
    }
  }
}

/** Reads the processing job's result files (bot/core/contract.ts): metadata.json + video.mp4, or error.json. */
export function readOutcome(dir: string): RunnerStatus {
  const failure = parseFailure(readJson(join(dir, OUTPUT_FILES.error)));
  if (failure) return { status: 'failed', failure };
  if (existsSync(join(dir, OUTPUT_FILES.video))) {
    const metadata = parseMetadata(readText(join(dir, OUTPUT_FILES.metadata)) ?? '');
    if (metadata) return { status: 'completed', metadata };
    // metadata.json still being written
  }
  return { status: 'unknown' };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readJson(path: string): unknown {
  const raw = readText(path);
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

function childEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = { PYTHONUNBUFFERED: '1' };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && ENV_ALLOW.test(k)) out[k] = v;
  return out;
}

/** How long a stopped job's processes get to exit after SIGTERM before they are killed. */
const STOP_GRACE_MS = 5000;

/**
 * Resolves once no process of the group led by `pid` is left, killing it after `graceMs`: a command that stops
 * (Ctrl-C, `timeout`) leaves no job process behind.
 */
async function groupGone(pid: number, graceMs: number): Promise<void> {
  const exists = (): boolean => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return processAlive(pid);
    }
  };
  const killAt = Date.now() + graceMs;
  let killed = false;
  while (exists()) {
    if (!killed && Date.now() >= killAt) {
      killGroup(pid, 'SIGKILL');
      killed = true;
    }
    if (killed && Date.now() >= killAt + graceMs) return; // unkillable (uninterruptible I/O): stop waiting
    await new Promise((r) => setTimeout(r, 50));
  }
}
