// Downloads an image attachment right away (Discord CDN links expire) and checks it by its bytes.
import { UserFacingError } from '../../core/errors.js';
import { collectWithin, inspectImage, type ImageLimits } from '../../core/image.js';
import { formatBytes } from '../../core/status.js';

export interface AttachmentRef {
  readonly url: string;
  readonly name: string;
  readonly size: number;
  readonly contentType?: string | null;
}

const DOWNLOAD_TIMEOUT_MS = 20_000;

/**
 * Discord's file-type filter (`file_types`) for our image inputs: the attachment option of /video and the File Upload
 * of the Animate form. Extensions only, so `.jpg` must be among them (Discord's rule for image filters, for mobile
 * clients). It filters by name in the picker; the bytes are still checked (inspectImage).
 */
export const IMAGE_FILE_TYPES = ['.png', '.jpg', '.jpeg', '.webp'] as const;

export async function downloadImage(attachment: AttachmentRef, limits: ImageLimits): Promise<Uint8Array> {
  const name = `The attachment "${attachment.name}"`;
  if (attachment.size > limits.maxBytes) {
    throw new UserFacingError('INVALID_IMAGE', `${name} is ${formatBytes(attachment.size)}; images up to ${formatBytes(limits.maxBytes)} are accepted.`);
  }
  let response: Response;
  try {
    response = await fetch(attachment.url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  } catch (cause) {
    throw new UserFacingError('INVALID_IMAGE', `${name} could not be downloaded from Discord. Attach it again.`, { cause });
  }
  if (!response.ok || !response.body) {
    throw new UserFacingError('INVALID_IMAGE', `${name} could not be downloaded from Discord (HTTP ${response.status}). Attach it again.`);
  }
  // The size Discord reported is checked above; the bytes are capped too, whatever the server sends.
  const bytes = await collectWithin(response.body as unknown as AsyncIterable<Uint8Array>, limits.maxBytes);
  if (!bytes) throw new UserFacingError('INVALID_IMAGE', `${name} is larger than ${formatBytes(limits.maxBytes)}, the limit for images.`);
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
