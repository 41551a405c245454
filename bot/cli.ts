// `videobot generate "<prompt>" [flags]`: one video for scripts. Progress on stderr, the MP4 path last on stdout.
// The command looks after its own job only: it starts, settles and reports that job and no other.
import { randomUUID } from 'node:crypto';
import { constants, hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readImageFile, takeImageFlag } from './chat/shell.js';
import { parseVideoCommand, requestNotes, type VideoRequest } from './core/command.js';
import { OUTPUT_FILES } from './core/contract.js';
import { UserFacingError } from './core/errors.js';
import type { Job, Requester } from './core/job.js';
import { isFinal } from './core/job.js';
import type { ChatSurface, JobStore, ObjectStore, StatusView } from './core/ports.js';
import type { QueueLease, JobScope } from './core/scope.js';
import type { ExtendRequest, JobService } from './core/service.js';
import { formatDuration, summary } from './core/status.js';
import { processAlive } from './local/processes.js';

/** Every exit code of `videobot`; README.md and `videobot help` list the same. */
export const EXIT = {
  /** The video was made (generate), or the command did what it was asked. */
  OK: 0,
  /** The job failed or was cancelled by someone else; the reason is on stderr. */
  JOB_FAILED: 1,
  /** Bad command line, bad input (prompt, flags, image) or invalid configuration; nothing was started. */
  BAD_INPUT: 2,
  /** This machine cannot run it: the data folder or the Python processing job (VIDEOBOT_PYTHON) is not usable. */
  NOT_READY: 3,
  /** A bug: an unexpected error (its stack trace is in the log). */
  INTERNAL: 70,
} as const;

/** Stopped by a signal (Ctrl-C, `timeout`, a closed terminal): the job was cancelled; 128 + the signal's number. */
export const INTERRUPT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type InterruptSignal = (typeof INTERRUPT_SIGNALS)[number];
export const exitCodeForSignal = (signal: InterruptSignal): number => 128 + constants.signals[signal];

export const EXIT_CODE_HELP = `Exit codes:
  0    done (generate: the video was made; its path is the last line of stdout)
  1    the job failed or was cancelled; the reason is on stderr
  2    bad command line, input or configuration; nothing was started
  3    this machine cannot run it: the data folder (VIDEOBOT_DATA_DIR) or the Python job (VIDEOBOT_PYTHON) is not usable
  70   an unexpected error (a bug; details in the log)
  130  interrupted by Ctrl-C (143: SIGTERM, e.g. \`timeout\`; 129: SIGHUP); the job was cancelled and its process ended`;

/** What the command needs from a backend; bot/main.ts builds it. */
export interface CommandBackend {
  readonly store: JobStore;
  readonly objects: ObjectStore;
  readonly notices: readonly string[];
  /** The local GPU queue's lease (the local backend): the bot or one command runs the queue at a time. */
  readonly lease?: QueueLease;
  close(): Promise<void>;
}

/**
 * Where a `videobot` command writes and where its signals arrive: the process's own (bin/videobot.mjs), or a test's,
 * which runs commands in its own process. The bot itself (`videobot` with no command) keeps the process's terminal.
 */
export interface CommandIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** Where Ctrl-C, SIGTERM and SIGHUP arrive: `process`. */
  readonly signals: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
}

export function processIo(): CommandIo {
  return { stdout: process.stdout, stderr: process.stderr, signals: process };
}

export interface GenerateDeps<B extends CommandBackend = CommandBackend> extends CommandIo {
  /** Who asks: the person running the command. */
  readonly requester: Requester;
  buildBackend(): Promise<B>;
  buildService(backend: B, surface: ChatSurface, scope: JobScope): JobService;
  /** How often the command reads its job (default 250 ms). */
  readonly pollMs?: number;
}

/**
 * Jobs of the `cli` platform are delivered by finishing them in the store: the command that asked reads its
 * job's outcome and prints the video's path. Whichever process ran the job (this command, another one, the bot)
 * posts nothing.
 */
export const commandSurface: ChatSurface = {
  platform: 'cli',
  announce: async (job: Job) => job.conversation,
  retract: async () => {},
  showStatus: async () => {},
  postVideo: async () => {},
};

