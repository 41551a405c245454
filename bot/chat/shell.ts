// The terminal chat: /video, /enhance, /extend, /combine, /jobs, /cancel, /help in a shell, with a live progress line.
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseAdminCommand } from '../core/admin.js';
import { parseCombineIds } from '../core/combine.js';
import { USAGE, parseVideoCommand, requestNotes } from '../core/command.js';
import { UserFacingError } from '../core/errors.js';
import { historyText, parseVideosArgs } from '../core/history.js';
import type { Job } from '../core/job.js';
import { isFinal } from '../core/job.js';
import type { ChatSurface, Logger, StatusView, VideoFile } from '../core/ports.js';
import { PRESETS } from '../core/presets.js';
import type { CombineRequest, ExtendRequest, JobService } from '../core/service.js';
import { details, formatDuration, printable, summary } from '../core/status.js';
import type { ChatAdapter } from './adapter.js';

export interface ShellOptions {
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream & { isTTY?: boolean };
  readonly userId: string;
  readonly logger: Logger;
  /** Printed once at start (e.g. "No GPU found: using tiny-random"). */
  readonly notices?: readonly string[];
  /** Called when the user types /quit or closes the input. */
  readonly onExit?: () => void;
  /** Names this terminal session; `/combine` with no ids joins the session's videos (default: a random id). */
  readonly sessionId?: string;
}

const HELP = `Commands:
  ${USAGE}
      Make a video. Add --image PATH to animate a picture.
  /enhance <prompt>     Improve a prompt with the configured LLM; then /generate uses it.
  /generate             Make a video from the last enhanced prompt.
  /extend <id> [prompt] Continue a finished video from its last frame (its prompt unless you give one).
  /combine <id> <id> …  Join finished videos, in this order, into one (same size and frame rate).
  /combine              Join this session's finished videos, oldest first.
  /jobs                 Your recent jobs.
  /videos [page]        Your videos, 10 a page (admins: /videos @user [page]).
  /details <id>         Parameters, seed and timings of a job.
  /cancel <id>          Cancel a job.
  /models               The models and their rules.
  /admin …              Admins: block add|remove|list, usage|reset|ban|unban <user> (/admin help).
  /help                 This help.
  /quit                 Leave (running jobs are stopped and retried at the next start).`;

