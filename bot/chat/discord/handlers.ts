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
import type { VideoRequest } from '../../core/command.js';
import { FAILURE_TEXT, UserFacingError } from '../../core/errors.js';
import type { ImageLimits } from '../../core/image.js';
import type { Conversation, Job, Requester } from '../../core/job.js';
import type { Logger } from '../../core/ports.js';
import type { JobService } from '../../core/service.js';
import { details } from '../../core/status.js';
import { ANIMATE_COMMAND, ENHANCE_COMMAND, Ids, VIDEO_COMMAND, parseId } from './commands.js';
import { DEFAULT_ATTACHMENT_LIMIT } from './delivery.js';
import { downloadImage, firstImage } from './images.js';
import { channelErrorText, type ChannelMessages } from './messages.js';
import { enhancedMessage, preparingMessage, promptModal } from './render.js';

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

function conversationFor(i: RepliableInteraction, statusMessageId: string): Conversation {
  if (!i.channelId) throw new UserFacingError('INVALID_COMMAND', 'Use this command in a channel.');
  return {
    platform: 'discord',
    channelId: i.channelId,
    statusMessageId,
    extra: {
      attachmentSizeLimit: String(i.attachmentSizeLimit ?? DEFAULT_ATTACHMENT_LIMIT),
      ...(i.guildId ? { guildId: i.guildId } : {}),
    },
  };
}

/**
 * Posts the status message with the bot token, then makes the job. The interaction (already deferred, ephemeral)
 * only gets a pointer to it: everything after this works without the 15-minute interaction token.
 */
async function startJob(
  ctx: HandlerContext,
  i: RepliableInteraction,
  prompt: string,
  submit: (conversation: Conversation, requestKey: string) => Promise<{ job: Job; created: boolean }>,
): Promise<void> {
  if (!i.channelId) throw new UserFacingError('INVALID_COMMAND', 'Use this command in a channel.');
  const status = await ctx.messages.post(i.channelId, preparingMessage(i.user.id, prompt));
  let outcome: { job: Job; created: boolean };
  try {
    outcome = await submit(conversationFor(i, status.id), `discord:${i.id}`);
  } catch (err) {
    await ctx.messages.delete(i.channelId, status.id).catch(() => undefined);
    throw err;
  }
  const link = `https://discord.com/channels/${i.guildId ?? '@me'}/${i.channelId}/${status.id}`;
  if (!outcome.created) {
    await ctx.messages.delete(i.channelId, status.id).catch(() => undefined);
    await i.editReply({ content: `This was already started as job ${outcome.job.id}.` });
    return;
  }
  await i.editReply({ content: `Started job ${outcome.job.id}. Progress and the video will appear here: ${link}` });
}

async function videoCommand(ctx: HandlerContext, i: ChatInputCommandInteraction): Promise<void> {
  await i.deferReply(EPHEMERAL);
  const o = i.options;
  const request: VideoRequest = { prompt: o.getString('prompt', true) };
  const model = o.getString('model');
  if (model !== null) request.model = model;
  const seed = o.getInteger('seed');
  if (seed !== null) request.seed = seed;
  const frames = o.getInteger('frames');
  if (frames !== null) request.frames = frames;
  const steps = o.getInteger('steps');
  if (steps !== null) request.steps = steps;
  const guidance = o.getNumber('guidance');
  if (guidance !== null) request.guidance = guidance;
  const negative = o.getString('negative');
  if (negative !== null) request.negative = negative;
  const enhance = o.getBoolean('enhance');
  if (enhance !== null) request.enhance = enhance;
  const attachment = o.getAttachment('image');
  const image = attachment ? await downloadImage(attachment, ctx.imageLimits) : undefined;
  // Refuse bad input privately before anything is posted in the channel.
  await ctx.service.check({ requester: requester(i), conversation: { platform: 'discord', channelId: i.channelId ?? '' }, request, ...(image ? { image } : {}) });
  await startJob(ctx, i, request.prompt, (conversation, requestKey) =>
    ctx.service.submit({ requester: requester(i), conversation, request, requestKey, ...(image ? { image } : {}) }),
  );
}

async function enhanceCommand(ctx: HandlerContext, i: ChatInputCommandInteraction): Promise<void> {
  await i.deferReply(EPHEMERAL);
  const idea = i.options.getString('prompt', true);
  const enhanced = await ctx.service.enhance(idea);
  await i.editReply(enhancedMessage(idea, enhanced));
}

async function animateCommand(ctx: HandlerContext, i: MessageContextMenuCommandInteraction): Promise<void> {
  const attachment = firstImage(i.targetMessage.attachments.values());
  if (!attachment) {
    throw new UserFacingError('INVALID_IMAGE', 'That message has no image. Use "Animate with videobot" on a message with a PNG, JPEG or WebP attached.');
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
      const job = await mustGet(ctx, jobId);
      await ctx.service.checkResubmit(jobId, requester(i), { platform: 'discord', channelId: i.channelId ?? '' }, { newSeed: action === 'regen' });
      await startJob(ctx, i, job.params.prompt, (conversation, key) =>
        ctx.service.resubmit(jobId, requester(i), { newSeed: action === 'regen' }, conversation, key),
      );
      return;
    }
    case 'edit': {
      const job = await mustGet(ctx, jobId);
      await i.showModal(promptModal(Ids.editModal(jobId), 'Edit prompt', job.params.prompt));
      return;
    }
    case 'details': {
      const job = await mustGet(ctx, jobId);
      await i.reply({ content: `\`\`\`\n${details(job).replace(/```/g, "'''").slice(0, 1900)}\n\`\`\``, ...EPHEMERAL });
      return;
    }
    case 'enh-gen': {
      await i.deferReply(EPHEMERAL);
      const prompt = enhancedPromptOf(i);
      await startJob(ctx, i, prompt, (conversation, requestKey) =>
        ctx.service.submit({ requester: requester(i), conversation, request: { prompt }, requestKey }),
      );
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
      await ctx.service.checkResubmit(arg, requester(i), { platform: 'discord', channelId: i.channelId ?? '' }, { prompt });
      await startJob(ctx, i, prompt, (conversation, key) => ctx.service.resubmit(arg, requester(i), { prompt }, conversation, key));
      return;
    }
    case 'enh-modal': {
      await i.deferReply(EPHEMERAL);
      await startJob(ctx, i, prompt, (conversation, requestKey) =>
        ctx.service.submit({ requester: requester(i), conversation, request: { prompt }, requestKey }),
      );
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
      await startJob(ctx, i, prompt, (conversation, requestKey) =>
        ctx.service.submit({ requester: requester(i), conversation, request: { prompt }, image, requestKey }),
      );
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
