// The definitions of /videos and /admin as Discord application commands (commands.ts sends them with the others).
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  InteractionContextType,
  PermissionFlagsBits,
  type RESTPostAPIApplicationCommandsJSONBody,
} from 'discord.js';
import { MAX_HISTORY_PAGES } from '../../core/history.js';
import { MAX_TERM_CHARS } from '../../core/moderation.js';

export const VIDEOS_COMMAND = 'videos';
export const ADMIN_COMMAND = 'admin';

/** Newer/Older buttons under a page of /videos: `vb:videos:<owner's user id>:<page>`. */
export const videosPageId = (ownerId: string, page: number) => `vb:videos:${ownerId}:${page}`;

const person = (description: string) => ({ type: ApplicationCommandOptionType.User, name: 'user', description, required: true }) as const;

export function adminCommandDefinitions(): RESTPostAPIApplicationCommandsJSONBody[] {
  return [
    {
      type: ApplicationCommandType.ChatInput,
      name: VIDEOS_COMMAND,
      description: 'Your recent videos, 10 a page (only you see the list)',
      contexts: [InteractionContextType.Guild, InteractionContextType.BotDM],
      integration_types: [ApplicationIntegrationType.GuildInstall],
      options: [
        { type: ApplicationCommandOptionType.Integer, name: 'page', description: 'Which page (1 is the newest)', min_value: 1, max_value: MAX_HISTORY_PAGES },
        { type: ApplicationCommandOptionType.User, name: 'user', description: 'Admins: whose videos' },
      ],
    },
    {
      type: ApplicationCommandType.ChatInput,
      name: ADMIN_COMMAND,
      description: 'videobot admins: blocked terms, usage, quota resets, bans',
      // Shown to members who can manage the server; the bot still checks VIDEOBOT_ADMINS on every use.
      default_member_permissions: String(PermissionFlagsBits.ManageGuild),
      contexts: [InteractionContextType.Guild],
      integration_types: [ApplicationIntegrationType.GuildInstall],
      options: [
        {
          type: ApplicationCommandOptionType.SubcommandGroup,
          name: 'block',
          description: 'Terms that make a prompt refused (whole words; case and accents do not matter)',
          options: [
            {
              type: ApplicationCommandOptionType.Subcommand,
              name: 'add',
              description: 'Refuse prompts with this word or phrase',
              options: [{ type: ApplicationCommandOptionType.String, name: 'term', description: 'A word or phrase', required: true, max_length: MAX_TERM_CHARS }],
            },
            {
              type: ApplicationCommandOptionType.Subcommand,
              name: 'remove',
              description: 'Allow this word or phrase again',
              options: [{ type: ApplicationCommandOptionType.String, name: 'term', description: 'A blocked word or phrase', required: true, max_length: MAX_TERM_CHARS }],
            },
            { type: ApplicationCommandOptionType.Subcommand, name: 'list', description: 'The blocked terms, and how many prompts were refused' },
          ],
        },
        { type: ApplicationCommandOptionType.Subcommand, name: 'usage', description: 'Their videos today against the quota, jobs in progress, refusals', options: [person('Whose usage')] },
        { type: ApplicationCommandOptionType.Subcommand, name: 'reset', description: 'Reset their daily quota', options: [person('Whose quota')] },
        { type: ApplicationCommandOptionType.Subcommand, name: 'ban', description: 'They may not make videos until unbanned', options: [person('Who')] },
        { type: ApplicationCommandOptionType.Subcommand, name: 'unban', description: 'Lift a ban', options: [person('Who')] },
      ],
    },
  ];
}
