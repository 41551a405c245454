// What the bot must be allowed in a channel to deliver a video there, read from the interaction's app_permissions
// (the bot's permissions in that channel, sent with every interaction), so a request it could not deliver is refused
// before any GPU work.
import { PermissionFlagsBits, PermissionsBitField } from 'discord.js';
import { UserFacingError } from '../../core/errors.js';

/** Each permission the status message and the video post need, with its name as Discord's settings show it. */
const NEEDED: readonly [bigint, string][] = [
  [PermissionFlagsBits.ViewChannel, 'View Channel'],
  [PermissionFlagsBits.SendMessages, 'Send Messages'],
  [PermissionFlagsBits.AttachFiles, 'Attach Files'],
];

/** Throws NOT_ALLOWED in one sentence naming what to grant, when `appPermissions` lacks any of them. Absent: unknown, allowed. */
export function checkCanPostVideos(appPermissions: Readonly<PermissionsBitField> | null | undefined): void {
  if (!appPermissions) return;
  const missing = NEEDED.filter(([bit]) => !appPermissions.has(bit)).map(([, name]) => name);
  if (missing.length === 0) return;
  const list = missing.length === 1 ? `the ${missing[0]} permission` : `the ${missing.slice(0, -1).join(', ')} and ${missing.at(-1)} permissions`;
  throw new UserFacingError(
    'NOT_ALLOWED',
    `I can't post videos in this channel: I'm missing ${list} here. Ask a server admin to give videobot ${missing.length === 1 ? 'it' : 'them'} in this channel's settings, or use me in another channel.`,
  );
}
