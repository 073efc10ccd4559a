import { cpuBfloat16 } from './cpus';
import { addon, NativeResult, nativeStylizeOptions } from './native';
import { decodeImage, decodeImages, decodeMask, encodeImage, writeImage } from './image';
import { availableMemory, checkSizes, styleName } from './memory';
import { ProgressEvent, ResolvedOptions, resolveOptions, RgbImage, StylizedImage, StylizeOptions } from './options';
import { OptionError, OptionNames } from './errors';
import { verifyTorchScript } from './zip';
import { contactSheet, Panel, sheetPathOf } from './contact-sheet';
import { RunRecord, RunRecorder, writeRecord } from './record';

/** The rejection of a run stopped through its AbortSignal. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
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
  /** With `record`: the run's record, and where it was written (with `output`). */
  record?: RunRecord;
  recordPath?: string;
  /** With `contactSheet`: the sheet's file. */
  contactSheet?: string;
}

const stylized = (image: RgbImage): StylizedImage => ({ ...image, encode: (format) => encodeImage(image, format) });

let warnedRandomWeights = false;
let warnedSlowBfloat16 = false;

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

// Runs under way in this thread. process.exit() (and an uncaught exception, which ends in it)
// waits for native work to end before the process or the worker thread does: it cancels them.
const runsUnderWay = new Set<{ cancel(): void }>();
process.on('exit', () => {
  for (const job of runsUnderWay) job.cancel();
});

/** An error of the engine's: its kind as `code`, and its details. */
type EngineFailure = Error & {
  code?: string;
  image?: 'content' | 'style';
  layer?: string;
  modelLayers?: string;
  cudaDevices?: number;
  asked?: string;
};

/**
 * The engine's error with what to change, in the caller's names: the engine knows what went
 * wrong, not what the caller calls the options that would mend it.
 */
function withRemedy(error: EngineFailure, o: ResolvedOptions, given: StylizeOptions): Error {
  const told = (tell: (names: OptionNames) => string) =>
    Object.assign(new OptionError(error.code!, tell), { cause: error });
  switch (error.code) {
    case 'NEURAL_STYLE_IMAGE_TOO_SMALL':
      return told(
        (names) =>
          `${error.message}: raise ${names('imageSize')}${error.image === 'style' ? ` or ${names('styleScale')},` : ''} or use shallower layers`,
      );
    case 'NEURAL_STYLE_LAYER_MISSING': {
      // The option the layer came from, and whether the caller named it or it is the default.
      const options = (['contentLayers', 'styleLayers'] as const).filter((option) => o[option].includes(error.layer!));
      return told((names) => {
        const from = options
          .map((option) => `${names(option)}${given[option] === undefined ? ' (by default)' : ''}`)
          .join(' and ');
        const model = o.model === 'random' ? 'the random VGG-19' : `model ${o.model}`;
        return `${from} ${options.length > 1 ? 'name' : 'names'} layer ${error.layer}, which ${model} lacks: it has ${error.modelLayers}`;
      });
    }
    case 'NEURAL_STYLE_LOSS_NOT_FINITE':
      return told(
        (names) =>
          `${error.message}: lower the loss weights${o.optimizer === 'adam' ? ` or ${names('learningRate')}` : ''}`,
      );
    case 'NEURAL_STYLE_OUT_OF_MEMORY':
      return told(
        (names) => `${error.message}; lower ${names('imageSize')} (or ${names('lbfgsHistory')}), or free memory`,
      );
    case 'NEURAL_STYLE_OUT_OF_GPU_MEMORY':
      return told(
        (names) =>
          `${error.message}: lower ${names('imageSize')} or ${names('lbfgsHistory')}, or use ${names('device')} cpu`,
      );
    case 'NEURAL_STYLE_DEVICE_UNAVAILABLE': {
      const devices = error.cudaDevices ? `cuda:0 to cuda:${error.cudaDevices - 1}, ` : '';
      return told((names) => `${error.message}: use ${names('device')} ${devices}cpu or auto`);
    }
    case 'NEURAL_STYLE_ACTIVATIONS_NOT_FINITE': {
      const model = o.model === 'random' ? 'The random VGG-19' : `Model ${o.model}`;
      return told(() => `${model} computes ${error.message}: its weights are too large, or the file is damaged`);
    }
    case 'NEURAL_STYLE_PREPROCESSING_MISMATCH':
      return told(
        (names) =>
          `${error.message}, but ${names('preprocess')} ${error.asked} was asked for: leave ${names('preprocess')} out`,
      );
    default:
      return error;
  }
}

