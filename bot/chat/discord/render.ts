// Turns a job and its StatusView into the Discord status message (content + buttons), as raw API payloads.
import {
  ButtonStyle,
  ComponentType,
  TextInputStyle,
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
  type APIModalInteractionResponseCallbackData,
} from 'discord.js';
import type { Job } from '../../core/job.js';
import { MAX_PROMPT_CHARS } from '../../core/limits.js';
import type { StatusView } from '../../core/ports.js';
import { statusActions, summary, type StatusAction } from '../../core/status.js';
import { Ids } from './commands.js';
import { IMAGE_FILE_TYPES } from './images.js';

export interface MessageBody {
  content: string;
  components: APIActionRowComponent<APIButtonComponent>[];
  embeds?: APIEmbed[];
  allowed_mentions: { parse: []; users?: string[] };
}

const PROMPT_SHOWN = 1200;

/** Mentions render but never ping on status messages: they are edited many times. */
const NO_PINGS = { parse: [] as [] };

export function statusMessage(job: Job, view: StatusView): MessageBody {
  const lines = [`**${icon(view)} ${view.headline}**`];
  if (view.progress) lines.push(`\`${view.progress.bar}\` ${Math.round((100 * view.progress.step) / Math.max(1, view.progress.total))}%`);
  lines.push(quote(job.params.prompt));
  if (job.params.image) lines.push('_(animating the attached image)_');
  lines.push(`-# <@${job.requester.userId}> · ${view.detail ?? summary(job)} · job ${job.id}`);
  return { content: lines.join('\n').slice(0, 2000), components: statusButtons(job, view), allowed_mentions: NO_PINGS };
}

/** The first status message, before the job exists. */
export function preparingMessage(userId: string, prompt: string): MessageBody {
  return { content: [`**⏳ Preparing…**`, quote(prompt), `-# <@${userId}>`].join('\n').slice(0, 2000), components: [], allowed_mentions: NO_PINGS };
}

const STATUS_BUTTON: Record<StatusAction, (jobId: string) => APIButtonComponent> = {
  cancel: (id) => button(Ids.cancel(id), 'Cancel', ButtonStyle.Danger),
  retry: (id) => button(Ids.retry(id), 'Retry', ButtonStyle.Primary),
  regenerate: (id) => button(Ids.regenerate(id), 'Regenerate', ButtonStyle.Primary),
  editPrompt: (id) => button(Ids.editPrompt(id), 'Edit prompt', ButtonStyle.Secondary),
  extend: (id) => button(Ids.extend(id), 'Extend', ButtonStyle.Secondary),
  details: (id) => button(Ids.details(id), 'Details', ButtonStyle.Secondary),
};

function statusButtons(job: Job, view: StatusView): APIActionRowComponent<APIButtonComponent>[] {
  return [{ type: ComponentType.ActionRow, components: statusActions(view).map((action) => STATUS_BUTTON[action](job.id)) }];
}

/** The /enhance reply: the enhanced prompt in an embed (read back by its buttons) and the three actions. */
export function enhancedMessage(original: string, enhanced: { text: string; tokens: number; warning?: string }): MessageBody {
  return {
    content: enhanced.warning ? `⚠️ ${enhanced.warning}` : '',
    embeds: [
      {
        title: 'Enhanced prompt',
        description: enhanced.text,
        fields: [{ name: 'Your idea', value: original.slice(0, 1024) }],
        footer: { text: `about ${enhanced.tokens} tokens` },
      },
    ],
    components: [
      {
        type: ComponentType.ActionRow,
        components: [
          button(Ids.enhanceGenerate, 'Generate', ButtonStyle.Primary),
          button(Ids.enhanceEdit, 'Edit & generate', ButtonStyle.Secondary),
          button(Ids.enhanceAgain, 'Enhance again', ButtonStyle.Secondary),
        ],
      },
    ],
    allowed_mentions: NO_PINGS,
  };
}

/** A modal with one prompt field, pre-filled. */
export function promptModal(customId: string, title: string, value: string, label = 'Prompt'): APIModalInteractionResponseCallbackData {
  return {
    custom_id: customId,
    title,
    components: [
      {
        type: ComponentType.ActionRow,
        components: [
          {
            type: ComponentType.TextInput,
            custom_id: Ids.promptField,
            label,
            style: TextInputStyle.Paragraph,
            required: true,
            min_length: 1,
            max_length: MAX_PROMPT_CHARS,
            ...(value ? { value: value.slice(0, MAX_PROMPT_CHARS) } : {}),
          },
        ],
      },
    ],
  };
}

/**
 * The Animate form for a message without an image: the prompt and a File Upload for one image, each in a Label
 * (Discord's modal components since 2025; a File Upload may only sit in a Label).
 */
export function animateUploadModal(): APIModalInteractionResponseCallbackData {
  return {
    custom_id: Ids.animateUploadModal,
    title: 'Animate with videobot',
    components: [
      {
        type: ComponentType.Label,
        label: 'How should the image move?',
        component: { type: ComponentType.TextInput, custom_id: Ids.promptField, style: TextInputStyle.Paragraph, required: true, min_length: 1, max_length: MAX_PROMPT_CHARS },
      },
      {
        type: ComponentType.Label,
        label: 'Image',
        description: 'A PNG, JPEG or WebP to animate',
        component: { type: ComponentType.FileUpload, custom_id: Ids.imageField, min_values: 1, max_values: 1, required: true, file_types: [...IMAGE_FILE_TYPES] },
      },
    ],
  };
}

function button(customId: string, label: string, style: ButtonStyle.Primary | ButtonStyle.Secondary | ButtonStyle.Danger): APIButtonComponent {
  return { type: ComponentType.Button, custom_id: customId, label, style };
}

function icon(view: StatusView): string {
  switch (view.state) {
    case 'delivered':
      return '✅';
    case 'failed':
      return '⚠️';
    case 'cancelled':
      return '✖️';
    case 'queued':
      return '⏳';
    default:
      return '🎬';
  }
}

function quote(prompt: string): string {
  const shown = prompt.length > PROMPT_SHOWN ? `${prompt.slice(0, PROMPT_SHOWN)}…` : prompt;
  return shown
    .split('\n')
    .map((l) => `> ${escape(l)}`)
    .join('\n');
}

/** Keeps user text from pinging anyone or breaking our formatting. */
export function escape(text: string): string {
  return text.replace(/@(everyone|here)/g, '@\u200b$1').replace(/([*_`~|])/g, '\\$1');
}

