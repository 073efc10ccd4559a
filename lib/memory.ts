// What a run may take, checked before it starts: images a Buffer can hold, and, on the CPU, memory
// the system can give without killing the process.
import { constants as bufferConstants } from 'node:buffer';

import { OptionError, OptionNames } from './errors';
import { scaledSize } from './image';
import type { ResolvedOptions } from './options';

// How far a CPU run takes the process's memory beyond what it held before (Node, LibTorch's code:
// what process.availableMemory() already leaves out), measured by scripts/memory.js. Fixed: on an
// AMD EPYC (Zen 4) with LibTorch 1.13, 127 MB with float32 layers and 157 MB with bfloat16 ones
// (the model's second copy of its weights); an Intel Xeon (family 6 model 207, AMX) measured up
// to 52 MB more than the AMD over the whole process, which 256 MB covers wherever that lies. Per
// pixel, for activations and their gradients: 3.02 KB with float32 layers and 2.14 KB with
// bfloat16 ones, whose Gram matrices are bfloat16 products (rounded up here), plus the optimiser's state (L-BFGS keeps two image-sized
// vectors per correction). Before that, each style image passes through the network without
// gradients: about 1.3 KB a pixel, measured the same way with 1024x811 and 2048x1622 style images.
export const cpuMemoryModel = {
  runBaseBytes: 256 * 2 ** 20,
  activationBytesPerPixel: { float32: 3.2 * 2 ** 10, bfloat16: 2.3 * 2 ** 10 },
  styleBytesPerPixel: 1.3 * 2 ** 10,
} as const;

function optimizerBytes(pixels: number, o: ResolvedOptions): number {
  const imageBytes = 3 * 4 * pixels;
  return o.optimizer === 'lbfgs' ? 2 * o.lbfgsHistory * imageBytes : 3 * imageBytes;
}

/**
 * The memory a run may take, or 0 for no limit. Only Linux kills a process that runs out, and only
 * there does the figure count what the system could reclaim (and container limits): macOS reports
 * as free just the pages nothing holds, far less than it would give.
 */
export function availableMemory(): number {
  return process.platform === 'linux' ? process.availableMemory() : 0;
}

export const styleName = (o: ResolvedOptions, index: number) => (o.style.length > 1 ? `style[${index}]` : 'style');

/**
 * Refuses, from the images' headers and before decoding any: an image larger than one Buffer can
 * hold (sharp's decoder aborts the process on those), and a CPU run that cannot fit in the memory
 * it may take.
 */
export async function checkSizes(o: ResolvedOptions, styleSize: number, cpuOnly: boolean): Promise<void> {
  const [contentSize, ...styleSizes] = await Promise.all([
    scaledSize(o.content, 'content', o.imageSize),
    ...o.style.map((style, index) => scaledSize(style, styleName(o, index), styleSize)),
  ]);
  const images = [
    { option: 'imageSize', value: o.imageSize, what: 'image', ...contentSize },
    ...styleSizes.map((size, index) => ({
      option: 'styleScale',
      value: o.styleScale,
      what: `${styleName(o, index)} image`,
      ...size,
    })),
  ].map((image) => ({ ...image, pixels: image.width * image.height }));
  const describe = (image: (typeof images)[number], names: OptionNames) =>
    `${names(image.option)} ${image.value} makes a ${image.width}x${image.height} ${image.what}`;
  const tooLarge = (tell: (names: OptionNames) => string) => new OptionError('ERR_TOO_LARGE', tell, 'RangeError');

  for (const image of images) {
    if (image.pixels * 3 > bufferConstants.MAX_LENGTH) {
      throw tooLarge(
        (names) =>
          `${describe(image, names)}, more than the ${bufferConstants.MAX_LENGTH} bytes a Buffer can hold: lower ${names(image.option)}`,
      );
    }
  }

  const available = availableMemory();
  if (available === 0 || !cpuOnly) return;
  const [content, ...styles] = images;
  const largestStyle = styles.reduce((largest, style) => (style.pixels > largest.pixels ? style : largest));
  const { runBaseBytes, activationBytesPerPixel, styleBytesPerPixel } = cpuMemoryModel;
  const activations = content.pixels * activationBytesPerPixel[o.precision];
  const history = optimizerBytes(content.pixels, o);
  const styleTargets = largestStyle.pixels * styleBytesPerPixel;
  const needed = runBaseBytes + Math.max(activations + history, styleTargets);
  if (needed > available) {
    const gb = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GB`;
    const cause = styleTargets > activations + history ? largestStyle : content;
    const byHistory = cause === content && history > activations;
    const what = (names: OptionNames) =>
      byHistory
        ? `${names('lbfgsHistory')} ${o.lbfgsHistory} on a ${content.width}x${content.height} image`
        : `${describe(cause, names)}, which`;
    throw tooLarge(
      (names) =>
        `${what(names)} needs about ${gb(needed)} of memory on the CPU, but ${gb(available)} is available: lower ${names(byHistory ? 'lbfgsHistory' : cause.option)}`,
    );
  }
}