export function createShellAdapter(options: ShellOptions): ChatAdapter & { readonly done: Promise<void> } {
  const out = options.output;
  const tty = Boolean(out.isTTY);
  const user = { platform: 'shell' as const, userId: options.userId };
  /** Every job of this session is asked here: the session is its thread (what /combine with no ids joins). */
  const conversation = { platform: 'shell' as const, channelId: 'terminal', threadId: `session-${options.sessionId ?? randomUUID().slice(0, 8)}` };
  let service: JobService | undefined;
  let rl: Interface | undefined;
  let liveLine = false;
  let lastEnhanced: string | undefined;
  const lastHeadline = new Map<string, string>();
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => (resolveDone = r));

  function print(text: string): void {
    if (liveLine) out.write('\r\x1b[2K');
    liveLine = false;
    out.write(`${text}\n`);
    rl?.prompt(true);
  }

  function live(text: string): void {
    if (!tty) return print(text);
    out.write(`\r\x1b[2K${text}`);
    liveLine = true;
  }

  const surface: ChatSurface = {
    platform: 'shell',
    async announce(job: Job) {
      print(`[${job.id}] Queued: ${summary(job)}`);
      return job.conversation;
    },
    async retract(): Promise<void> {
      // The refusal that follows is printed by the command handler.
    },
    async showStatus(job: Job, view: StatusView): Promise<void> {
      const text = renderStatus(view);
      if (lastHeadline.get(job.id) === text) return;
      lastHeadline.set(job.id, text);
      if (view.final || !view.progress) print(text);
      else live(text);
      if (view.final) lastHeadline.delete(job.id);
    },
    async postVideo(job: Job, video: VideoFile): Promise<void> {
      const link = await video.link(0);
      const path = link?.startsWith('file:') ? fileURLToPath(link) : (link ?? '(no path)');
      print(`[${job.id}] Video ready: ${path}\n         ${summary(job)}${job.params.prompt !== job.originalPrompt ? `\n         Enhanced prompt: ${printable(job.params.prompt)}` : ''}`);
    },
  };

  async function handle(line: string): Promise<void> {
    const text = line.trim();
    if (!text) return;
    const [command = '', ...rest] = text.split(/\s+/);
    const args = text.slice(command.length).trim();
    const svc = service!;
    switch (command.toLowerCase()) {
      case '/video':
        return video(args);
      case '/generate':
        if (!lastEnhanced) return print('Nothing to generate yet: use /enhance <prompt> first, or /video <prompt>.');
        return video(`"${lastEnhanced.replace(/"/g, "'")}"`);
      case '/enhance': {
        print('Enhancing…');
        const result = await svc.enhance(args);
        lastEnhanced = result.text;
        print(`Enhanced prompt (${result.tokens} of ${result.limit} tokens):\n${printable(result.text)}${result.warning ? `\n⚠ ${result.warning}` : ''}\nType /generate to make it, or /video with your own edit.`);
        return;
      }
      case '/extend': {
        if (!rest[0]) return print('Which video? /extend <id> [new prompt] (see /jobs)');
        const prompt = args.slice(rest[0].length).trim();
        return submitDerived({ extend: { jobId: rest[0], ...(prompt ? { prompt } : {}) } });
      }
      case '/combine':
        return submitDerived({ combine: { jobIds: parseCombineIds(args) } });
      case '/jobs': {
        const jobs = await svc.list(user, 10);
        if (jobs.length === 0) return print('No jobs yet. Try /video a bee on a flower');
        print(jobs.map((j) => `${j.id}  ${j.state.padEnd(10)} ${truncate(printable(j.params.prompt), 50)}`).join('\n'));
        return;
      }
      case '/details': {
        const job = await svc.get(rest[0] ?? '');
        const mine = job && job.requester.platform === user.platform && job.requester.userId === user.userId;
        // Someone else's job reads the same as a missing one: job ids say nothing about other people's videos.
        if (!job || (!mine && !svc.isAdmin(user))) return print(`There is no job ${printable(rest[0] ?? '')} of yours. /jobs lists yours.`);
        return print(details(job));
      }
      case '/cancel': {
        if (!rest[0]) return print('Which job? /cancel <id> (see /jobs)');
        const job = await svc.cancel(rest[0], user);
        return print(`[${job.id}] Cancelled.`);
      }
      case '/videos': {
        const page = await svc.videos(user, parseVideosArgs(args, 'shell'));
        return print(historyText(page, (link) => fileURLToPath(link)));
      }
      case '/admin':
        return print(await svc.admin(user, parseAdminCommand(args, 'shell')));
      case '/models':
        return print(
          [...PRESETS.values()]
            .map((p) => `${p.id.padEnd(20)} ${p.modes.join('+').padEnd(8)} ${p.sizes[0]![1]}×${p.sizes[0]![0]}, frames ${p.frames.step}N+1 from ${p.frames.min} to ${p.frames.max} @ ${p.fps} fps${p.testOnly ? '  (test model: noise)' : ''}`)
            .join('\n'),
        );
      case '/help':
        return print(HELP);
      case '/quit':
      case '/exit':
        rl?.close();
        return;
      default:
        print(command.startsWith('/') ? `Unknown command ${command}. ${'/help'} lists them.` : 'Commands start with a slash. Try /video a bee on a flower, or /help.');
    }
  }

  async function video(args: string): Promise<void> {
    const { text, imagePath } = takeImageFlag(args);
    const request = parseVideoCommand(text);
    const image = imagePath ? readImageFile(imagePath) : undefined;
    const { job, created } = await service!.submit({
      requester: user,
      conversation,
      request,
      ...(image ? { image } : {}),
    });
    if (created) for (const note of requestNotes(request, job.params, { enhancer: service!.hasEnhancer() })) print(`[${job.id}] Note: ${note}`);
  }

  /** Extend and Combine: new jobs made from earlier videos, announced like any other. */
  async function submitDerived(ask: Pick<ExtendRequest, 'extend'> | Pick<CombineRequest, 'combine'>): Promise<void> {
    await service!.submit({ requester: user, conversation, ...ask });
  }

  return {
    surface,
    done,
    async start(svc: JobService): Promise<void> {
      service = svc;
      rl = createInterface({ input: options.input, output: out, terminal: tty, prompt: '> ' });
      out.write('videobot — type /help for commands, /quit to leave.\n');
      for (const notice of options.notices ?? []) out.write(`${notice}\n`);
      rl.prompt();
      rl.on('line', (line) => {
        handle(line).catch((err: unknown) => {
          if (err instanceof UserFacingError) print(`✗ ${err.message}`);
          else {
            options.logger.error({ err }, 'shell command failed');
            print(`✗ Something went wrong: ${(err as Error).message}`);
          }
        });
      });
      rl.on('close', () => {
        resolveDone();
        options.onExit?.();
      });
    },
    async stop(): Promise<void> {
      rl?.close();
    },
  };
}

function renderStatus(view: StatusView): string {
  if (view.progress) {
    const eta = view.progress.etaS !== null ? ` ETA ${formatDuration(view.progress.etaS)}` : '';
    return `[${view.jobId}] ${view.progress.bar} step ${view.progress.step}/${view.progress.total}${eta}`;
  }
  const mark = view.state === 'failed' ? '✗ ' : view.state === 'delivered' ? '✓ ' : '';
  return `[${view.jobId}] ${mark}${view.headline}${view.detail && !isFinal(view.state) ? ` — ${view.detail}` : ''}`;
}

/** Pulls `--image PATH` (a terminal-only option) out of the command text. */
export function takeImageFlag(args: string): { text: string; imagePath?: string } {
  const m = /(?:^|\s)--image(?:=|\s+)("([^"]+)"|'([^']+)'|(\S+))/.exec(args);
  if (!m) return { text: args };
  return { text: (args.slice(0, m.index) + ' ' + args.slice(m.index + m[0].length)).trim(), imagePath: m[2] ?? m[3] ?? m[4]! };
}

/** Reads the picture `--image` names, or says in one sentence why it cannot. */
export function readImageFile(pathArg: string): Uint8Array {
  const path = resolve(pathArg);
  const unreadable = (err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return new UserFacingError('INVALID_IMAGE', `There is no file at ${path}.`);
    if (code === 'EACCES' || code === 'EPERM') return new UserFacingError('INVALID_IMAGE', `${path} cannot be read (permission denied).`);
    return new UserFacingError('INVALID_IMAGE', `${path} cannot be read (${code ?? (err as Error).message}).`);
  };
  let kind;
  try {
    kind = statSync(path);
  } catch (err) {
    throw unreadable(err);
  }
  if (kind.isDirectory()) throw new UserFacingError('INVALID_IMAGE', `${path} is a folder; --image needs a picture file (PNG, JPEG or WebP).`);
  if (!kind.isFile()) throw new UserFacingError('INVALID_IMAGE', `${path} is not a regular file; --image needs a picture file (PNG, JPEG or WebP).`);
  try {
    return readFileSync(path);
  } catch (err) {
    throw unreadable(err);
  }
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
