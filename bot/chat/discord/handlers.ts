// One small function per Discord command, button and modal, all calling the same JobService.
import {
  DiscordAPIError,
  MessageFlags,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  type MessageContextMenuCommandInteraction,
  type ModalSubmitInteraction,
  type RepliableInteraction,
} from 'discord.js';
import { parseCombineIds } from '../../core/combine.js';
import type { VideoRequest } from '../../core/command.js';
import { FAILURE_TEXT, UserFacingError } from '../../core/errors.js';
import type { ImageLimits } from '../../core/image.js';
import type { Conversation, Job, Requester } from '../../core/job.js';
import type { Logger } from '../../core/ports.js';
import type { CombineRequest, ExtendRequest, JobService, RedoRequest } from '../../core/service.js';
import { details } from '../../core/status.js';
import { ANIMATE_COMMAND, COMBINE_COMMAND, ENHANCE_COMMAND, Ids, VIDEO_COMMAND, parseId } from './commands.js';
import { adminCommand, videosButton, videosCommand } from './admin.js';
import { ADMIN_COMMAND as ADMIN, VIDEOS_COMMAND as VIDEOS } from './admin-commands.js';
import { DEFAULT_ATTACHMENT_LIMIT } from './delivery.js';
import { checkCanPostVideos } from './permissions.js';
import { downloadImage, firstImage } from './images.js';
import { channelErrorText, type ChannelMessages } from './messages.js';
import { animateUploadModal, enhancedMessage, promptModal } from './render.js';
import { videoRequestFrom } from './video-options.js';

export interface HandlerContext {
  readonly service: JobService;
  readonly messages: ChannelMessages;
  readonly imageLimits: ImageLimits;
  readonly logger: Logger;
  /** Images from "Animate with videobot", downloaded while the prompt modal is open; keyed by that interaction's id. */
  readonly pendingImages: Map<string, Promise<Uint8Array>>;
}

const EPHEMERAL = { flags: MessageFlags.Ephemeral } as const;
const INTERNAL = FAILURE_TEXT.INTERNAL_ERROR!;
const PENDING_IMAGE_TTL_MS = 15 * 60 * 1000;
const ALREADY_ACKNOWLEDGED = 40060;
const UNKNOWN_INTERACTION = 10062;

/** Routes one interaction to its handler; every failure ends as an ephemeral sentence for the user. */
export async function handleInteraction(ctx: HandlerContext, i: Interaction): Promise<void> {
  const log = ctx.logger.child({ interactionId: i.id, userId: i.user.id });
  if (!i.isRepliable()) return;
  try {
    if (i.isChatInputCommand()) {
      if (i.commandName === VIDEO_COMMAND) return await videoCommand(ctx, i);
      if (i.commandName === ENHANCE_COMMAND) return await enhanceCommand(ctx, i);
      if (i.commandName === VIDEOS) return await videosCommand(ctx.service, i);
      if (i.commandName === ADMIN) return await adminCommand(ctx.service, i);
      if (i.commandName === COMBINE_COMMAND) return await combineCommand(ctx, i);
    } else if (i.isMessageContextMenuCommand() && i.commandName === ANIMATE_COMMAND) {
      return await animateCommand(ctx, i);
    } else if (i.isButton()) {
      return await button(ctx, i);
    } else if (i.isModalSubmit()) {
      return await modal(ctx, i);
    }
    log.warn({ type: i.type }, 'unhandled interaction');
  } catch (err) {
    if (err instanceof DiscordAPIError && (err.code === ALREADY_ACKNOWLEDGED || err.code === UNKNOWN_INTERACTION)) {
      // A replayed or expired interaction: someone else answered it, or nobody can now.
      log.info({ code: err.code }, 'interaction already answered or expired; ignoring');
      return;
    }
    if (!(err instanceof UserFacingError)) log.error({ err }, 'interaction failed');
    await tell(i, err instanceof UserFacingError ? err.message : (channelErrorText(err) ?? INTERNAL)).catch((e: unknown) =>
      log.warn({ err: e }, 'could not tell the user about an error'),
    );
  }
}

/** Answers ephemerally, whatever has been sent for this interaction so far. */
async function tell(i: RepliableInteraction, content: string): Promise<void> {
  if (i.deferred && i.ephemeral) await i.editReply({ content, components: [], embeds: [] });
  else if (i.deferred || i.replied) await i.followUp({ content, ...EPHEMERAL });
  else await i.reply({ content, ...EPHEMERAL });
}

