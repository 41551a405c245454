// Downloads an image attachment right away (Discord CDN links expire) and checks it by its bytes.
import { UserFacingError } from '../../core/errors.js';
import { inspectImage, type ImageLimits } from '../../core/image.js';
import { mib } from './render.js';

export interface AttachmentRef {
  readonly url: string;
  readonly name: string;
  readonly size: number;
  readonly contentType?: string | null;
}

const DOWNLOAD_TIMEOUT_MS = 20_000;

export async function downloadImage(attachment: AttachmentRef, limits: ImageLimits): Promise<Uint8Array> {
  const name = `The attachment "${attachment.name}"`;
  if (attachment.size > limits.maxBytes) {
    throw new UserFacingError('INVALID_IMAGE', `${name} is ${mib(attachment.size)}; images up to ${mib(limits.maxBytes)} are accepted.`);
  }
  let response: Response;
  try {
    response = await fetch(attachment.url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  } catch (cause) {
    throw new UserFacingError('INVALID_IMAGE', `${name} could not be downloaded from Discord. Attach it again.`, { cause });
  }
  if (!response.ok) {
    throw new UserFacingError('INVALID_IMAGE', `${name} could not be downloaded from Discord (HTTP ${response.status}). Attach it again.`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  inspectImage(bytes, limits, name);
  return bytes;
}

/** Picks the first attachment that claims to be an image (the bytes are checked later). */
export function firstImage<T extends AttachmentRef>(attachments: Iterable<T>): T | undefined {
  for (const a of attachments) {
    if (a.contentType?.startsWith('image/') || /\.(png|jpe?g|webp)$/i.test(a.name)) return a;
  }
  return undefined;
}