export async function runGenerate<B extends CommandBackend>(argv: readonly string[], deps: GenerateDeps<B>): Promise<number> {
  let ask: GenerateAsk;
  try {
    ask = parseArgs(argv);
  } catch (err) {
    if (err instanceof UserFacingError) return refuse(deps, err);
    throw err;
  }

  let interrupted: InterruptSignal | undefined;
  let wake = (): void => {};
  let removeListeners = (): void => {};
  const interruption = new Promise<InterruptSignal>((resolve) => {
    const onSignal = (signal: InterruptSignal) => {
      if (interrupted) return;
      interrupted = signal;
      deps.stderr.write(`\n${signal === 'SIGINT' ? 'Interrupted' : `Got ${signal}`}: cancelling the job…\n`);
      resolve(signal);
      wake();
    };
    for (const s of INTERRUPT_SIGNALS) deps.signals.on(s, onSignal);
    removeListeners = () => {
      for (const s of INTERRUPT_SIGNALS) deps.signals.off(s, onSignal);
    };
  });

  try {
    const built = await Promise.race([deps.buildBackend(), interruption]);
    if (typeof built === 'string') return exitCodeForSignal(built); // nothing was submitted yet
    const backend = built;
    try {
      for (const notice of backend.notices) deps.stderr.write(`${notice}\n`);
      const requestKey = `cli-${randomUUID()}`;
      const service = deps.buildService(backend, commandSurface, {
        owns: (job) => job.requestKey === requestKey,
        ...(backend.lease ? { lease: backend.lease } : {}),
      });
      try {
        await service.start();
        if (backend.lease) await cancelAbandonedCommandJobs(backend.store, service);
        if (interrupted) return exitCodeForSignal(interrupted);
        const { job } = await service.submit({
          requester: deps.requester,
          conversation: { platform: 'cli', channelId: 'cli', extra: { host: hostname(), pid: String(process.pid) } },
          ...ask,
          requestKey,
        });
        deps.stderr.write(`Job ${job.id}: ${summary(job)}\n`);
        if ('request' in ask) for (const note of requestNotes(ask.request, job.params, { enhancer: service.hasEnhancer() })) deps.stderr.write(`Note: ${note}\n`);

        const final = await watch(job.id);
        if (final.state === 'delivered') {
          const link = await backend.objects.outputLink(final.id, OUTPUT_FILES.video, 6 * 3600);
          if (link) {
            deps.stdout.write(`${link.startsWith('file:') ? fileURLToPath(link) : link}\n`);
            return EXIT.OK;
          }
          deps.stderr.write(`error: job ${final.id} was delivered but its video.mp4 is missing.\n`);
          return EXIT.JOB_FAILED;
        }
        if (final.state === 'cancelled' && interrupted) return exitCodeForSignal(interrupted);
        return EXIT.JOB_FAILED;
      } catch (err) {
        if (err instanceof UserFacingError) return refuse(deps, err);
        throw err;
      } finally {
        await service.stop();
      }

      /** Prints the job's status as it changes until it ends; a signal cancels it (and its process) first. */
      async function watch(jobId: string): Promise<Job> {
        let lastLine = '';
        let cancelAsked = false;
        for (;;) {
          const job = await backend.store.get(jobId);
          if (!job) throw new Error(`job ${jobId} disappeared from the store`);
          const line = render(await service.describe(job));
          if (line !== lastLine) deps.stderr.write(`${line}\n`);
          lastLine = line;
          if (isFinal(job.state)) return job;
          if (interrupted && !cancelAsked) {
            cancelAsked = true;
            // Being posted already (`uploading`): nothing to cancel; the job ends in a moment.
            await service.cancel(jobId, deps.requester).catch((err: unknown) => {
              if (!(err instanceof UserFacingError)) throw err;
            });
            continue;
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, deps.pollMs ?? 250);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
      }
    } finally {
      await backend.close();
    }
  } finally {
    removeListeners();
  }
}

/** A new video from a prompt (and image), or `--extend <job> ["new prompt"]`: the continuation of a finished video. */
type GenerateAsk = { readonly request: VideoRequest; readonly image?: Uint8Array } | Pick<ExtendRequest, 'extend'>;

function parseArgs(argv: readonly string[]): GenerateAsk {
  const at = argv.findIndex((a) => a === '--extend' || a.startsWith('--extend='));
  if (at >= 0) {
    const inline = argv[at]!.startsWith('--extend=') ? argv[at]!.slice('--extend='.length) : undefined;
    const jobId = inline ?? argv[at + 1];
    if (!jobId || jobId.startsWith('--')) throw new UserFacingError('INVALID_COMMAND', '--extend needs the id of a finished video, e.g. --extend j1a2b3c.');
    const rest = argv.filter((_, i) => i !== at && (inline !== undefined || i !== at + 1));
    if (rest.some((a) => a.startsWith('--'))) {
      throw new UserFacingError('INVALID_COMMAND', `--extend keeps the video's own settings; it takes only a new prompt, not ${rest.find((a) => a.startsWith('--'))}.`);
    }
    const prompt = rest.join(' ').trim();
    return { extend: { jobId, ...(prompt ? { prompt } : {}) } };
  }
  // The shell split the words already; quote the ones with spaces again for the chat command parser.
  const text = argv.map((a) => (/\s/.test(a) && !a.startsWith('--') ? `"${a.replace(/"/g, "'")}"` : a)).join(' ');
  const { text: commandText, imagePath } = takeImageFlag(text);
  const request = parseVideoCommand(commandText);
  return { request, ...(imagePath ? { image: readImageFile(imagePath) } : {}) };
}

function refuse(deps: Pick<GenerateDeps, 'stderr'>, err: UserFacingError): number {
  deps.stderr.write(`error: ${err.message}\n`);
  return EXIT.BAD_INPUT;
}

function render(view: StatusView): string {
  if (!view.progress) return view.headline;
  const eta = view.progress.etaS !== null ? ` ETA ${formatDuration(view.progress.etaS)}` : '';
  return `${view.progress.bar} step ${view.progress.step}/${view.progress.total}${eta}`;
}

/**
 * Cancels the unfinished jobs of earlier `videobot generate` runs on this machine whose process is gone (killed
 * with SIGKILL, or the machine slept through it): nobody is left to read their result, and their processes would
 * hold the GPU queue. Each command records its host and pid in its job's conversation.
 */
export async function cancelAbandonedCommandJobs(store: JobStore, service: Pick<JobService, 'cancel'>): Promise<string[]> {
  const here = hostname();
  const cancelled: string[] = [];
  const live = await store.listByState(['queued', 'enhancing', 'submitting', 'starting', 'running', 'encoding']);
  for (const job of live) {
    const extra = job.conversation.extra;
    if (job.conversation.platform !== 'cli' || extra?.host !== here || processAlive(Number(extra.pid))) continue;
    try {
      await service.cancel(job.id, job.requester);
      cancelled.push(job.id);
    } catch (err) {
      if (!(err instanceof UserFacingError)) throw err; // it ended meanwhile
    }
  }
  return cancelled;
}
