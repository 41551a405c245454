// Buttons: Cancel, Retry, Regenerate, Edit prompt, Extend, Details on status cards; Generate, Edit & generate, Enhance again on /enhance cards.
import type { AllMiddlewareArgs, App, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { UserFacingError } from '../../core/errors.js';
import type { Job } from '../../core/job.js';
import { ACTION, detailsModal, enhanceMessage, promptModal } from './blocks.js';
import { answering, conversationAt, slackRequester, submitOnce, tellPrivately, type HandlerDeps, type WebClient } from './context.js';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;
type Handler = (args: ButtonArgs, deps: HandlerDeps) => Promise<void>;

export function register(app: App, deps: HandlerDeps): void {
  const on = (actionId: string, handler: Handler) =>
    app.action<BlockAction<ButtonAction>>({ action_id: actionId, type: 'block_actions' }, async (args) => {
      await args.ack();
      await answering(deps.log, `button ${actionId}`, (text) => tell(args, deps, text), () => handler(args, deps));
    });
  on(ACTION.cancel, cancel);
  on(ACTION.retry, (args, d) => again(args, d, {}));
  on(ACTION.regenerate, (args, d) => again(args, d, { newSeed: true }));
  on(ACTION.editPrompt, editPrompt);
  on(ACTION.extend, extend);
  on(ACTION.details, showDetails);
  on(ACTION.enhanceGenerate, enhanceGenerate);
  on(ACTION.enhanceEdit, enhanceEdit);
  on(ACTION.enhanceAgain, enhanceAgain);
}

function channelOf(body: BlockAction): string | undefined {
  return body.channel?.id ?? (body.container as { channel_id?: string } | undefined)?.channel_id;
}

function threadOf(body: BlockAction): string | undefined {
  const message = body.message as { ts?: string; thread_ts?: string } | undefined;
  return message?.thread_ts ?? message?.ts;
}

/** Only the clicker sees it, in the conversation of the clicked message. */
async function tell({ body, client, respond }: ButtonArgs, deps: HandlerDeps, text: string): Promise<void> {
  const channel = channelOf(body);
  if (channel) {
    const thread = threadOf(body);
    await tellPrivately(client, deps.log, { channel, user: body.user.id, ...(thread ? { thread } : {}) }, text);
  } else {
    await respond({ response_type: 'ephemeral', replace_original: false, text }).catch(() => undefined);
  }
}

async function jobOf(args: ButtonArgs, deps: HandlerDeps): Promise<Job> {
  const jobId = args.action.value ?? '';
  const job = await deps.service.get(jobId);
  if (!job) throw new UserFacingError('JOB_NOT_FOUND', 'That video job is no longer known to the bot.');
  return job;
}

async function cancel(args: ButtonArgs, deps: HandlerDeps): Promise<void> {
  // JobService decides who may cancel (the requester or an admin) and says so in its error.
  await deps.service.cancel(args.action.value ?? '', { platform: 'slack', userId: args.body.user.id });
}

/** Retry and Regenerate: a new job from the clicked one, in its thread. */
async function again(args: ButtonArgs, deps: HandlerDeps, changes: { newSeed?: boolean }): Promise<void> {
  const job = await jobOf(args, deps);
  const { channelId, threadId } = job.conversation;
  await submitOnce(deps, {
    requester: slackRequester(args.body.user.id, args.body.user.name),
    conversation: conversationAt({ channel: channelId, ...(threadId ? { thread: threadId } : {}) }),
    redo: { jobId: job.id, ...changes },
    requestKey: `slack:action:${args.action.action_ts}`,
  });
}

async function editPrompt(args: ButtonArgs, deps: HandlerDeps): Promise<void> {
  const job = await jobOf(args, deps);
  await openModal(args.client, args.body.trigger_id, promptModal({ kind: 'edit', jobId: job.id }, job.params.prompt));
}

/** Extend: the prompt modal, pre-filled with the clip's prompt; its submission starts the continuation (views.ts). */
async function extend(args: ButtonArgs, deps: HandlerDeps): Promise<void> {
  const job = await jobOf(args, deps);
  await openModal(args.client, args.body.trigger_id, promptModal({ kind: 'extend', jobId: job.id }, job.params.prompt));
}

async function showDetails(args: ButtonArgs, deps: HandlerDeps): Promise<void> {
  const job = await jobOf(args, deps);
  await openModal(args.client, args.body.trigger_id, detailsModal(job));
}

async function openModal(client: WebClient, triggerId: string, view: Parameters<WebClient['views']['open']>[0]['view']): Promise<void> {
  await client.views.open({ trigger_id: triggerId, view });
}

async function enhanceGenerate(args: ButtonArgs, deps: HandlerDeps): Promise<void> {
  const channel = channelOf(args.body);
  const prompt = args.action.value ?? '';
  if (!channel) throw new UserFacingError('INVALID_COMMAND', 'Use /video with the prompt here instead.');
  await submitOnce(deps, {
    requester: slackRequester(args.body.user.id, args.body.user.name),
    conversation: conversationAt({ channel }),
    request: { prompt },
    requestKey: `slack:action:${args.action.action_ts}`,
  });
}

async function enhanceEdit(args: ButtonArgs, _deps: HandlerDeps): Promise<void> {
  const channel = channelOf(args.body);
  if (!channel) throw new UserFacingError('INVALID_COMMAND', 'Use /video with the prompt here instead.');
  await openModal(args.client, args.body.trigger_id, promptModal({ kind: 'new', channel }, args.action.value ?? ''));
}

async function enhanceAgain(args: ButtonArgs, deps: HandlerDeps): Promise<void> {
  const original = args.action.value ?? '';
  const enhanced = await deps.service.enhance(original);
  await args.respond({ response_type: 'ephemeral', replace_original: true, ...enhanceMessage(original, enhanced) });
}
