// `videobot generate "<prompt>" [flags]`: one video for scripts. Progress on stderr, the MP4 path last on stdout.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { takeImageFlag } from './chat/shell.js';
import { parseVideoCommand } from './core/command.js';
import { UserFacingError } from './core/errors.js';
import type { Job } from './core/job.js';
import type { ChatSurface, StatusView, VideoFile } from './core/ports.js';
import type { JobService } from './core/service.js';
import { formatDuration, summary } from './core/status.js';
import type { Backend } from './main.js';

export interface GenerateDeps {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  buildBackend(): Promise<Backend>;
  buildService(backend: Backend, surface: ChatSurface): JobService;
}

/** Exit codes: 0 delivered, 1 the job failed or was cancelled, 2 bad input. */
export async function runGenerate(argv: readonly string[], deps: GenerateDeps): Promise<number> {
  const text = argv.map((a) => (/\s/.test(a) && !a.startsWith('--') ? `"${a.replace(/"/g, "'")}"` : a)).join(' ');
  const { text: commandText, imagePath } = takeImageFlag(text);
  let image: Uint8Array | undefined;
  let request;
  try {
    request = parseVideoCommand(commandText);
    if (imagePath) {
      const path = resolve(imagePath);
      if (!existsSync(path)) throw new UserFacingError('INVALID_IMAGE', `There is no file at ${path}.`);
      image = readFileSync(path);
    }
  } catch (err) {
    if (err instanceof UserFacingError) {
      deps.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  let finish: (result: { code: number; path?: string }) => void = () => {};
  const finished = new Promise<{ code: number; path?: string }>((r) => (finish = r));
  let delivered: string | undefined;
  let lastLine = '';
  const surface: ChatSurface = {
    platform: 'cli',
    // The command's own output is its status: nothing to post before the job exists, nothing to withdraw.
    announce: async (job: Job) => job.conversation,
    retract: async () => {},
    async showStatus(_job: Job, view: StatusView): Promise<void> {
      const line = view.progress
        ? `${view.progress.bar} step ${view.progress.step}/${view.progress.total}${view.progress.etaS !== null ? ` ETA ${formatDuration(view.progress.etaS)}` : ''}`
        : view.headline;
      if (line !== lastLine) deps.stderr.write(`${line}\n`);
      lastLine = line;
      if (view.state === 'delivered') finish({ code: 0, ...(delivered ? { path: delivered } : {}) });
      else if (view.final) finish({ code: 1 });
    },
    async postVideo(_job: Job, video: VideoFile): Promise<void> {
      const link = await video.link(6 * 3600);
      delivered = link?.startsWith('file:') ? fileURLToPath(link) : link;
    },
  };

  const backend = await deps.buildBackend();
  for (const notice of backend.notices) deps.stderr.write(`${notice}\n`);
  const service = deps.buildService(backend, surface);
  try {
    await service.start();
    const { job } = await service.submit({
      requester: { platform: 'cli', userId: 'cli' },
      conversation: { platform: 'cli', channelId: 'cli' },
      request,
      ...(image ? { image } : {}),
    });
    deps.stderr.write(`Job ${job.id}: ${summary(job)}\n`);
    const result = await finished;
    if (result.code === 0 && result.path) deps.stdout.write(`${result.path}\n`);
    return result.code;
  } catch (err) {
    if (err instanceof UserFacingError) {
      deps.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    await service.stop();
    await backend.close();
  }
}
