// Slash commands: /video <prompt> [flags] and /enhance <prompt>.
import type { AllMiddlewareArgs, App, SlackCommandMiddlewareArgs } from '@slack/bolt';
import { USAGE, parseVideoCommand, type VideoRequest } from '../../core/command.js';
import { InvalidCommandError, UserFacingError } from '../../core/errors.js';
import { enhanceMessage } from './blocks.js';
import { errorText, plannedConversation, slackRequester, startJob, type HandlerDeps } from './context.js';

type CommandArgs = SlackCommandMiddlewareArgs & AllMiddlewareArgs;

export function register(app: App, deps: HandlerDeps): void {
  app.command('/video', (args) => video(args, deps));
  app.command('/enhance', (args) => enhance(args, deps));
}

const VIDEO_HELP = `Usage: \`${USAGE}\`\nExample: \`/video a bee landing on a sunflower, macro, golden hour --seconds 6\``;

async function video({ command, ack, respond, client }: CommandArgs, deps: HandlerDeps): Promise<void> {
  const text = command.text.trim();
  if (!text || text === 'help') {
    await ack({ response_type: 'ephemeral', text: VIDEO_HELP });
    return;
  }
  const requester = slackRequester(command.user_id, command.user_name);
  const place = { channel: command.channel_id };
  let request: VideoRequest;
  try {
    request = parseVideoCommand(text);
    await deps.service.check({ requester, conversation: plannedConversation(place), request });
  } catch (err) {
    // Bad input, access and limits are answered in the ack itself: only the person who typed it sees it.
    if (!(err instanceof UserFacingError)) deps.log.error({ err }, 'checking /video failed');
    await ack({ response_type: 'ephemeral', text: err instanceof InvalidCommandError ? `${errorText(err)}\n${VIDEO_HELP}` : errorText(err) });
    return;
  }
  await ack();
  const requestKey = `slack:${command.trigger_id}`;
  await startJob(client, deps, {
    place,
    requestKey,
    submit: (conversation) => deps.service.submit({ requester, conversation, request, requestKey }),
    tell: (message) => respond({ response_type: 'ephemeral', text: message }).then(() => undefined),
  });
}

async function enhance({ command, ack, respond }: CommandArgs, deps: HandlerDeps): Promise<void> {
  const text = command.text.trim();
  if (!text) {
    await ack({ response_type: 'ephemeral', text: 'Usage: `/enhance <prompt>` — I rewrite it into a detailed video prompt you can review, edit and generate.' });
    return;
  }
  await ack();
  try {
    const enhanced = await deps.service.enhance(text);
    await respond({ response_type: 'ephemeral', ...enhanceMessage(text, enhanced) });
  } catch (err) {
    deps.log.warn({ err }, 'enhance failed');
    await respond({ response_type: 'ephemeral', text: errorText(err) });
  }
}
