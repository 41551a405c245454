// The message shortcuts: "Animate with videobot" (on a message with an image, opens the prompt modal) and "Combine thread
// videos" (joins the finished videos of the message's thread, oldest first).
import type { AllMiddlewareArgs, App, MessageShortcut, SlackShortcutMiddlewareArgs } from '@slack/bolt';
import { UserFacingError } from '../../core/errors.js';
import { ANIMATE_SHORTCUT, COMBINE_SHORTCUT, promptModal } from './blocks.js';
import { answering, conversationAt, pickImage, slackRequester, submitOnce, type HandlerDeps, type SlackFile } from './context.js';

type ShortcutArgs = SlackShortcutMiddlewareArgs<MessageShortcut> & AllMiddlewareArgs;

export function register(app: App, deps: HandlerDeps): void {
  app.shortcut<MessageShortcut>({ callback_id: ANIMATE_SHORTCUT, type: 'message_action' }, (args) => animate(args, deps));
  app.shortcut<MessageShortcut>({ callback_id: COMBINE_SHORTCUT, type: 'message_action' }, (args) => combineThread(args, deps));
}

/** The thread the message is in (its own, when it starts one or stands alone): the payload carries the whole message. */
function threadOf(shortcut: MessageShortcut): string {
  return (shortcut.message.thread_ts as string | undefined) ?? shortcut.message.ts;
}

/** One Combine of the thread's finished videos; the card and the joined video go into that thread. */
async function combineThread({ ack, shortcut, respond }: ShortcutArgs, deps: HandlerDeps): Promise<void> {
  await ack();
  const tell = (text: string) => respond({ response_type: 'ephemeral', text }).then(() => undefined);
  await answering(deps.log, 'combine shortcut', tell, async () => {
    await submitOnce(deps, {
      requester: slackRequester(shortcut.user.id, shortcut.user.name),
      conversation: conversationAt({ channel: shortcut.channel.id, thread: threadOf(shortcut) }),
      combine: { jobIds: [] },
      requestKey: `slack:${shortcut.trigger_id}`,
    });
  });
}

async function animate({ ack, shortcut, client, respond }: ShortcutArgs, deps: HandlerDeps): Promise<void> {
  await ack();
  const tell = (text: string) => respond({ response_type: 'ephemeral', text }).then(() => undefined);
  await answering(deps.log, 'animate shortcut', tell, async () => {
    const file = pickImage(shortcut.message.files as SlackFile[] | undefined);
    if (!file) throw new UserFacingError('INVALID_IMAGE', 'That message has no image. Use "Animate with videobot" on a message with a PNG, JPEG or WebP image.');
    const thread = threadOf(shortcut);
    await client.views.open({
      trigger_id: shortcut.trigger_id,
      view: promptModal({ kind: 'animate', channel: shortcut.channel.id, thread, file }, ''),
    });
  });
}
