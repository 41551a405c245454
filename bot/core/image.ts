// Checks an uploaded image by its bytes (magic numbers and header dimensions), before any job is made.
import { UserFacingError } from './errors.js';
import { IMAGE_LIMITS } from './limits.js';

export type ImageType = 'png' | 'jpeg' | 'webp';

export interface ImageInfo {
  readonly type: ImageType;
  readonly width: number;
  readonly height: number;
  readonly extension: string;
}

export interface ImageLimits {
  readonly maxBytes: number;
  readonly maxPixels: number;
}

/** processing/limits.json's, shared with the job. */
export const DEFAULT_IMAGE_LIMITS: ImageLimits = IMAGE_LIMITS;

export function sniffImageType(bytes: Uint8Array): ImageType | undefined {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

/** Validates bytes as a PNG, JPEG or WebP within limits. Throws UserFacingError('INVALID_IMAGE') saying what is wrong. */
export function inspectImage(bytes: Uint8Array, limits: ImageLimits = DEFAULT_IMAGE_LIMITS, name = 'The file'): ImageInfo {
  if (bytes.length === 0) throw invalid(`${name} is empty.`);
  if (bytes.length > limits.maxBytes) {
    throw invalid(`${name} is ${mib(bytes.length)} MiB; images up to ${mib(limits.maxBytes)} MiB are accepted.`);
  }
  const type = sniffImageType(bytes);
  if (!type) {
    const looksHtml = /^\s*<(!doctype|html)/i.test(new TextDecoder().decode(bytes.subarray(0, 64)));
    throw invalid(
      looksHtml
        ? `${name} could not be downloaded: the server sent a web page instead of the image (is the bot in this channel, with the files:read scope?).`
        : `${name} is not a PNG, JPEG or WebP image.`,
    );
  }
  const size = dimensions(type, bytes);
  if (!size || size.width <= 0 || size.height <= 0) throw invalid(`${name} looks like a ${type.toUpperCase()} but its header is damaged.`);
  if (size.width * size.height > limits.maxPixels) {
    throw invalid(`${name} is ${size.width}×${size.height}; images up to ${(limits.maxPixels / 1e6).toFixed(0)} megapixels are accepted.`);
  }
  return { type, ...size, extension: type === 'jpeg' ? 'jpg' : type };
}

/**
 * Collects a download's body, stopping as soon as it grows past `maxBytes` (returns undefined then),
 * so a server that lies about the size, or sends none, cannot make the bot hold more than the limit.
 */
export async function collectWithin(chunks: AsyncIterable<Uint8Array>, maxBytes: number): Promise<Uint8Array | undefined> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    size += chunk.length;
    if (size > maxBytes) return undefined;
    parts.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return bytes;
}

function invalid(message: string): UserFacingError {
  return new UserFacingError('INVALID_IMAGE', message);
}

function dimensions(type: ImageType, b: Uint8Array): { width: number; height: number } | undefined {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (type === 'png') {
    if (b.length < 24 || ascii(b, 12, 16) !== 'IHDR') return undefined;
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (type === 'webp') {
    if (b.length < 30) return undefined;
    const chunk = ascii(b, 12, 16);
    if (chunk === 'VP8 ') return { width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff };
    if (chunk === 'VP8L') {
      const bits = view.getUint32(21, true);
      return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
    }
    if (chunk === 'VP8X') {
      const w = 1 + (b[24]! | (b[25]! << 8) | (b[26]! << 16));
      const h = 1 + (b[27]! | (b[28]! << 8) | (b[29]! << 16));
      return { width: w, height: h };
    }
    return undefined;
  }
  // JPEG: walk the markers to the first start-of-frame.
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1]!;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    const length = view.getUint16(i + 2);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) return { height: view.getUint16(i + 5), width: view.getUint16(i + 7) };
    i += 2 + length;
  }
  return undefined;
}

function ascii(b: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...b.subarray(start, end));
}

function mib(n: number): string {
  return (n / 1024 / 1024).toFixed(1).replace(/\.0$/, '');
}
