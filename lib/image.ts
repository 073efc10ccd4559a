import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import sharp from 'sharp';

import { ImageInput, outputFormats, RgbImage } from './options';

export type OutputFormat = (typeof outputFormats)[string];

/**
 * Decodes any image sharp reads into sRGB RGB bytes, EXIF orientation applied, transparency
 * flattened onto white, scaled so that its longest side is `longestSide`.
 */
export async function decodeImage(input: ImageInput, name: string, longestSide: number): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(input, { failOn: 'error' })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize({ width: longestSide, height: longestSide, fit: 'inside', kernel: 'lanczos3' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data };
  } catch (error) {
    const source = typeof input === 'string' ? input : `a Buffer of ${input.length} bytes`;
    throw new Error(`Could not read ${name} (${source}) as an image: ${(error as Error).message}`);
  }
}

export function encodeImage(image: RgbImage, format: OutputFormat): Promise<Buffer> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
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
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, encoded);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