function requester(i: Interaction): Requester {
  const member = i.member && 'nick' in i.member ? i.member.nick : undefined;
  return { platform: 'discord', userId: i.user.id, displayName: member ?? i.user.globalName ?? i.user.username };
}

/** Where the status message goes: the interaction's channel, with the attachment limit Discord gave this interaction. */
function conversationFor(i: RepliableInteraction): Conversation {
  if (!i.channelId) throw new UserFacingError('INVALID_COMMAND', 'Use this command in a channel.');
  // Fail before the GPU, not after it: a video the bot could not post here is refused now.
  checkCanPostVideos(i.appPermissions);
  return {
    platform: 'discord',
    channelId: i.channelId,
    extra: {
      attachmentSizeLimit: String(i.attachmentSizeLimit ?? DEFAULT_ATTACHMENT_LIMIT),
      ...(i.guildId ? { guildId: i.guildId } : {}),
    },
  };
}

/** A new video, a Retry / Regenerate / Edit prompt of an earlier job, an Extend of one, or a Combine of several. */
type Ask =
  | { readonly request: VideoRequest; readonly image?: Uint8Array }
  | { readonly redo: RedoRequest['redo'] }
  | { readonly extend: ExtendRequest['extend'] }
  | { readonly combine: CombineRequest['combine'] };

/**
 * Hands the request to the JobService's one door: it refuses by throwing before anything is posted in the channel
 * (the error reaches the person in this deferred, ephemeral reply), then posts the status message with the bot token.
 * The interaction only gets a pointer to it: everything after this works without the 15-minute interaction token.
 */
async function submit(ctx: HandlerContext, i: RepliableInteraction, ask: Ask): Promise<void> {
  const { job, created } = await ctx.service.submit({ requester: requester(i), conversation: conversationFor(i), requestKey: `discord:${i.id}`, ...ask });
  if (!created) {
    await i.editReply({ content: `This was already started as job ${job.id}.` });
    return;
  }
  const link = `https://discord.com/channels/${i.guildId ?? '@me'}/${job.conversation.channelId}/${job.conversation.statusMessageId ?? ''}`;
  await i.editReply({ content: `Started job ${job.id}. Progress and the video will appear here: ${link}` });
}

async function videoCommand(ctx: HandlerContext, i: ChatInputCommandInteraction): Promise<void> {
  await i.deferReply(EPHEMERAL);
  const request = videoRequestFrom(i.options);
  const attachment = i.options.getAttachment('image');
  const image = attachment ? await downloadImage(attachment, ctx.imageLimits) : undefined;
  await submit(ctx, i, { request, ...(image ? { image } : {}) });
}

async function enhanceCommand(ctx: HandlerContext, i: ChatInputCommandInteraction): Promise<void> {
  await i.deferReply(EPHEMERAL);
  const idea = i.options.getString('prompt', true);
  const enhanced = await ctx.service.enhance(idea);
  await i.editReply(enhancedMessage(idea, enhanced));
}

/**
 * /combine jobs:"j1 j2 …": one job that joins the clips without the GPU. With no ids, the videos asked for in this
 * channel (a Discord thread is a channel of its own), oldest first.
 */
async function combineCommand(ctx: HandlerContext, i: ChatInputCommandInteraction): Promise<void> {
  await i.deferReply(EPHEMERAL);
  await submit(ctx, i, { combine: { jobIds: parseCombineIds(i.options.getString('jobs') ?? '') } });
}

async function animateCommand(ctx: HandlerContext, i: MessageContextMenuCommandInteraction): Promise<void> {
  const attachment = firstImage(i.targetMessage.attachments.values());
  // No image in the message: the form asks for one (a File Upload), rather than refusing.
  if (!attachment) {
    await i.showModal(animateUploadModal());
    return;
  }
  // The modal must be the first answer (within 3 s), so download meanwhile and pick the bytes up on submit.
  const download = downloadImage(attachment, ctx.imageLimits);
  download.catch(() => undefined);
  ctx.pendingImages.set(i.id, download);
  setTimeout(() => ctx.pendingImages.delete(i.id), PENDING_IMAGE_TTL_MS).unref();
  await i.showModal(promptModal(Ids.animateModal(i.id), 'Animate with videobot', '', 'How should the image move?'));
}

