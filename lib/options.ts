import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, extname, resolve } from 'node:path';

import { usableCpus } from './cpus';
import type { OutputFormat } from './image';

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

/** An image the run made: raw RGB, and a way to encode it. */
export interface StylizedImage extends RgbImage {
  /** Encodes the image, for example as 'png' or 'jpeg'. */
  encode(format: OutputFormat): Promise<Buffer>;
}

export interface ProgressEvent {
  /** Iterations done so far (one iteration is one evaluation of the loss). */
  iteration: number;
  /** Iterations the run will do. */
  iterations: number;
  /** Total loss: content + style + tv. */
  loss: number;
  content: number;
  style: number;
  tv: number;
  elapsedMs: number;
  /** The current image, on the iterations that are multiples of `previewInterval`. */
  preview?: StylizedImage;
}

export type Optimizer = 'lbfgs' | 'adam';
export type Init = 'random' | 'image';
export type Pooling = 'avg' | 'max';
/** How a model expects its input; see models/README.md. */
export const preprocessings = ['torchvision', 'caffe'] as const;
export type Preprocess = (typeof preprocessings)[number];
export const precisions = ['float32', 'bfloat16'] as const;
export type Precision = (typeof precisions)[number];
/** 'auto' picks CUDA device 0 when there is one, else the CPU. */
export type Device = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;

export interface StylizeOptions {
  /** The image whose content is kept: a path, encoded bytes, or raw pixels. */
  content: ImageInput;
  /** The style image, or several to blend. */
  style: ImageInput | ImageInput[];
  /** Relative weight of each style image when blending several; default: equal. */
  styleBlendWeights?: number[];
  /** Where to write the result; the format follows the extension. Written atomically. */
  output?: string;
  /** Longest side of the result in pixels; default 512. */
  imageSize?: number;
  /**
   * Longest side of the style images as a multiple of imageSize; default 1. Smaller makes the
   * style's strokes and textures larger in the result, larger makes them finer.
   */
  styleScale?: number;
  /** Loss evaluations to run; default 1000. */
  iterations?: number;
  /** Default 5. */
  contentWeight?: number;
  /** Default 100. */
  styleWeight?: number;
  /** Total-variation smoothing weight; default 1e-3. */
  tvWeight?: number;
  /** VGG layers whose activations the content loss compares; default ['relu4_2']. */
  contentLayers?: string[];
  /** VGG layers whose Gram matrices the style loss compares; default relu1_1 … relu5_1. */
  styleLayers?: string[];
  /**
   * Scale the gradient each content and style layer sends back to unit L1 norm (times its
   * weight), as jcjohnson/neural-style's -normalize_gradients does; the losses reported are
   * unchanged. Default false.
   */
  normalizeGradients?: boolean;
  /** Default 'lbfgs'. */
  optimizer?: Optimizer;
  /** Adam's step size; default 10. L-BFGS takes unit steps. */
  learningRate?: number;
  /** Corrections L-BFGS keeps; default 100. */
  lbfgsHistory?: number;
  /** Start from noise ('random') or from an image ('image'); default 'random'. */
  init?: Init;
  /**
   * The image to start from instead of the content image (so init is 'image'), scaled to the
   * content's size: for example a result at a lower imageSize, to refine it at a higher one.
   */
  initImage?: ImageInput;
  /** Seeds the initial noise and the weights of model 'random'; default 0. */
  seed?: number;
  /**
   * Keep the content image's colours: only the luminance is stylized, as jcjohnson/neural-style's
   * -original_colors does. Default false.
   */
  originalColors?: boolean;
  /** Pooling between VGG blocks; default 'avg', as Gatys et al. recommend. */
  pooling?: Pooling;
  /**
   * The precision the network's layers run in; default 'float32'. 'bfloat16' is faster where
   * the hardware computes in it (CPUs with AVX-512 BF16, recent GPUs) and slower where it does
   * not; the losses, Gram matrices and optimiser stay in float32, and results differ slightly.
   */
  precision?: Precision;
  /**
   * A TorchScript VGG-19 file, or 'random' for untrained weights. Default: the
   * NEURAL_STYLE_MODEL environment variable, else models/vgg19.pt in the package. A file whose
   * zip checksums do not match is refused as damaged before it loads.
   */
  model?: string;
  /**
   * How the model expects its input. A model file's own metadata decides when it has any;
   * otherwise default 'torchvision'.
   */
  preprocess?: Preprocess;
  /** 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'; default 'auto'. */
  device?: Device;
  /**
   * CPU threads; default 0, meaning one per core this process can use (its CPU affinity, and a
   * container's CPU quota, count).
   */
  threads?: number;
  /** Call onProgress every this many iterations, and after the last; default 1. */
  progressInterval?: number;
  /**
   * Call onProgress with the current image every this many iterations (whatever
   * progressInterval is); default 0 (never).
   */
  previewInterval?: number;
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Aborting rejects the promise with an AbortError and stops the native work within an
   * iteration; onProgress is not called again, even for iterations that had already finished.
   */
  signal?: AbortSignal;
}

