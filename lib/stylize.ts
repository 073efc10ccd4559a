import { addon } from './native';
import { decodeImage, encodeImage, OutputFormat, writeImage } from './image';
import { ProgressEvent, resolveOptions, RgbImage, StylizeOptions } from './options';

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

async function run(options: StylizeOptions): Promise<Result> {
  const o = resolveOptions(options);
  throwIfAborted(o.signal);
  if (o.model === 'random' && !warnedRandomWeights) {
    warnedRandomWeights = true;
    process.emitWarning('model random has untrained weights: results are textures, not artistic styles', {
      code: 'NEURAL_STYLE_RANDOM_WEIGHTS',
    });
  }
  const [content, ...styles] = await Promise.all([
    decodeImage(o.content, 'content', o.imageSize),
    ...o.styles.map((style, index) => decodeImage(style, o.styles.length > 1 ? `style[${index}]` : 'style', o.imageSize)),
  ]);
  throwIfAborted(o.signal);

  const onProgress = o.onProgress;
  const job = addon.stylize(
    {
      ...o,
      modelSeed: o.seed,
      content,
      styles,
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
    image: { ...image, encode: (format) => encodeImage(image, format) },
  };
  if (o.output) {
    await writeImage(image, o.output);
    result.output = o.output;
  }
  return result;
}
