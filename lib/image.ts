import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp from 'sharp';

import { writeAtomically } from './files';
import { CheckedImageInput, GreyImage, outputFormats, OutputFormat, RgbImage } from './image-input';

export type { OutputFormat } from './image-input';

// libvips keeps the results of recent operations (up to 50 MB) in case the same ones come again;
// a run's images are read once, and the cache was what stayed resident after runs (an aborted run
// left 50 to 60 MB until the next). An app that wants it can call sharp.cache() with its limits.
sharp.cache(false);

function unreadable(input: CheckedImageInput, name: string, error: unknown): Error {
  const source =
    typeof input === 'string'
      ? input
      : Buffer.isBuffer(input)
        ? `a Buffer of ${input.length} bytes`
        : `${input.width}x${input.height} raw pixels`;
  return new Error(`Could not read ${name} (${source}) as an image: ${(error as Error).message}`);
}

function open(input: CheckedImageInput): sharp.Sharp {
  if (typeof input === 'string' || Buffer.isBuffer(input)) return sharp(input, { failOn: 'error' });
  const { data, width, height, channels } = input;
  return sharp(data, { raw: { width, height, channels } });
}

/** The size `decodeImage` will give the image, from its header alone. */
export async function scaledSize(
  input: CheckedImageInput,
  name: string,
  longestSide: number,
): Promise<{ width: number; height: number }> {
  let metadata: sharp.Metadata;
  try {
    metadata = await open(input).metadata();
  } catch (error) {
    throw unreadable(input, name, error);
  }
  // EXIF orientations 5 to 8 turn the picture a quarter.
  const turned = (metadata.orientation ?? 1) >= 5;
  const width = (turned ? metadata.height : metadata.width) ?? longestSide;
  const height = (turned ? metadata.width : metadata.height) ?? longestSide;
  const scale = longestSide / Math.max(width, height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * Decodes any image sharp reads into sRGB RGB bytes, EXIF orientation applied, transparency
 * flattened onto white, scaled so that its longest side is `size`, or to exactly `size`'s
 * width and height.
 */
export async function decodeImage(
  input: CheckedImageInput,
  name: string,
  size: number | { width: number; height: number },
): Promise<RgbImage> {
  const box =
    typeof size === 'number'
      ? { width: size, height: size, fit: 'inside' as const }
      : { ...size, fit: 'fill' as const };
  try {
    const { data, info } = await open(input)
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize({ ...box, kernel: 'lanczos3' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data };
  } catch (error) {
    throw unreadable(input, name, error);
  }
}

/**
 * Decodes a mask: its grey level (transparency as black), 255 where it applies fully, scaled to
 * exactly `size` with a kernel that keeps soft edges soft and adds no ringing.
 */
export async function decodeMask(
  input: CheckedImageInput,
  name: string,
  size: { width: number; height: number },
): Promise<GreyImage> {
  try {
    const { data, info } = await open(input)
      .rotate()
      .flatten({ background: '#000000' })
      .toColourspace('b-w')
      .resize({ ...size, fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 1) throw new Error(`${info.channels} channels after conversion to grey`);
    return { width: info.width, height: info.height, data };
  } catch (error) {
    throw unreadable(input, name, error);
  }
}

/**
 * Decodes several images at once. When one fails, it is decoded again once the rest are done:
 * libvips, decoding several at once, can lose the reason of a failure ("Unknown error" for a
 * JPEG cut short as the style, "premature end of JPEG image" as the content).
 */
export async function decodeImages(
  images: ReadonlyArray<readonly [CheckedImageInput, string, number]>,
): Promise<RgbImage[]> {
  const decoded = await Promise.allSettled(images.map(([input, name, size]) => decodeImage(input, name, size)));
  const failed = decoded.findIndex((result) => result.status === 'rejected');
  if (failed < 0) return decoded.map((result) => (result as PromiseFulfilledResult<RgbImage>).value);
  const [input, name, size] = images[failed];
  await decodeImage(input, name, size);
  throw (decoded[failed] as PromiseRejectedResult).reason;
}

export function encodeImage(image: RgbImage, format: OutputFormat): Promise<Buffer> {
  return open({ ...image, channels: 3 })
    .toFormat(format)
    .toBuffer();
}

export function formatOf(path: string): OutputFormat {
  const format = outputFormats[extname(path).toLowerCase()];
  if (!format) throw new Error(`Cannot tell an image format from the extension of ${path}`);
  return format;
}

/** Writes `image` to `path` in the format its extension names, all at once or not at all. */
export async function writeImage(image: RgbImage, path: string): Promise<void> {
  const encoded = await encodeImage(image, formatOf(path));
  await writeAtomically(path, (temporary) => writeFile(temporary, encoded));
}
