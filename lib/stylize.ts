import { addon } from './native';
import { decodeImage, encodeImage, OutputFormat, scaledSize, writeImage } from './image';
import { ProgressEvent, ResolvedOptions, resolveOptions, RgbImage, StylizeOptions } from './options';

/** The rejection of a run stopped through its AbortSignal. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

export interface StylizedImage extends RgbImage {
  /** Encodes the image, for example as 'png' or 'jpeg'. */
  encode(format: OutputFormat): Promise<Buffer>;
}

export interface Result {
  image: StylizedImage;
  /** Final losses: those of the last evaluation. */
  loss: number;
  content: number;
  style: number;
  tv: number;
  iterations: number;
  elapsedMs: number;
  /** Where the work ran: 'cpu' or 'cuda:N'. */
  device: string;
  /** CPU threads the run used. */
  threads: number;
  /** The file written, when `output` was given. */
  output?: string;
}

let warnedRandomWeights = false;

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
}

/** Gives an error raised in native or asynchronous code the stack of the stylize() call. */
function withCallerStack(error: unknown, caller: Error): unknown {
  if (error instanceof Error && caller.stack) {
    error.stack = `${error.name}: ${error.message}\n${caller.stack.split('\n').slice(1).join('\n')}`;
  }
  return error;
}

/**
 * Renders `content` in the style of `style` by optimising the image itself (Gatys et al.),
 * off the JavaScript thread. Every option is checked before any work starts.
 */
export async function stylize(options: StylizeOptions): Promise<Result> {
  const caller = new Error();
  try {
    return await run(options);
  } catch (error) {
    throw withCallerStack(error, caller);
  }
}

// Peak memory of a CPU run, measured with /usr/bin/time on 256x192 and 512x384 runs: about
// 4.5 KB a pixel for activations and their gradients above a fixed 350 MB, plus the optimiser's
// state (L-BFGS keeps two image-sized vectors per correction).
const baseBytes = 350 * 2 ** 20;
const activationBytesPerPixel = 4.5 * 2 ** 10;

function estimatedBytes(pixels: number, o: ResolvedOptions): number {
  const imageBytes = 3 * 4 * pixels;
  const optimizerBytes = o.optimizer === 'lbfgs' ? 2 * o.lbfgsHistory * imageBytes : 3 * imageBytes;
  return baseBytes + pixels * activationBytesPerPixel + optimizerBytes;
}

/**
 * The memory a run may take, or 0 for no limit. Only Linux kills a process that runs out, and only
 * there does the figure count what the system could reclaim (and container limits): macOS reports
 * as free just the pages nothing holds, far less than it would give.
 */
function availableMemory(): number {
  return process.platform === 'linux' ? process.availableMemory() : 0;
}

/** Refuses, before decoding, a CPU run that cannot fit in the memory it may take. */
async function checkMemory(o: ResolvedOptions): Promise<void> {
  const available = availableMemory();
  if (available === 0) return;
  const mayUseCuda = o.device !== 'cpu' && (o.device !== 'auto' || addon.runtimeInfo().cudaDevices > 0);
  if (mayUseCuda) return;
  const { width, height } = await scaledSize(o.content, 'content', o.imageSize);
  const needed = estimatedBytes(width * height, o);
  if (needed > available) {
    const gb = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GB`;
    throw new RangeError(
      `imageSize ${o.imageSize} makes a ${width}x${height} image, which needs about ${gb(needed)} of memory ` +
        `on the CPU, but ${gb(available)} is available: lower imageSize`,
    );
  }
}

async function run(options: StylizeOptions): Promise<Result> {
  const o = resolveOptions(options);
  throwIfAborted(o.signal);
  await checkMemory(o);
  if (o.model === 'random' && !warnedRandomWeights) {
    warnedRandomWeights = true;
    process.emitWarning('model random has untrained weights: results are textures, not artistic styles', {
      code: 'NEURAL_STYLE_RANDOM_WEIGHTS',
    });
  }
  const styleSize = Math.ceil(o.styleScale * o.imageSize);
  const [content, ...styles] = await Promise.all([
    decodeImage(o.content, 'content', o.imageSize),
    ...o.styles.map((style, index) => decodeImage(style, o.styles.length > 1 ? `style[${index}]` : 'style', styleSize)),
  ]);
  // Decoded only now: it takes the content's size.
  const initImage =
    o.initImage === undefined ? undefined : await decodeImage(o.initImage, 'initImage', { width: content.width, height: content.height });
  throwIfAborted(o.signal);

  const onProgress = o.onProgress;
  const job = addon.stylize(
    {
      ...o,
      modelSeed: o.seed,
      // The estimate above can be short; the engine refuses tensor memory past this instead.
      availableMemory: availableMemory(),
      content,
      styles,
      initImage,
    },
    onProgress && ((event) => onProgress({ ...event, iterations: o.iterations } satisfies ProgressEvent)),
  );
  const abort = () => job.cancel();
  o.signal?.addEventListener('abort', abort, { once: true });
  let native;
  try {
    native = await job.promise;
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw new AbortError(undefined, { cause: o.signal?.reason });
    throw error;
  } finally {
    o.signal?.removeEventListener('abort', abort);
  }

  const { image, ...summary } = native;
  const result: Result = {
    ...summary,
    threads: o.threads,
    image: { ...image, encode: (format) => encodeImage(image, format) },
  };
  if (o.output) {
    await writeImage(image, o.output);
    result.output = o.output;
  }
  return result;
}
