// What people ask of the service besides a new video: cancel a job, look jobs up, try the prompt enhancer.
import type { Actor } from './access.js';
import { estimateTextTokens } from './command.js';
import type { ServiceContext } from './context.js';
import { UserFacingError } from './errors.js';
import type { Job } from './job.js';
import { RUNNER_STATES, isFinal } from './job.js';
import type { EnhancedPrompt, JobService } from './ports.js';
import { DEFAULT_PRESET_ID, getPreset } from './presets.js';
import { describeJob } from './status.js';

export type Queries = Pick<JobService, 'cancel' | 'get' | 'list' | 'describe' | 'enhance' | 'hasEnhancer' | 'isAdmin'>;

export function createQueries(ctx: ServiceContext): Queries {
  const { store, runner, clock, log, guard, deps } = ctx;
  const enhancer = deps.enhancer;

  async function cancel(jobId: string, by: Actor): Promise<Job> {
    const job = await ctx.mustGet(jobId);
    const own = job.requester.platform === by.platform && job.requester.userId === by.userId;
    if (!own && !guard.isAdmin(by)) {
      throw new UserFacingError('NOT_ALLOWED', 'Only the person who asked for this video, or an admin, can cancel it.');
    }
    if (isFinal(job.state) || job.state === 'uploading') {
      throw new UserFacingError('NOT_CANCELLABLE', `Job ${job.id} is already ${job.state === 'uploading' ? 'being posted' : job.state}; there is nothing to cancel.`);
    }
    const cancelled = await store.transition(job.id, [job.state], 'cancelled', { finishedAt: clock.now() });
    if (!cancelled) return cancel(jobId, by); // it moved on meanwhile; decide again on the fresh state
    log.info({ jobId, by: by.userId }, 'job cancelled');
    if (RUNNER_STATES.includes(job.state)) {
      await runner.cancel(job).catch((err) => log.warn({ jobId, err }, 'runner cancel failed'));
    }
    await ctx.showStatus(cancelled, true);
    ctx.pump();
    return cancelled;
  }

  async function enhance(prompt: string): Promise<EnhancedPrompt> {
    const text = prompt.trim();
    if (!text) throw new UserFacingError('INVALID_COMMAND', 'Give a prompt to enhance, e.g. `/enhance a bee on a flower`.');
    if (!enhancer) {
      throw new UserFacingError(
        'ENHANCER_NOT_CONFIGURED',
        deps.enhancerSetupHint ??
          'Prompt enhancement is not set up. Point the bot at any OpenAI-compatible chat endpoint: set OPENAI_BASE_URL (e.g. http://localhost:11434/v1 for Ollama) and OPENAI_MODEL (e.g. llama3.1), then restart.',
      );
    }
    const enhanced = (await enhancer.enhance(text)).trim();
    return promptReport(enhanced || text);
  }

  function promptReport(text: string): EnhancedPrompt {
    const tokens = estimateTextTokens(text);
    // The default model's text encoder limit (presets.json's max_text_tokens).
    const limit = (getPreset(deps.defaultModel) ?? getPreset(DEFAULT_PRESET_ID)!).maxTextTokens;
    return {
      text,
      tokens,
      limit,
      ...(tokens > limit ? { warning: `This prompt is about ${tokens} tokens; CogVideoX reads only the first ${limit}, so the end will be cut.` } : {}),
    };
  }

  return {
    cancel,
    get: (id) => store.get(id),
    list: (actor, limit = 10) => store.listByUser(actor.platform, actor.userId, limit),
    describe: async (job) => describeJob(job, job.state === 'queued' ? await ctx.queuePosition(job) : undefined),
    enhance,
    hasEnhancer: () => enhancer !== undefined,
    isAdmin: guard.isAdmin,
  };
}
