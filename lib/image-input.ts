// The shapes images take on the way in and out, and the check of an image input; sharp, which
// decodes and encodes them (image.ts), is loaded only where a run needs it.
import { check, checkFile, invalid, oneOf, positiveInteger } from './checks';

/** The formats an output may be written in, by extension. */
export const outputFormats: Record<string, 'png' | 'jpeg' | 'webp' | 'tiff' | 'avif'> = {
  '.png': 'png',
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.webp': 'webp',
  '.tif': 'tiff',
  '.tiff': 'tiff',
  '.avif': 'avif',
};

export type OutputFormat = (typeof outputFormats)[string];

/** The extensions of the image files a folder given as input stands for. */
export const imageExtensions = [...Object.keys(outputFormats), '.gif', '.svg'];

/**
 * Pixels already in memory, 8 bits a sample, rows top to bottom, channels interleaved and read as
 * sRGB: 1 grey, 2 grey and alpha, 3 RGB, 4 RGBA. A canvas's ImageData, a result's image and a
 * preview all have this shape.
 */
export interface RawImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
  /** Samples a pixel; default data.length / (width * height). */
  channels?: 1 | 2 | 3 | 4;
}

/** A file path, the bytes of an image in any format sharp reads, or raw pixels. */
export type ImageInput = string | Buffer | RawImage;

/** An image input once checked: raw pixels always say how many channels they have. */
export type CheckedImageInput = string | Buffer | Required<RawImage>;

/** An 8-bit RGB image, rows top to bottom, channels interleaved. */
export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes. */
  data: Buffer;
}

/** A one-channel 8-bit image: a mask, 255 where it applies fully. */
export interface GreyImage {
  width: number;
  height: number;
  /** width * height bytes. */
  data: Buffer;
}

/** An image the run made: raw RGB, and a way to encode it. */
export interface StylizedImage extends RgbImage {
  /** Encodes the image, for example as 'png' or 'jpeg'. */
  encode(format: OutputFormat): Promise<Buffer>;
}

const channelCounts = [1, 2, 3, 4] as const;
const channelCount = oneOf(channelCounts);

function rawImage(name: string, value: RawImage): Required<RawImage> {
  const width = positiveInteger(`${name}.width`, value.width);
  const height = positiveInteger(`${name}.height`, value.height);
  const { data, channels } = value;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw invalid(`${name}.data`, 'a Buffer, Uint8Array or Uint8ClampedArray', data);
  }
  if (channels !== undefined) {
    channelCount(`${name}.channels`, channels);
    if (data.length !== width * height * channels) {
      throw invalid(`${name}.data`, `${width} x ${height} x ${channels} = ${width * height * channels} bytes`, data);
    }
    return { width, height, data, channels };
  }
  const inferred = channelCounts.find((count) => data.length === width * height * count);
  if (inferred === undefined) {
    const sizes = channelCounts.map((count) => width * height * count);
    throw invalid(`${name}.data`, `${width} x ${height} pixels of 1 to 4 channels: ${sizes.join(', ')} bytes`, data);
  }
  return { width, height, data, channels: inferred };
}

export const imageInput = check('a file path, a Buffer or raw pixels', (name, value): CheckedImageInput => {
  if (Buffer.isBuffer(value)) {
    if (value.length === 0) throw invalid(name, 'a non-empty Buffer', value);
    return value;
  }
  if (typeof value === 'object' && value !== null) return rawImage(name, value as RawImage);
  if (typeof value !== 'string' || value === '') throw invalid(name, imageInput.expected, value);
  checkFile(name, value);
  return value;
});
