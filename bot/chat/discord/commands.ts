// The Discord application commands (/video, /enhance, /combine, "Animate with videobot") and the custom ids of our buttons and modals.
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  InteractionContextType,
  type RESTPostAPIApplicationCommandsJSONBody,
} from 'discord.js';
import { MAX_PROMPT_CHARS } from '../../core/limits.js';
import { adminCommandDefinitions } from './admin-commands.js';
import { videoOptionDefinitions } from './video-options.js';

export const VIDEO_COMMAND = 'video';
export const ENHANCE_COMMAND = 'enhance';
export const COMBINE_COMMAND = 'combine';
export const ANIMATE_COMMAND = 'Animate with videobot';

/** Button and modal ids: `vb:<action>[:<arg>]`, at most 100 characters as Discord requires. */
export const Ids = {
  cancel: (jobId: string) => `vb:cancel:${jobId}`,
  regenerate: (jobId: string) => `vb:regen:${jobId}`,
  retry: (jobId: string) => `vb:retry:${jobId}`,
  editPrompt: (jobId: string) => `vb:edit:${jobId}`,
  extend: (jobId: string) => `vb:extend:${jobId}`,
  details: (jobId: string) => `vb:details:${jobId}`,
  enhanceGenerate: 'vb:enh-gen',
  enhanceEdit: 'vb:enh-edit',
  enhanceAgain: 'vb:enh-again',
  /** Modal: a new prompt for an earlier job (Edit prompt). */
  editModal: (jobId: string) => `vb:edit-modal:${jobId}`,
  /** Modal: the prompt of the continuation of an earlier job (Extend). */
  extendModal: (jobId: string) => `vb:extend-modal:${jobId}`,
  /** Modal: generate from an edited enhanced prompt. */
  enhanceModal: 'vb:enh-modal',
  /** Modal: the prompt for "Animate with videobot"; the arg is the context-menu interaction id. */
  animateModal: (interactionId: string) => `vb:animate-modal:${interactionId}`,
  /** Modal: the prompt and an uploaded image, for "Animate with videobot" on a message without one. */
  animateUploadModal: 'vb:animate-upload',
  /** The File Upload component of that modal. */
  imageField: 'image',
  promptField: 'prompt',
} as const;

export function parseId(customId: string): { action: string; arg: string } {
  const [prefix, action = '', ...rest] = customId.split(':');
  return prefix === 'vb' ? { action, arg: rest.join(':') } : { action: '', arg: '' };
}

const contexts = [InteractionContextType.Guild, InteractionContextType.BotDM];
const integrationTypes = [ApplicationIntegrationType.GuildInstall];

/** The command definitions, as the registration script sends them (PUT replaces the whole set). */
export function commandDefinitions(): RESTPostAPIApplicationCommandsJSONBody[] {
  return [
    {
      type: ApplicationCommandType.ChatInput,
      name: VIDEO_COMMAND,
      description: 'Make a short AI video from a prompt (and optionally an image to animate)',
      contexts,
      integration_types: integrationTypes,
      options: videoOptionDefinitions(),
    },
    {
      type: ApplicationCommandType.ChatInput,
      name: ENHANCE_COMMAND,
      description: 'Rewrite a short idea into a detailed video prompt, then generate from it',
      contexts,
      integration_types: integrationTypes,
      options: [{ type: ApplicationCommandOptionType.String, name: 'prompt', description: 'Your idea', required: true, max_length: MAX_PROMPT_CHARS }],
    },
    {
      type: ApplicationCommandType.ChatInput,
      name: COMBINE_COMMAND,
      description: "Join videos into one (same size and frame rate): the ids given, or this thread's or channel's",
      contexts,
      integration_types: integrationTypes,
      options: [
        {
          type: ApplicationCommandOptionType.String,
          name: 'jobs',
          description: "Job ids in order, separated by spaces; leave out to join this thread's or channel's videos, oldest first",
          required: false,
          max_length: 1000,
        },
      ],
    },
    { type: ApplicationCommandType.Message, name: ANIMATE_COMMAND, contexts, integration_types: integrationTypes },
    ...adminCommandDefinitions(),
  ];
}