async function button(ctx: HandlerContext, i: ButtonInteraction): Promise<void> {
  const { action, arg: jobId } = parseId(i.customId);
  const actor = { platform: 'discord' as const, userId: i.user.id };
  switch (action) {
    case 'cancel': {
      await i.deferReply(EPHEMERAL);
      const job = await ctx.service.cancel(jobId, actor);
      await i.editReply({ content: `Cancelled job ${job.id}.` });
      return;
    }
    case 'regen':
    case 'retry': {
      await i.deferReply(EPHEMERAL);
      await submit(ctx, i, { redo: { jobId, newSeed: action === 'regen' } });
      return;
    }
    case 'edit': {
      const job = await mustGet(ctx, jobId);
      await i.showModal(promptModal(Ids.editModal(jobId), 'Edit prompt', job.params.prompt));
      return;
    }
    case 'extend': {
      const job = await mustGet(ctx, jobId);
      await i.showModal(promptModal(Ids.extendModal(jobId), 'Extend video', job.params.prompt, 'What happens next?'));
      return;
    }
    case 'videos':
      return videosButton(ctx.service, i, jobId);
    case 'details': {
      const job = await mustGet(ctx, jobId);
      await i.reply({ content: `\`\`\`\n${details(job).replace(/```/g, "'''").slice(0, 1900)}\n\`\`\``, ...EPHEMERAL });
      return;
    }
    case 'enh-gen': {
      await i.deferReply(EPHEMERAL);
      await submit(ctx, i, { request: { prompt: enhancedPromptOf(i) } });
      return;
    }
    case 'enh-edit':
      await i.showModal(promptModal(Ids.enhanceModal, 'Edit & generate', enhancedPromptOf(i)));
      return;
    case 'enh-again': {
      await i.deferUpdate();
      const idea = i.message.embeds[0]?.fields.find((f) => f.name === 'Your idea')?.value ?? enhancedPromptOf(i);
      const enhanced = await ctx.service.enhance(idea);
      await i.editReply(enhancedMessage(idea, enhanced));
      return;
    }
    default:
      throw new UserFacingError('INVALID_COMMAND', 'That button no longer works; run the command again.');
  }
}

async function modal(ctx: HandlerContext, i: ModalSubmitInteraction): Promise<void> {
  const { action, arg } = parseId(i.customId);
  const prompt = i.fields.getTextInputValue(Ids.promptField).trim();
  switch (action) {
    case 'edit-modal': {
      await i.deferReply(EPHEMERAL);
      await submit(ctx, i, { redo: { jobId: arg, prompt } });
      return;
    }
    case 'extend-modal': {
      await i.deferReply(EPHEMERAL);
      await submit(ctx, i, { extend: { jobId: arg, prompt } });
      return;
    }
    case 'enh-modal': {
      await i.deferReply(EPHEMERAL);
      await submit(ctx, i, { request: { prompt } });
      return;
    }
    case 'animate-upload': {
      await i.deferReply(EPHEMERAL);
      const file = i.fields.getUploadedFiles(Ids.imageField)?.first();
      if (!file) throw new UserFacingError('INVALID_IMAGE', 'Add an image (PNG, JPEG or WebP) to the form to animate it.');
      const image = await downloadImage({ url: file.url, name: file.name, size: file.size, contentType: file.contentType }, ctx.imageLimits);
      await submit(ctx, i, { request: { prompt }, image });
      return;
    }
    case 'animate-modal': {
      const download = ctx.pendingImages.get(arg);
      if (!download) {
        throw new UserFacingError('INVALID_IMAGE', 'That took too long, or the bot restarted meanwhile. Use "Animate with videobot" on the message again.');
      }
      await i.deferReply(EPHEMERAL);
      const image = await download;
      ctx.pendingImages.delete(arg);
      await submit(ctx, i, { request: { prompt }, image });
      return;
    }
    default:
      throw new UserFacingError('INVALID_COMMAND', 'That form no longer works; run the command again.');
  }
}

async function mustGet(ctx: HandlerContext, jobId: string): Promise<Job> {
  const job = await ctx.service.get(jobId);
  if (!job) throw new UserFacingError('JOB_NOT_FOUND', `There is no job ${jobId} any more.`);
  return job;
}

function enhancedPromptOf(i: ButtonInteraction): string {
  const text = i.message.embeds[0]?.description;
  if (!text) throw new UserFacingError('INVALID_COMMAND', 'That message has no enhanced prompt any more; run /enhance again.');
  return text;
}