export const defaults = {
  imageSize: 512,
  styleScale: 1,
  iterations: 1000,
  contentWeight: 5,
  styleWeight: 100,
  tvWeight: 1e-3,
  contentLayers: ['relu4_2'],
  styleLayers: ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'],
  normalizeGradients: false,
  optimizer: 'lbfgs' as Optimizer,
  learningRate: 10,
  lbfgsHistory: 100,
  init: 'random' as Init,
  seed: 0,
  originalColors: false,
  pooling: 'avg' as Pooling,
  precision: 'float32' as Precision,
  device: 'auto' as Device,
  threads: 0,
  progressInterval: 1,
  previewInterval: 0,
} as const;

/** The formats `output` may name, by extension. */
export const outputFormats: Record<string, 'png' | 'jpeg' | 'webp' | 'tiff' | 'avif'> = {
  '.png': 'png',
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.webp': 'webp',
  '.tif': 'tiff',
  '.tiff': 'tiff',
  '.avif': 'avif',
};

export interface ResolvedOptions
  extends Required<Omit<StylizeOptions, 'content' | 'style' | 'styleBlendWeights' | 'initImage' | 'output' | 'model' | 'preprocess' | 'onProgress' | 'signal'>> {
  content: CheckedImageInput;
  styles: CheckedImageInput[];
  styleBlendWeights: number[];
  initImage?: CheckedImageInput;
  output?: string;
  /** An absolute path, or 'random'. */
  model: string;
  preprocess?: Preprocess;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

function describe(value: unknown): string {
  const shown =
    typeof value === 'string' ? `'${value}'` : ArrayBuffer.isView(value) ? `a ${value.constructor.name} of ${value.byteLength} bytes` : String(value);
  return `${shown} of type ${value === null ? 'null' : typeof value}`;
}

export function invalid(name: string, expected: string, value: unknown): TypeError {
  return new TypeError(`Expected ${expected} for ${name} but received ${describe(value)}`);
}

const isInteger = (value: unknown): value is number => Number.isInteger(value);
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** Counts reach the engine as C++ ints. */
const largestCount = 2 ** 31 - 1;

function integerFrom(smallest: 0 | 1, name: string, value: unknown, largest = largestCount): number {
  const expected = smallest === 1 ? 'a positive integer' : 'a non-negative integer';
  if (!isInteger(value) || value < smallest) throw invalid(name, expected, value);
  if (value > largest) throw invalid(name, `${expected} up to ${largest}`, value);
  return value;
}

const positiveInteger = (name: string, value: unknown) => integerFrom(1, name, value);
const nonNegativeInteger = (name: string, value: unknown, largest?: number) => integerFrom(0, name, value, largest);

function nonNegativeNumber(name: string, value: unknown): number {
  if (!isNumber(value) || value < 0) throw invalid(name, 'a non-negative number', value);
  return value;
}

function positiveNumber(name: string, value: unknown): number {
  if (!isNumber(value) || value <= 0) throw invalid(name, 'a positive number', value);
  return value;
}

function boolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(name, 'a boolean', value);
  return value;
}