async function run(options: StylizeOptions): Promise<Result> {
  const o = resolveOptions(options);
  throwIfAborted(o.signal);
  // A run that cannot land on a GPU: the CPU's memory and arithmetic are what count.
  const cpuOnly = o.device === 'cpu' || (o.device === 'auto' && addon().runtimeInfo().cudaDevices === 0);
  // The largest scale, checked before the first starts.
  await checkSizes(o, styleSizeAt(o, o.imageSize), cpuOnly);
  if (o.model !== 'random') await verifyTorchScript(o.model, `Model ${o.model}`);
  if (o.model === 'random' && !warnedRandomWeights) {
    warnedRandomWeights = true;
    process.emitWarning('model random has untrained weights: results are textures, not artistic styles', {
      code: 'NEURAL_STYLE_RANDOM_WEIGHTS',
    });
  }
  if (o.precision === 'bfloat16' && !warnedSlowBfloat16 && cpuOnly && cpuBfloat16() === false) {
    warnedSlowBfloat16 = true;
    process.emitWarning(
      'precision bfloat16 on a CPU without bfloat16 arithmetic (AVX-512 BF16, AMX or Arm BF16) is slower than float32: ' +
        '2 to 3 times with AVX-512, 30 times without',
      { code: 'NEURAL_STYLE_SLOW_BFLOAT16' },
    );
  }

  const recorder = o.record ? new RunRecorder(o) : undefined;
  const previews: Panel[] = [];
  const watch = (event: ProgressEvent) => {
    recorder?.add(event);
    if (o.contactSheet && event.preview) {
      const at = event.scales > 1 ? `${o.scales[event.scale - 1]} px, ` : '';
      previews.push({ label: `${at}iteration ${event.iteration}`, image: { ...event.preview, channels: 3 } });
    }
  };

  // Coarse to fine: each scale starts from the one before's result, upsampled to its size.
  let native: NativeResult | undefined;
  let iterations = 0;
  let elapsedMs = 0;
  for (const index of o.scales.keys()) {
    native = await runScale(o, options, index, native?.image, watch);
    recorder?.scaleDone(o.scales[index], native);
    iterations += native.iterations;
    elapsedMs += native.elapsedMs;
  }
  const { image, ...summary } = native!;
  const result: Result = { ...summary, iterations, elapsedMs, threads: o.threads, image: stylized(image) };
  if (o.output) {
    await writeImage(image, o.output);
    result.output = o.output;
  }
  if (o.contactSheet) {
    const styles = o.style.map((style, index) => ({
      label: o.style.length > 1 ? `style ${index + 1}` : 'style',
      image: style,
    }));
    const finalPanel = { label: 'result', image: { ...image, channels: 3 as const } };
    result.contactSheet = sheetPathOf(o.output!);
    await writeImage(
      await contactSheet([{ label: 'content', image: o.content }, ...styles, ...previews, finalPanel]),
      result.contactSheet,
    );
  }
  if (recorder) {
    result.record = await recorder.finish(addon().runtimeInfo().torchVersion, result.device);
    if (o.output) result.recordPath = await writeRecord(result.record, o.output);
  }
  return result;
}

const styleSizeAt = (o: ResolvedOptions, size: number) => Math.ceil(o.styleScale * size);

/** One scale of a run: its images decoded at its size, started from `previous` when there is one. */
async function runScale(
  o: ResolvedOptions,
  given: StylizeOptions,
  index: number,
  previous: RgbImage | undefined,
  watch: (event: ProgressEvent) => void,
): Promise<NativeResult> {
  const size = o.scales[index];
  const [content, ...styles] = await decodeImages([
    [o.content, 'content', size],
    ...o.style.map((style, styleIndex) => [style, styleName(o, styleIndex), styleSizeAt(o, size)] as const),
  ]);
  // Decoded only now: it takes the content's size.
  const startInput = previous ? { ...previous, channels: 3 as const } : o.initImage;
  const initImage =
    startInput === undefined
      ? undefined
      : await decodeImage(startInput, previous ? 'the previous scale' : 'initImage', {
          width: content.width,
          height: content.height,
        });
  const calibration = await decodeImages(
    (o.calibrationImages ?? []).map((image, imageIndex) => [image, `calibrationImages[${imageIndex}]`, size] as const),
  );
  const contentSize = { width: content.width, height: content.height };
  const styleMasks = await Promise.all(
    (o.styleMasks ?? []).map((mask, maskIndex) => decodeMask(mask, `styleMasks[${maskIndex}]`, contentSize)),
  );
  throwIfAborted(o.signal);

  const scale = { scale: index + 1, scales: o.scales.length };
  const iterations = o.iterationsPerScale[index];
  const { onProgress, progressInterval } = o;
  // A record keeps every iteration: the engine reports each, and the caller hears of those due.
  const due = (event: ProgressEvent) =>
    event.iteration % progressInterval === 0 || event.iteration === iterations || event.preview !== undefined;
  const listening = onProgress !== undefined || o.record || o.contactSheet;
  // The estimate above can be short; the engine refuses tensor memory past what is available now.
  const job = addon().stylize(
    nativeStylizeOptions(
      { ...o, iterations, init: previous ? 'image' : o.init, progressInterval: o.record ? 1 : progressInterval },
      { content, styles, styleMasks, calibration, initImage },
      availableMemory(),
    ),
    listening
      ? (native) => {
          const event = {
            ...native,
            iterations,
            ...scale,
            preview: native.preview && stylized(native.preview),
          } satisfies ProgressEvent;
          watch(event);
          if (onProgress && due(event)) onProgress(event);
        }
      : undefined,
  );
  const abort = () => job.cancel();
  o.signal?.addEventListener('abort', abort, { once: true });
  runsUnderWay.add(job);
  try {
    return await job.promise;
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw new AbortError(undefined, { cause: o.signal?.reason });
    throw withRemedy(error as EngineFailure, o, given);
  } finally {
    runsUnderWay.delete(job);
    o.signal?.removeEventListener('abort', abort);
  }
}
