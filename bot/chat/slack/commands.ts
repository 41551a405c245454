// Slash commands: /video <prompt> [flags], /enhance <prompt> and /combine <job> <job> ….
import type { AllMiddlewareArgs, App, SlackCommandMiddlewareArgs } from '@slack/bolt';
import { USAGE, parseVideoCommand } from '../../core/command.js';
import { parseCombineIds } from '../../core/combine.js';
import { InvalidCommandError } from '../../core/errors.js';
import { enhanceMessage } from './blocks.js';
import { answering, conversationAt, slackRequester, submitOnce, type HandlerDeps } from './context.js';

type CommandArgs = SlackCommandMiddlewareArgs & AllMiddlewareArgs;

export function register(app: App, deps: HandlerDeps): void {
  app.command('/video', (args) => video(args, deps));
  app.command('/enhance', (args) => enhance(args, deps));
  app.command('/combine', (args) => combine(args, deps));
}

/** Acks the command once: with a private reply, or empty; true when this call was the ack (Slack takes one within 3 s). */
function acknowledgeOnce(ack: CommandArgs['ack']): (reply?: string) => Promise<boolean> {
  let acked = false;
  return async (reply?: string) => {
    if (acked) return false;
    acked = true;
    await ack(reply === undefined ? undefined : { response_type: 'ephemeral', text: reply });
    return true;
  };
}

const COMBINE_HELP = `Usage: \`/combine <job> <job> …\` — joins delivered videos, in the order given, into one (same size and frame rate; job ids are on each video's card). To join a thread's videos, use the "Combine thread videos" shortcut (More actions ⋯) on a message in that thread.`;

/** /combine j1 j2 …: one job that joins the clips without the GPU; a refusal is the acknowledgement itself. */
async function combine({ command, ack, respond }: CommandArgs, deps: HandlerDeps): Promise<void> {
  const jobIds = parseCombineIds(command.text);
  if (jobIds.length === 0 || command.text.trim() === 'help') {
    await ack({ response_type: 'ephemeral', text: COMBINE_HELP });
    return;
  }
  const acknowledge = acknowledgeOnce(ack);
  const tell = async (message: string) => {
    if (!(await acknowledge(message))) await respond({ response_type: 'ephemeral', text: message });
  };
  await answering(deps.log, '/combine', tell, async () => {
    await submitOnce(deps, {
      requester: slackRequester(command.user_id, command.user_name),
      conversation: conversationAt({ channel: command.channel_id }),
      combine: { jobIds },
      requestKey: `slack:${command.trigger_id}`,
      admitted: () => acknowledge().then(() => undefined),
    });
  });
  await acknowledge();
}

const VIDEO_HELP = `Usage: \`${USAGE}\`\nExample: \`/video a bee landing on a sunflower, macro, golden hour --seconds 6\``;

async function video({ command, ack, respond }: CommandArgs, deps: HandlerDeps): Promise<void> {
  const text = command.text.trim();
  if (!text || text === 'help') {
    await ack({ response_type: 'ephemeral', text: VIDEO_HELP });
    return;
  }
  const acknowledge = acknowledgeOnce(ack);
  // Until the request is admitted (checked, slot held), a refusal is the acknowledgement itself; later, a private reply.
  const tell = async (message: string, err: unknown) => {
    const reply = err instanceof InvalidCommandError ? `${message}\n${VIDEO_HELP}` : message;
    if (!(await acknowledge(reply))) await respond({ response_type: 'ephemeral', text: reply });
  };
  const requestKey = `slack:${command.trigger_id}`;
  await answering(deps.log, '/video', tell, async () => {
    await submitOnce(deps, {
      requester: slackRequester(command.user_id, command.user_name),
      conversation: conversationAt({ channel: command.channel_id }),
      request: parseVideoCommand(text),
      requestKey,
      admitted: () => acknowledge().then(() => undefined),
    });
  });
  await acknowledge(); // a duplicate delivery, or a request that already had its job
}

async function enhance({ command, ack, respond }: CommandArgs, deps: HandlerDeps): Promise<void> {
  const text = command.text.trim();
  if (!text) {
    await ack({ response_type: 'ephemeral', text: 'Usage: `/enhance <prompt>` — I rewrite it into a detailed video prompt you can review, edit and generate.' });
    return;
  }
  await ack();
  await answering(deps.log, '/enhance', (message) => respond({ response_type: 'ephemeral', text: message }).then(() => undefined), async () => {
    const enhanced = await deps.service.enhance(text);
    await respond({ response_type: 'ephemeral', ...enhanceMessage(text, enhanced) });
  });
}
