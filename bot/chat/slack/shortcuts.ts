// The message shortcut "Animate with videobot": on a message with an image, opens the prompt modal.
import type { AllMiddlewareArgs, App, MessageShortcut, SlackShortcutMiddlewareArgs } from '@slack/bolt';
import { UserFacingError } from '../../core/errors.js';
import { ANIMATE_SHORTCUT, promptModal } from './blocks.js';
import { answering, pickImage, type HandlerDeps, type SlackFile } from './context.js';

type ShortcutArgs = SlackShortcutMiddlewareArgs<MessageShortcut> & AllMiddlewareArgs;

export function register(app: App, deps: HandlerDeps): void {
  app.shortcut<MessageShortcut>({ callback_id: ANIMATE_SHORTCUT, type: 'message_action' }, (args) => animate(args, deps));
}

async function animate({ ack, shortcut, client, respond }: ShortcutArgs, deps: HandlerDeps): Promise<void> {
  await ack();
  const tell = (text: string) => respond({ response_type: 'ephemeral', text }).then(() => undefined);
  await answering(deps.log, 'animate shortcut', tell, async () => {
    const file = pickImage(shortcut.message.files as SlackFile[] | undefined);
    if (!file) throw new UserFacingError('INVALID_IMAGE', 'That message has no image. Use "Animate with videobot" on a message with a PNG, JPEG or WebP image.');
    const thread = (shortcut.message.thread_ts as string | undefined) ?? shortcut.message.ts;
    await client.views.open({
      trigger_id: shortcut.trigger_id,
      view: promptModal({ kind: 'animate', channel: shortcut.channel.id, thread, file }, ''),
    });
  });
}
