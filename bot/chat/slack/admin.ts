// /videos (a person's videos, 10 a page, with Newer/Older buttons) and /videobot-admin (moderation and quotas),
// both answered only to the person who asked (ephemeral).
import type { AllMiddlewareArgs, App, BlockAction, ButtonAction, SlackActionMiddlewareArgs, SlackCommandMiddlewareArgs, types } from '@slack/bolt';
import { parseAdminCommand } from '../../core/admin.js';
import { formatDate, parseVideosArgs, type HistoryPage } from '../../core/history.js';
import { escape } from './blocks.js';
import { answering, type HandlerDeps } from './context.js';

type CommandArgs = SlackCommandMiddlewareArgs & AllMiddlewareArgs;
type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;
type Block = types.KnownBlock;

export const VIDEOS_COMMAND = '/videos';
export const ADMIN_COMMAND = '/videobot-admin';
/** Newer and Older: action ids must differ within one block; the value carries whose page and which. */
export const VIDEOS_PAGE_ACTIONS = { newer: 'videos_newer', older: 'videos_older' } as const;

export function register(app: App, deps: HandlerDeps): void {
  app.command(VIDEOS_COMMAND, (args) => videos(args, deps));
  app.command(ADMIN_COMMAND, (args) => admin(args, deps));
  for (const actionId of Object.values(VIDEOS_PAGE_ACTIONS)) {
    app.action<BlockAction<ButtonAction>>({ action_id: actionId, type: 'block_actions' }, (args) => turnPage(args, deps));
  }
}

/** The reply is the acknowledgement itself: private, and within Slack's 3 seconds (one store read). */
async function videos({ command, ack }: CommandArgs, deps: HandlerDeps): Promise<void> {
  const tell = (text: string) => ack({ response_type: 'ephemeral', text });
  await answering(deps.log, VIDEOS_COMMAND, tell, async () => {
    const page = await deps.service.videos({ platform: 'slack', userId: command.user_id }, parseVideosArgs(command.text, 'slack'));
    await ack({ response_type: 'ephemeral', ...historyMessage(page) });
  });
}

async function turnPage(args: ButtonArgs, deps: HandlerDeps): Promise<void> {
  await args.ack();
  const tell = (text: string) => args.respond({ response_type: 'ephemeral', replace_original: false, text }).then(() => undefined);
  await answering(deps.log, `button ${args.action.action_id}`, tell, async () => {
    const { u: owner, p: page } = JSON.parse(args.action.value ?? '{}') as { u?: string; p?: number };
    // The button's value comes back from the client: the service checks again who may see whose videos.
    const shown = await deps.service.videos(
      { platform: 'slack', userId: args.body.user.id },
      { ...(owner ? { owner: { platform: 'slack', userId: owner } } : {}), ...(page !== undefined ? { page } : {}) },
    );
    await args.respond({ response_type: 'ephemeral', replace_original: true, ...historyMessage(shown) });
  });
}

async function admin({ command, ack }: CommandArgs, deps: HandlerDeps): Promise<void> {
  // The core's sentences name the terminal's /admin; here the command is /videobot-admin.
  const tell = (text: string) => ack({ response_type: 'ephemeral', text: text.replaceAll('/admin', ADMIN_COMMAND) });
  await answering(deps.log, ADMIN_COMMAND, tell, async () => {
    await tell(await deps.service.admin({ platform: 'slack', userId: command.user_id }, parseAdminCommand(command.text, 'slack')));
  });
}

/** One section per video (prompt, model, seed, date, where it is) and Newer/Older buttons. */
export function historyMessage(page: HistoryPage): { text: string; blocks: Block[] } {
  const whose = `<@${page.owner.userId}>`;
  if (page.entries.length === 0) {
    const text = page.page === 1 ? `No videos yet for ${whose}. Make one with \`/video a bee on a flower\`.` : `No videos on page ${page.page}.`;
    return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
  }
  const title = `Videos of ${whose}, page ${page.page}`;
  const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: `*${title}*` } }];
  page.entries.forEach((e, i) => {
    const where = e.link ? `<${e.link}|Download>` : "saved on the bot's machine";
    const prompt = escape(e.prompt.length > 500 ? `${e.prompt.slice(0, 499)}…` : e.prompt);
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*${(page.page - 1) * 10 + i + 1}.* ${prompt}\n${escape(e.modelLabel)} · seed ${e.seed} · ${formatDate(e.createdAt)} · ${where} · posted in <#${e.conversation.channelId}> · job \`${e.jobId}\``,
      },
    });
  });
  const nav: types.Button[] = [];
  const turn = (text: string, actionId: string, to: number): types.Button => ({
    type: 'button',
    text: { type: 'plain_text', text },
    action_id: actionId,
    value: JSON.stringify({ u: page.owner.userId, p: to }),
  });
  if (page.hasPrevious) nav.push(turn('◀ Newer', VIDEOS_PAGE_ACTIONS.newer, page.page - 1));
  if (page.hasNext) nav.push(turn('Older ▶', VIDEOS_PAGE_ACTIONS.older, page.page + 1));
  if (nav.length > 0) blocks.push({ type: 'actions', elements: nav });
  return { text: title, blocks };
}
