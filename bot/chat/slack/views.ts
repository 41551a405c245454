// Modal submissions: the prompt modal of Edit & generate, Edit prompt, Extend and Animate with videobot.
import type { AllMiddlewareArgs, App, SlackViewMiddlewareArgs, ViewSubmitAction } from '@slack/bolt';
import { parseVideoCommand, type VideoRequest } from '../../core/command.js';
import { UserFacingError } from '../../core/errors.js';
import type { Job } from '../../core/job.js';
import { PROMPT_BLOCK, PROMPT_INPUT, PROMPT_VIEW, type PromptModal } from './blocks.js';
import { answering, conversationAt, downloadImage, errorText, slackRequester, submitOnce, tellPrivately, type HandlerDeps } from './context.js';

type ViewArgs = SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs;

export function register(app: App, deps: HandlerDeps): void {
  app.view<ViewSubmitAction>({ callback_id: PROMPT_VIEW, type: 'view_submission' }, (args) => submitPrompt(args, deps));
}

async function submitPrompt({ ack, body, view, client }: ViewArgs, deps: HandlerDeps): Promise<void> {
  const meta = JSON.parse(view.private_metadata || '{}') as PromptModal;
  const text = (view.state.values[PROMPT_BLOCK]?.[PROMPT_INPUT]?.value ?? '').trim();
  let request: VideoRequest;
  let earlier: Job | undefined;
  try {
    request = parseVideoCommand(text);
    if (!request.prompt) throw new UserFacingError('INVALID_COMMAND', 'Write a prompt first.');
    if (meta.kind === 'edit' || meta.kind === 'extend') {
      earlier = await deps.service.get(meta.jobId);
      if (!earlier) throw new UserFacingError('JOB_NOT_FOUND', 'The video this prompt belongs to is no longer known to the bot. Use /video with the new prompt instead.');
    }
  } catch (err) {
    // Input errors stay in the modal, under the field.
    await ack({ response_action: 'errors', errors: { [PROMPT_BLOCK]: errorText(err) } });
    return;
  }
  await ack();
  const user = body.user.id;
  const requester = slackRequester(user, body.user.name);
  const requestKey = `slack:view:${view.id}`;

  if (meta.kind === 'edit' || meta.kind === 'extend') {
    const job = earlier;
    if (!job) return; // found above, or the modal was answered with an error
    const { channelId, threadId } = job.conversation;
    const place = { channel: channelId, ...(threadId ? { thread: threadId } : {}) };
    const ask = meta.kind === 'edit' ? { redo: { jobId: job.id, prompt: request.prompt } } : { extend: { jobId: job.id, prompt: request.prompt } };
    await answering(deps.log, meta.kind === 'edit' ? 'Edit prompt' : 'Extend', (message) => tellPrivately(client, deps.log, { ...place, user }, message), async () => {
      await submitOnce(deps, { requester, conversation: conversationAt(place), ...ask, requestKey });
    });
    return;
  }

  const place = { channel: meta.channel, ...(meta.thread ? { thread: meta.thread } : {}) };
  await answering(deps.log, 'prompt modal', (message) => tellPrivately(client, deps.log, { ...place, user }, message), async () => {
    const image = meta.kind === 'animate' ? await downloadImage(meta.file, deps) : undefined;
    await submitOnce(deps, { requester, conversation: conversationAt(place), request, ...(image ? { image } : {}), requestKey });
  });
}
