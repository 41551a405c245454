// Slash commands: /video <prompt> [flags] and /enhance <prompt>.
import type { AllMiddlewareArgs, App, SlackCommandMiddlewareArgs } from '@slack/bolt';
import { USAGE, parseVideoCommand, type VideoRequest } from '../../core/command.js';
import { enhanceMessage } from './blocks.js';
import { errorText, slackRequester, startJob, type HandlerDeps } from './context.js';

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
  let request: VideoRequest;
  try {
    request = parseVideoCommand(text);
  } catch (err) {
    // Bad input is answered in the ack itself: only the person who typed it sees it.
    await ack({ response_type: 'ephemeral', text: `${errorText(err)}\n${VIDEO_HELP}` });
    return;
  }
  await ack();
  const requester = slackRequester(command.user_id, command.user_name);
  await startJob(
    client,
    deps,
    { channel: command.channel_id },
    `slack:${command.trigger_id}`,
    (conversation) => deps.service.submit({ requester, conversation, request, requestKey: `slack:${command.trigger_id}` }),
    (message) => respond({ response_type: 'ephemeral', text: message }).then(() => undefined),
  );
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
