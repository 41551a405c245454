// /videos (a person's videos, 10 a page, Newer/Older buttons) and /admin, answered ephemerally.
import { ButtonStyle, ComponentType, MessageFlags, type APIEmbed, type ButtonInteraction, type ChatInputCommandInteraction } from 'discord.js';
import type { AdminCommand } from '../../core/admin.js';
import type { HistoryPage } from '../../core/history.js';
import type { JobService } from '../../core/ports.js';
import { videosPageId } from './admin-commands.js';

const EPHEMERAL = { flags: MessageFlags.Ephemeral } as const;

export async function videosCommand(service: JobService, i: ChatInputCommandInteraction): Promise<void> {
  const user = i.options.getUser('user');
  const page = i.options.getInteger('page');
  const shown = await service.videos(
    { platform: 'discord', userId: i.user.id },
    { ...(user ? { owner: { platform: 'discord', userId: user.id } } : {}), ...(page !== null ? { page } : {}) },
  );
  await i.reply({ ...historyMessage(shown, i.guildId), allowedMentions: { parse: [] }, ...EPHEMERAL });
}

/** Newer/Older: the page replaces the list in place. The owner in the id comes from the client: the service checks it. */
export async function videosButton(service: JobService, i: ButtonInteraction, arg: string): Promise<void> {
  const [owner = '', page = '1'] = arg.split(':');
  const shown = await service.videos({ platform: 'discord', userId: i.user.id }, { owner: { platform: 'discord', userId: owner }, page: Number(page) });
  await i.update({ ...historyMessage(shown, i.guildId), allowedMentions: { parse: [] } });
}

export async function adminCommand(service: JobService, i: ChatInputCommandInteraction): Promise<void> {
  await i.reply({ content: (await service.admin({ platform: 'discord', userId: i.user.id }, adminCommandOf(i))).slice(0, 2000), ...EPHEMERAL });
}

function adminCommandOf(i: ChatInputCommandInteraction): AdminCommand {
  const sub = i.options.getSubcommand();
  if (i.options.getSubcommandGroup(false) === 'block') {
    if (sub === 'list') return { kind: 'block-list' };
    return { kind: sub === 'add' ? 'block-add' : 'block-remove', term: i.options.getString('term', true) };
  }
  const kind = sub as 'usage' | 'reset' | 'ban' | 'unban';
  return { kind, user: { platform: 'discord', userId: i.options.getUser('user', true).id } };
}

/** An embed with one entry per video (prompt, model, seed, date, link) and Newer/Older buttons. */
export function historyMessage(page: HistoryPage, guildId: string | null): { content: string; embeds: APIEmbed[]; components: any[] } {
  const whose = `<@${page.owner.userId}>`;
  if (page.entries.length === 0) {
    return { content: page.page === 1 ? `No videos yet for ${whose}. Make one with /video.` : `No videos on page ${page.page}.`, embeds: [], components: [] };
  }
  const lines = page.entries.map((e, n) => {
    const message = e.conversation.statusMessageId
      ? `https://discord.com/channels/${e.conversation.extra?.guildId ?? guildId ?? '@me'}/${e.conversation.channelId}/${e.conversation.statusMessageId}`
      : undefined;
    const where = [e.link ? `[Download](${e.link})` : '', message ? `[In the channel](${message})` : ''].filter(Boolean).join(' · ') || "saved on the bot's machine";
    const prompt = e.prompt.length > 200 ? `${e.prompt.slice(0, 199)}…` : e.prompt;
    return `**${(page.page - 1) * 10 + n + 1}.** ${escapeMarkdown(prompt)}\n${e.modelLabel} · seed ${e.seed} · <t:${Math.floor(e.createdAt / 1000)}:f> · ${where}`;
  });
  const buttons = [
    ...(page.hasPrevious ? [{ type: ComponentType.Button, style: ButtonStyle.Secondary, label: '◀ Newer', custom_id: videosPageId(page.owner.userId, page.page - 1) }] : []),
    ...(page.hasNext ? [{ type: ComponentType.Button, style: ButtonStyle.Secondary, label: 'Older ▶', custom_id: videosPageId(page.owner.userId, page.page + 1) }] : []),
  ];
  return {
    content: `Videos of ${whose}, page ${page.page}`,
    embeds: [{ description: lines.join('\n\n').slice(0, 4096) }],
    components: buttons.length > 0 ? [{ type: ComponentType.ActionRow, components: buttons }] : [],
  };
}

function escapeMarkdown(text: string): string {
  return text.replace(/([\\*_~`|>\[\]()])/g, '\\$1');
}