export function oneOf<T extends string | number>(name: string, value: unknown, choices: readonly T[]): T {
  if (!choices.includes(value as T)) throw invalid(name, `one of ${choices.join(', ')}`, value);
  return value as T;
}

function layerList(name: string, value: unknown): string[] {
  const valid = Array.isArray(value) && value.length > 0 && value.every((layer) => typeof layer === 'string' && /^(conv|relu)\d+_\d+$|^pool\d+$/.test(layer));
  if (!valid) throw invalid(name, 'a non-empty array of VGG layer names such as relu4_2', value);
  return value as string[];
}

/** A path that names an existing regular file: a folder or a pipe would fail, or block, later. */
export function checkFile(name: string, path: string): void {
  if (!existsSync(path)) throw new Error(`${name} file not found: ${path}`);
  if (!statSync(path).isFile()) throw new Error(`${name} is not a regular file: ${path}`);
}

const channelCounts = [1, 2, 3, 4] as const;

function rawImage(name: string, value: RawImage): Required<RawImage> {
  const width = positiveInteger(`${name}.width`, value.width);
  const height = positiveInteger(`${name}.height`, value.height);
  const { data, channels } = value;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw invalid(`${name}.data`, 'a Buffer, Uint8Array or Uint8ClampedArray', data);
  }
  if (channels !== undefined) {
    oneOf(`${name}.channels`, channels, channelCounts);
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

function imageInput(name: string, value: unknown): CheckedImageInput {
  if (Buffer.isBuffer(value)) {
    if (value.length === 0) throw invalid(name, 'a non-empty Buffer', value);
    return value;
  }
  if (typeof value === 'object' && value !== null) return rawImage(name, value as RawImage);
  if (typeof value !== 'string' || value === '') throw invalid(name, 'a file path, a Buffer or raw pixels', value);
  checkFile(name, value);
  return value;
}

/** The model file to use when none is given: the environment's, else the package's own. */
export const packageModelPath = resolve(__dirname, '..', 'models', 'vgg19.pt');

function modelPath(value: unknown): string {
  const given = value ?? process.env.NEURAL_STYLE_MODEL;
  if (given === 'random') return given;
  if (given === undefined || given === '') {
    if (existsSync(packageModelPath)) return packageModelPath;
    throw new Error(
      `No VGG-19 model was given and none was found at ${packageModelPath}. Download one there with ` +
        '`npx neural-style download-model` (see models/README.md), pass model (--model, or the ' +
        'NEURAL_STYLE_MODEL environment variable) the path of a TorchScript VGG-19, or model: ' +
        '\'random\' for untrained weights.',
    );
  }
  if (typeof given !== 'string') throw invalid('model', "a TorchScript file path or 'random'", given);
  checkFile('model', given);
  return resolve(given);
}

function device(value: unknown): Device {
  if (typeof value !== 'string' || !/^(auto|cpu|cuda(:\d+)?)$/.test(value)) {
    throw invalid('device', "one of auto, cpu, cuda, cuda:N", value);
  }
  return value as Device;
}

// More threads than the machine has CPUs only slow a run down (2000 threads made two 32-pixel
// iterations take 49 s), and past the process's thread limit OpenMP waits forever for threads
// it could not create.
function threadCount(value: unknown): number {
  const machineCpus = cpus().length;
  if (!isInteger(value) || value < 0 || value > machineCpus) {
    throw invalid('threads', `an integer from 0 to ${machineCpus} (this machine's logical CPUs)`, value);
  }
  return value || usableCpus();
}

function output(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw invalid('output', 'a file path', value);
  const extension = extname(value).toLowerCase();
  if (!(extension in outputFormats)) {
    throw invalid('output', `a file path ending in ${Object.keys(outputFormats).join(', ')}`, value);
  }
  return writablePath('output', value);
}

/** A file `name` can be written to: its folder exists and is writable, and it is no folder itself. */
export function writablePath(name: string, path: string): string {
  const directory = dirname(resolve(path));
  if (!existsSync(directory) || !statSync(directory).isDirectory()) {
    throw new Error(`${name} directory does not exist: ${directory}`);
  }
  // Found now rather than after a long run.
  try {
    accessSync(directory, constants.W_OK);
  } catch {
    throw new Error(`${name} directory is not writable: ${directory}`);
  }
  if (existsSync(path) && statSync(path).isDirectory()) throw new Error(`${name} is a directory: ${path}`);
  return path;
}

/** Checks every option and fills in the defaults; throws before any native work is done. */
export function resolveOptions(options: StylizeOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  const known = new Set<string>([...Object.keys(defaults), 'content', 'style', 'styleBlendWeights', 'initImage', 'output', 'model', 'preprocess', 'onProgress', 'signal']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new TypeError(`Unknown option ${key}`);
  }
  const o = { ...defaults, ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) } as StylizeOptions & typeof defaults;

  const styleList = Array.isArray(o.style) ? o.style : [o.style];
  if (styleList.length === 0) throw invalid('style', 'an image or a non-empty array of images', o.style);
  const styles = styleList.map((style, index) => imageInput(styleList.length > 1 ? `style[${index}]` : 'style', style));
  const styleBlendWeights = o.styleBlendWeights ?? [];
  if (
    !Array.isArray(styleBlendWeights) ||
    (styleBlendWeights.length > 0 && styleBlendWeights.length !== styles.length) ||
    !styleBlendWeights.every((weight) => isNumber(weight) && weight >= 0) ||
    (styleBlendWeights.length > 0 && !styleBlendWeights.some((weight) => weight > 0))
  ) {
    throw invalid('styleBlendWeights', `an array of ${styles.length} non-negative numbers, not all zero`, styleBlendWeights);
  }
  // An init image means starting from it, unless init says otherwise.
  const init = oneOf('init', options.init ?? (o.initImage === undefined ? o.init : 'image'), ['random', 'image'] as const);
  if (o.initImage !== undefined && init !== 'image') {
    throw new TypeError(`initImage is a starting image, but init is '${init}': leave init out or make it 'image'`);
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw invalid('onProgress', 'a function', o.onProgress);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalid('signal', 'an AbortSignal', o.signal);

  return {
    content: imageInput('content', o.content),
    styles,
    styleBlendWeights,
    output: output(o.output),
    imageSize: positiveInteger('imageSize', o.imageSize),
    styleScale: positiveNumber('styleScale', o.styleScale),
    iterations: positiveInteger('iterations', o.iterations),
    contentWeight: nonNegativeNumber('contentWeight', o.contentWeight),
    styleWeight: nonNegativeNumber('styleWeight', o.styleWeight),
    tvWeight: nonNegativeNumber('tvWeight', o.tvWeight),
    contentLayers: layerList('contentLayers', o.contentLayers),
    styleLayers: layerList('styleLayers', o.styleLayers),
    normalizeGradients: boolean('normalizeGradients', o.normalizeGradients),
    optimizer: oneOf('optimizer', o.optimizer, ['lbfgs', 'adam'] as const),
    learningRate: positiveNumber('learningRate', o.learningRate),
    lbfgsHistory: positiveInteger('lbfgsHistory', o.lbfgsHistory),
    init,
    initImage: o.initImage === undefined ? undefined : imageInput('initImage', o.initImage),
    seed: nonNegativeInteger('seed', o.seed, Number.MAX_SAFE_INTEGER),
    originalColors: boolean('originalColors', o.originalColors),
    pooling: oneOf('pooling', o.pooling, ['avg', 'max'] as const),
    precision: oneOf('precision', o.precision, precisions),
    model: modelPath(o.model),
    preprocess: o.preprocess === undefined ? undefined : oneOf('preprocess', o.preprocess, preprocessings),
    device: device(o.device),
    threads: threadCount(o.threads),
    progressInterval: positiveInteger('progressInterval', o.progressInterval),
    previewInterval: nonNegativeInteger('previewInterval', o.previewInterval),
    onProgress: o.onProgress,
    signal: o.signal,
  };
}
