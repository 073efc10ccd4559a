// Every option of stylize() in one table: its check, default, command-line flag, help group and
// description. The API's types and defaults, resolveOptions, the command line's flags and help,
// the native options object and the docs' option table all come from it.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { extname, join, resolve } from 'node:path';

import {
  abortSignal,
  boolean,
  callback,
  check,
  Check,
  checkFile,
  integerFrom,
  integerOrIntegers,
  invalid,
  isNumber,
  layerList,
  layerWeights,
  nearest,
  nonNegativeInteger,
  nonNegativeNumber,
  oneOf,
  optional,
  positiveInteger,
  positiveNumber,
  writablePath,
} from './checks';
import { usableCpus } from './cpus';
import { OptionError } from './errors';
import {
  CheckedImageInput,
  ImageInput,
  imageExtensions,
  imageInput,
  outputFormats,
  StylizedImage,
} from './image-input';

export type { CheckedImageInput, ImageInput, RawImage, RgbImage, StylizedImage } from './image-input';

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
  /** The scale the run is at, from 1, and how many it has (`scales`); iteration counts within the scale. */
  scale: number;
  scales: number;
  /** The current image, on the iterations that are multiples of `previewInterval`. */
  preview?: StylizedImage;
}

export const optimizers = ['lbfgs', 'adam'] as const;
export type Optimizer = (typeof optimizers)[number];
export const inits = ['random', 'image'] as const;
export type Init = (typeof inits)[number];
export const poolings = ['avg', 'max'] as const;
export type Pooling = (typeof poolings)[number];
/** How a model expects its input; see models/README.md. */
export const preprocessings = ['torchvision', 'caffe'] as const;
export type Preprocess = (typeof preprocessings)[number];
export const precisions = ['float32', 'bfloat16'] as const;
export type Precision = (typeof precisions)[number];
/** How each style layer's loss is scaled: by C·H·W (jcjohnson/neural-style) or 1/(4N²M²) (Gatys et al.). */
export const styleNormalizations = ['chw', 'paper'] as const;
export type StyleNormalization = (typeof styleNormalizations)[number];
/** How the content's colours are kept (Gatys et al. 2017): not at all, by luminance-only transfer, or by histogram matching. */
export const colorModes = ['rgb', 'luminance', 'histogram'] as const;
export type ColorMode = (typeof colorModes)[number];
/** How colorMode 'histogram' maps the style's colour covariance onto the content's. */
export const colorTransfers = ['cholesky', 'pca', 'symmetric'] as const;
export type ColorTransfer = (typeof colorTransfers)[number];
/** 'auto' picks CUDA device 0 when there is one, else the CPU. */
export type Device = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;

/** The command line's help groups, in the order its help lists them. */
export const helpGroups = ['Images', 'Weights', 'Layers', 'Optimisation', 'Model', 'Device', 'Output'] as const;

export interface Flag {
  /** The flag's name without its dashes: image-size for --image-size. */
  name: string;
  group: (typeof helpGroups)[number];
  /**
   * How the command line reads the flag's text: 'list' splits it at commas, 'numbers' too and reads
   * numbers, 'weights' reads name:number pairs, 'number-or-list' reads one number or a list of them.
   */
  type: 'string' | 'number' | 'boolean' | 'list' | 'numbers' | 'weights' | 'number-or-list';
  /** The command line cannot run without it. */
  demanded?: true;
  /** Its name in jcjohnson/neural-style and neural-style-pt, which take -content_image and the like. */
  classic?: string;
}

export interface OptionSpec<Resolved, Input = Resolved> {
  /** Checks a value and returns it as the run uses it; also given the default, or undefined. */
  check: Check<Resolved>;
  /** The value when the option is left out; without one, `check` is given undefined. */
  default?: NoInfer<Input>;
  /** The default in words, where `check` works it out (from the machine, the environment). */
  defaultText?: string;
  /** Where the engine reads it: with the model, which evaluate() runs too, or with the run. */
  engine?: 'model' | 'run';
  flag?: Flag;
  /** One line for the docs and the command line's help. */
  description: string;
  /** The type callers give; never set. */
  input?: Input;
}

// Whether an option has a default stays in its type, for the type of `defaults`.
export function option<Resolved, Input = Resolved>(
  spec: OptionSpec<Resolved, Input> & { default: NoInfer<Input> },
): OptionSpec<Resolved, Input> & { default: Input };
export function option<Resolved, Input = Resolved>(spec: OptionSpec<Resolved, Input>): OptionSpec<Resolved, Input>;
export function option<Resolved, Input>(spec: OptionSpec<Resolved, Input>) {
  return spec;
}

/** `style` for the only one of a list, `style[1]` for the second of several. */
const itemName = (name: string, count: number, index: number) => (count > 1 ? `${name}[${index}]` : name);

/** The image files in a folder, in name order: what a folder given as a style stands for. */
function imagesIn(name: string, folder: string): string[] {
  const files = readdirSync(folder, { withFileTypes: true })
    .filter((entry) => entry.isFile() && imageExtensions.includes(extname(entry.name).toLowerCase()))
    .map((entry) => join(folder, entry.name))
    .sort();
  if (files.length === 0) {
    throw new OptionError(
      'ERR_NO_IMAGES',
      (names) => `${names(name)} is a folder without images (${imageExtensions.join(', ')}): ${folder}`,
    );
  }
  return files;
}

/** Images: one, a folder standing for those in it, or a non-empty array of either. */
export const imagesOrFolders = check('an image, a folder of images, or a non-empty array of them', (name, value) => {
  const given = Array.isArray(value) ? value : [value];
  if (given.length === 0) throw invalid(name, imagesOrFolders.expected, value);
  const list = given.flatMap((style, index) =>
    typeof style === 'string' && style !== '' && existsSync(style) && statSync(style).isDirectory()
      ? imagesIn(itemName(name, given.length, index), style)
      : [style],
  );
  return list.map((style, index) => imageInput(itemName(name, list.length, index), style));
});

const imageList = check('a non-empty array of images', (name, value) => {
  if (!Array.isArray(value) || value.length === 0) throw invalid(name, imageList.expected, value);
  return value.map((image, index) => imageInput(`${name}[${index}]`, image));
});

// How many there must be depends on the styles: resolveOptions checks that.
const blendWeights = check('an array of non-negative numbers, not all zero', (name, value) => {
  if (!Array.isArray(value) || !value.every((weight) => isNumber(weight) && weight >= 0))
    throw invalid(name, blendWeights.expected, value);
  return [...value] as number[];
});

const outputPath = check(`a file path ending in ${Object.keys(outputFormats).join(', ')}`, (name, value) => {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw invalid(name, 'a file path', value);
  if (!(extname(value).toLowerCase() in outputFormats)) throw invalid(name, outputPath.expected, value);
  return writablePath(name, value);
});

/**
 * The folder models are kept in, outside node_modules so that an app's next npm install keeps
 * them: NEURAL_STYLE_HOME, else the platform's folder for caches.
 */
export function modelHome(): string {
  const { NEURAL_STYLE_HOME, XDG_CACHE_HOME, LOCALAPPDATA } = process.env;
  if (NEURAL_STYLE_HOME) return resolve(NEURAL_STYLE_HOME);
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'neural-style');
  if (process.platform === 'win32') return join(LOCALAPPDATA || join(homedir(), 'AppData', 'Local'), 'neural-style');
  return join(XDG_CACHE_HOME || join(homedir(), '.cache'), 'neural-style');
}

/** The model a run takes when neither the model option nor NEURAL_STYLE_MODEL names one. */
export const cachedModelPath = () => join(modelHome(), 'vgg19.pt');

const modelPath = check("a TorchScript file path or 'random'", (name, value) => {
  const given = value === undefined ? process.env.NEURAL_STYLE_MODEL : value;
  if (given === 'random') return given;
  if (given === undefined || given === '') {
    const cached = cachedModelPath();
    if (existsSync(cached)) return cached;
    throw new Error(
      `No VGG-19 model was given and none was found at ${cached}. Download one there with ` +
        '`npx neural-style download-model` (see models/README.md), pass model (--model, or the ' +
        'NEURAL_STYLE_MODEL environment variable) the path of a TorchScript VGG-19, or model: ' +
        "'random' for untrained weights.",
    );
  }
  if (typeof given !== 'string') throw invalid(name, modelPath.expected, given);
  checkFile(name, given);
  return resolve(given);
});

const device = check('one of auto, cpu, cuda, cuda:N', (name, value) => {
  if (typeof value !== 'string' || !/^(auto|cpu|cuda(:\d+)?)$/.test(value)) throw invalid(name, device.expected, value);
  return value as Device;
});

// More threads than the machine has CPUs only slow a run down (2000 threads made two 32-pixel
// iterations take 49 s), and past the process's thread limit OpenMP waits forever for threads
// it could not create.
const machineCpus = cpus().length;
const threadCount = check("an integer from 0 to the machine's logical CPUs", (name, value) => {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > machineCpus) {
    throw invalid(name, `an integer from 0 to ${machineCpus} (this machine's logical CPUs)`, value);
  }
  return (value as number) || usableCpus();
});

/** Every option, in the order the docs list them. */
export const optionTable = {
  content: option<CheckedImageInput, ImageInput>({
    check: imageInput,
    flag: { name: 'content', classic: 'content_image', group: 'Images', type: 'string', demanded: true },
    description: 'The image whose content is kept: a path, encoded bytes, or raw pixels',
  }),
  style: option<CheckedImageInput[], ImageInput | ImageInput[]>({
    check: imagesOrFolders,
    flag: { name: 'style', classic: 'style_image', group: 'Images', type: 'list', demanded: true },
    description: 'The style image, or several to blend (on the command line, separated by commas)',
  }),
  styleBlendWeights: option<number[]>({
    check: blendWeights,
    default: [],
    defaultText: 'equal',
    engine: 'model',
    flag: { name: 'style-blend-weights', classic: 'style_blend_weights', group: 'Weights', type: 'numbers' },
    description: 'Relative weight of each style image when blending several',
  }),
  styleMasks: option<CheckedImageInput[] | undefined, ImageInput[] | undefined>({
    check: optional(imageList),
    defaultText: 'none: every style everywhere',
    flag: { name: 'style-masks', group: 'Images', type: 'list' },
    description:
      "One mask per style image, white where that style applies (Gatys et al. 2017's spatial control; soft edges kept), scaled to the content's size",
  }),
  output: option<string | undefined>({
    check: outputPath,
    flag: { name: 'output', classic: 'output_image', group: 'Output', type: 'string', demanded: true },
    description: 'Where to write the result, atomically; the format follows the extension',
  }),
  imageSize: option({
    check: positiveInteger,
    default: 512,
    flag: { name: 'image-size', classic: 'image_size', group: 'Images', type: 'number' },
    description: 'Longest side of the result, in pixels',
  }),
  scales: option<number | number[]>({
    check: integerOrIntegers,
    default: 1,
    flag: { name: 'scales', group: 'Images', type: 'number-or-list' },
    description:
      "Coarse-to-fine: how many sizes, stepping by √2 up to imageSize, or the sizes themselves, increasing, the last the result's; each starts from the one before, upsampled",
  }),
  iterationsPerScale: option<number | number[] | undefined>({
    check: optional(integerOrIntegers),
    defaultText: 'iterations at each scale',
    flag: { name: 'iterations-per-scale', group: 'Optimisation', type: 'number-or-list' },
    description: 'Iterations at each scale: one number for all, or one per scale',
  }),
  styleScale: option({
    check: positiveNumber,
    default: 1,
    flag: { name: 'style-scale', classic: 'style_scale', group: 'Images', type: 'number' },
    description:
      "Longest side of the style images as a multiple of the result's: below 1 the style's strokes grow, above 1 they shrink",
  }),
  initImage: option<CheckedImageInput | undefined, ImageInput | undefined>({
    check: optional(imageInput),
    defaultText: 'none',
    flag: { name: 'init-image', classic: 'init_image', group: 'Images', type: 'string' },
    description: "An image to start from instead of the content, scaled to the content's size (so init is 'image')",
  }),
  contentWeight: option({
    check: nonNegativeNumber,
    default: 5,
    engine: 'model',
    flag: { name: 'content-weight', classic: 'content_weight', group: 'Weights', type: 'number' },
    description: 'Weight of the content loss',
  }),
  styleWeight: option({
    check: nonNegativeNumber,
    default: 100,
    engine: 'model',
    flag: { name: 'style-weight', classic: 'style_weight', group: 'Weights', type: 'number' },
    description: 'Weight of the style loss',
  }),
  tvWeight: option({
    check: nonNegativeNumber,
    default: 1e-3,
    engine: 'model',
    flag: { name: 'tv-weight', classic: 'tv_weight', group: 'Weights', type: 'number' },
    description: 'Weight of the total-variation smoothing',
  }),
  normalizeGradients: option({
    check: boolean,
    default: false,
    engine: 'model',
    flag: { name: 'normalize-gradients', classic: 'normalize_gradients', group: 'Weights', type: 'boolean' },
    description:
      "Scale the gradient each content and style layer sends back to unit L1 norm, times its weight, as jcjohnson/neural-style's -normalize_gradients does",
  }),
  styleLayerWeights: option<Record<string, number>>({
    check: layerWeights,
    default: {},
    defaultText: '1 for each',
    engine: 'model',
    flag: { name: 'style-layer-weights', group: 'Weights', type: 'weights' },
    description:
      'Weight of each style layer (on the command line layer:weight pairs, relu1_1:1,relu2_1:0.5); a style layer left out weighs 1',
  }),
  styleNormalization: option({
    check: oneOf(styleNormalizations),
    default: 'chw',
    engine: 'model',
    flag: { name: 'style-normalization', group: 'Weights', type: 'string' },
    description:
      "How each style layer's loss is scaled: chw divides the Gram matrix by C·H·W as jcjohnson/neural-style does; paper is Gatys et al.'s 1/(4N²M²)",
  }),
  contentLayers: option({
    check: layerList,
    default: ['relu4_2'],
    engine: 'model',
    flag: { name: 'content-layers', classic: 'content_layers', group: 'Layers', type: 'list' },
    description: 'VGG layers whose activations the content loss compares',
  }),
  styleLayers: option({
    check: layerList,
    default: ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'],
    engine: 'model',
    flag: { name: 'style-layers', classic: 'style_layers', group: 'Layers', type: 'list' },
    description: 'VGG layers whose Gram matrices the style loss compares',
  }),
  iterations: option({
    check: positiveInteger,
    default: 1000,
    engine: 'run',
    flag: { name: 'iterations', classic: 'num_iterations', group: 'Optimisation', type: 'number' },
    description: 'Loss evaluations to run',
  }),
  optimizer: option({
    check: oneOf(optimizers),
    default: 'lbfgs',
    engine: 'run',
    flag: { name: 'optimizer', classic: 'optimizer', group: 'Optimisation', type: 'string' },
    description: 'L-BFGS takes unit steps; Adam takes steps of the learning rate',
  }),
  learningRate: option({
    check: positiveNumber,
    default: 10,
    engine: 'run',
    flag: { name: 'learning-rate', classic: 'learning_rate', group: 'Optimisation', type: 'number' },
    description: "Adam's step size",
  }),
  lbfgsHistory: option({
    check: positiveInteger,
    default: 100,
    engine: 'run',
    flag: { name: 'lbfgs-history', group: 'Optimisation', type: 'number' },
    description: 'Corrections L-BFGS keeps',
  }),
  init: option<Init | undefined>({
    check: optional(oneOf(inits)),
    defaultText: 'random, or image with an init image',
    engine: 'run',
    flag: { name: 'init', classic: 'init', group: 'Optimisation', type: 'string' },
    description: 'Start from noise, or from an image: the content, or the init image',
  }),
  seed: option({
    check: integerFrom(0, Number.MAX_SAFE_INTEGER),
    default: 0,
    engine: 'run',
    flag: { name: 'seed', group: 'Optimisation', type: 'number' },
    description: "Seeds the initial noise and the weights of model 'random'",
  }),
  model: option<string, string | undefined>({
    check: modelPath,
    defaultText: 'NEURAL_STYLE_MODEL, else vgg19.pt in the model cache (NEURAL_STYLE_HOME, else ~/.cache/neural-style)',
    engine: 'model',
    flag: { name: 'model', group: 'Model', type: 'string' },
    description:
      "A TorchScript VGG-19 file, or 'random' for untrained weights; a file whose zip checksums do not match is refused",
  }),
  preprocess: option<Preprocess | undefined>({
    check: optional(oneOf(preprocessings)),
    defaultText: "the model's metadata, else 'torchvision'",
    engine: 'model',
    flag: { name: 'preprocess', group: 'Model', type: 'string' },
    description: 'How the model expects its input, for models whose metadata does not say (see models/README.md)',
  }),
  pooling: option({
    check: oneOf(poolings),
    default: 'avg',
    engine: 'model',
    flag: { name: 'pooling', classic: 'pooling', group: 'Model', type: 'string' },
    description: 'Pooling between VGG blocks; avg as Gatys et al. recommend',
  }),
  precision: option({
    check: oneOf(precisions),
    default: 'float32',
    engine: 'model',
    flag: { name: 'precision', group: 'Device', type: 'string' },
    description:
      "The arithmetic of the network's layers; bfloat16 is faster where the hardware computes in it, slower elsewhere (losses, Gram matrices and optimiser stay float32)",
  }),
  device: option<Device>({
    check: device,
    default: 'auto',
    engine: 'run',
    flag: { name: 'device', group: 'Device', type: 'string' },
    description: 'auto takes CUDA device 0 when there is one, else the CPU',
  }),
  threads: option({
    check: threadCount,
    default: 0,
    engine: 'model',
    flag: { name: 'threads', group: 'Device', type: 'number' },
    description:
      "CPU threads; 0 for one per core the process can use (its CPU affinity and a container's CPU quota count)",
  }),
  normalizeNetwork: option({
    check: boolean,
    default: false,
    engine: 'run',
    flag: { name: 'normalize-network', group: 'Model', type: 'boolean' },
    description:
      "Scale each convolution so that its filters' mean activation over the content and style images is 1, as Gatys et al. normalised VGG-19 (convert-model --normalize-on stores such a model)",
  }),
  calibrationImages: option<CheckedImageInput[] | undefined, ImageInput | ImageInput[] | undefined>({
    check: optional(imagesOrFolders),
    defaultText: 'the content and style images',
    flag: { name: 'calibration-images', group: 'Model', type: 'list' },
    description:
      'With normalizeNetwork: the images whose mean activations it makes 1 (each at imageSize), or folders of them',
  }),
  originalColors: option({
    check: boolean,
    default: false,
    engine: 'run',
    flag: { name: 'original-colors', group: 'Output', type: 'boolean' },
    description:
      "Keep the content's colours: only the luminance is stylized, as jcjohnson/neural-style's -original_colors does",
  }),
  colorMode: option({
    check: oneOf(colorModes),
    default: 'rgb',
    engine: 'run',
    flag: { name: 'color-mode', group: 'Output', type: 'string' },
    description:
      "Keep the content's colours as Gatys et al. 2017 do: luminance transfers style on luminance alone and puts back the content's chrominance; histogram first matches the style images' colour mean and covariance to the content's",
  }),
  colorTransfer: option({
    check: oneOf(colorTransfers),
    default: 'cholesky',
    engine: 'run',
    flag: { name: 'color-transfer', group: 'Output', type: 'string' },
    description: "With colorMode 'histogram': the square root of the colour covariance the match uses",
  }),
  record: option({
    check: boolean,
    default: false,
    flag: { name: 'record', group: 'Output', type: 'boolean' },
    description:
      "Keep a record of the run (result.record, and with output OUTPUT.record.json): every option, the versions, the SHA-256 of the model and images, timings and every iteration's losses",
  }),
  contactSheet: option({
    check: boolean,
    default: false,
    flag: { name: 'contact-sheet', group: 'Output', type: 'boolean' },
    description:
      'With output: also write OUTPUT.sheet.ext, one image of the content, the styles, the previews and the result, labelled',
  }),
  progressInterval: option({
    check: positiveInteger,
    default: 1,
    engine: 'run',
    description: 'Call onProgress every this many iterations, and after the last',
  }),
  previewInterval: option({
    check: nonNegativeInteger,
    default: 0,
    engine: 'run',
    flag: { name: 'save-iter', classic: 'save_iter', group: 'Output', type: 'number' },
    description:
      'Every this many iterations, a preview of the current image (the command line writes it as OUTPUT_N.ext); 0 for never',
  }),
  onProgress: option<((event: ProgressEvent) => void) | undefined>({
    check: callback as Check<((event: ProgressEvent) => void) | undefined>,
    description: 'Called with a ProgressEvent every progressInterval iterations',
  }),
  signal: option<AbortSignal | undefined>({
    check: abortSignal,
    description:
      'Aborting rejects with an AbortError and stops the native work within an iteration; no onProgress after it',
  }),
};

type Table = typeof optionTable;
/** A table of options: optionTable, or one that adds to it (as a test does). */
export type OptionTable = Table & Record<string, OptionSpec<unknown, unknown>>;
type InputOf<Spec> = Spec extends OptionSpec<unknown, infer Input> ? Input : never;
type ResolvedOf<Spec> = Spec extends OptionSpec<infer Resolved, unknown> ? Resolved : never;
type Demanded = 'content' | 'style';

/** What a table's options take: the images, and any other option of the table. */
export type OptionsOf<T> = { [Name in Demanded & keyof T]: InputOf<T[Name]> } & {
  [Name in Exclude<keyof T, Demanded>]?: InputOf<T[Name]>;
};

/** A table's options checked, defaults filled in; the scales as sizes, with their iterations. */
export type ResolvedOptionsOf<T> = {
  [Name in Exclude<keyof T, 'init' | 'scales' | 'iterationsPerScale'>]: ResolvedOf<T[Name]>;
} & { init: Init; scales: number[]; iterationsPerScale: number[] };

/** What stylize() takes. */
export type StylizeOptions = OptionsOf<Table>;

/** Every option checked, defaults filled in. */
export type ResolvedOptions = ResolvedOptionsOf<Table>;

type Defaulted = { [Name in keyof Table]: Table[Name] extends { default: unknown } ? Name : never }[keyof Table];

/** What a run does when nothing is said: jcjohnson/neural-style's choices. */
export const defaults = Object.freeze(
  Object.fromEntries(
    Object.entries(optionTable).flatMap(([name, spec]) => ('default' in spec ? [[name, spec.default]] : [])),
  ),
) as { readonly [Name in Defaulted]: NonNullable<InputOf<Table[Name]>> };

export function unknownOption(name: string, known: Iterable<string>): OptionError {
  const suggestion = nearest(name, known);
  return new OptionError(
    'ERR_UNKNOWN_OPTION',
    (names) => `Unknown option ${names(name)}${suggestion ? `: did you mean ${names(suggestion)}?` : ''}`,
    'TypeError',
  );
}

/** Checks every option and fills in the defaults; throws before any native work is done. */
export function resolveOptions(options: StylizeOptions): ResolvedOptions;
export function resolveOptions<T extends OptionTable>(options: OptionsOf<T>, table: T): ResolvedOptionsOf<T>;
export function resolveOptions(options: unknown, table: OptionTable = optionTable as OptionTable): ResolvedOptions {
  // Validate arguments.
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  for (const name of Object.keys(options)) if (!(name in table)) throw unknownOption(name, Object.keys(table));
  const given = options as Record<string, unknown>;

  // Interpret options: an init image means starting from it, unless init says otherwise.
  const init = optionTable.init.check('init', given.init) ?? (given.initImage === undefined ? 'random' : 'image');
  if (given.initImage !== undefined && init !== 'image') {
    throw new OptionError(
      'ERR_INVALID_OPTION',
      (names) =>
        `${names('initImage')} is a starting image, but ${names('init')} is '${init}': leave ${names('init')} out or make it 'image'`,
      'TypeError',
    );
  }
  const resolved = Object.fromEntries(
    Object.entries(table).map(([name, spec]) => [
      name,
      // Only undefined means left out: null is a value like any other, and refused as one.
      (spec.check as Check<unknown>)(name, given[name] === undefined ? spec.default : given[name]),
    ]),
  ) as ResolvedOptions;
  resolved.init = init;
  Object.assign(resolved, scaleSizes(given, resolved));

  // Validate interpreted options.
  if (given.colorTransfer !== undefined && resolved.colorMode !== 'histogram') {
    throw new OptionError(
      'ERR_INVALID_OPTION',
      (names) =>
        `${names('colorTransfer')} applies to ${names('colorMode')} 'histogram' only, but ${names('colorMode')} is '${resolved.colorMode}'`,
      'TypeError',
    );
  }
  const unweighted = Object.keys(resolved.styleLayerWeights).filter((layer) => !resolved.styleLayers.includes(layer));
  if (unweighted.length > 0) {
    throw new OptionError(
      'ERR_INVALID_OPTION',
      (names) =>
        `${names('styleLayerWeights')} weighs ${unweighted.join(', ')}, which ${names('styleLayers')} does not name: it names ${resolved.styleLayers.join(', ')}`,
      'TypeError',
    );
  }
  if (resolved.calibrationImages !== undefined && !resolved.normalizeNetwork) {
    throw new OptionError(
      'ERR_INVALID_OPTION',
      (names) => `${names('calibrationImages')} are for ${names('normalizeNetwork')}: set it too, or leave them out`,
      'TypeError',
    );
  }
  if (resolved.contactSheet && resolved.output === undefined) {
    throw new OptionError(
      'ERR_INVALID_OPTION',
      (names) => `${names('contactSheet')} is written beside ${names('output')}: give ${names('output')} too`,
      'TypeError',
    );
  }
  const { style: styles, styleBlendWeights, styleMasks } = resolved;
  if (styleMasks !== undefined && styleMasks.length !== styles.length) {
    throw invalid('styleMasks', `an array of ${styles.length} images, one per style image`, styleMasks);
  }
  if (styleMasks !== undefined && styleBlendWeights.length > 0) {
    throw new OptionError(
      'ERR_INVALID_OPTION',
      (names) =>
        `${names('styleMasks')} gives each style its own region, so ${names('styleBlendWeights')} has nothing to blend: give one of them`,
      'TypeError',
    );
  }
  if (
    (styleBlendWeights.length > 0 && styleBlendWeights.length !== styles.length) ||
    (styleBlendWeights.length > 0 && !styleBlendWeights.some((weight) => weight > 0))
  ) {
    throw invalid(
      'styleBlendWeights',
      `an array of ${styles.length} non-negative numbers, not all zero`,
      styleBlendWeights,
    );
  }
  return resolved;
}

/** The sizes of a coarse-to-fine run, smallest first, and each one's iterations. */
function scaleSizes(given: Record<string, unknown>, resolved: ResolvedOptions) {
  const scales = resolved.scales as number | number[];
  let sizes: number[];
  if (Array.isArray(scales)) {
    sizes = scales;
    if (!sizes.every((size, index) => index === 0 || size > sizes[index - 1]))
      throw invalid('scales', 'sizes that increase', scales);
    if (given.imageSize !== undefined && given.imageSize !== sizes.at(-1)) {
      throw new OptionError(
        'ERR_INVALID_OPTION',
        (names) =>
          `${names('scales')} ends at ${sizes.at(-1)} pixels, but ${names('imageSize')} is ${String(given.imageSize)}: the last scale is the result's size, so leave ${names('imageSize')} out or make the two agree`,
        'RangeError',
      );
    }
  } else {
    // Each size √2 times the one before, the last imageSize: the pixels double at each scale.
    sizes = Array.from({ length: scales }, (_, index) =>
      Math.max(1, Math.round(resolved.imageSize / Math.SQRT2 ** (scales - 1 - index))),
    );
    if (new Set(sizes).size !== sizes.length) {
      throw new OptionError(
        'ERR_INVALID_OPTION',
        (names) =>
          `${names('scales')} ${scales} steps below one pixel from ${names('imageSize')} ${resolved.imageSize}`,
        'RangeError',
      );
    }
  }
  const perScale = resolved.iterationsPerScale as number | number[] | undefined;
  if (perScale !== undefined && given.iterations !== undefined) {
    throw new OptionError(
      'ERR_INVALID_OPTION',
      (names) =>
        `${names('iterations')} and ${names('iterationsPerScale')} both say how many iterations to run: give one of them`,
      'TypeError',
    );
  }
  if (Array.isArray(perScale) && perScale.length !== sizes.length)
    throw invalid('iterationsPerScale', `a positive integer or an array of ${sizes.length}, one per scale`, perScale);
  const iterations = Array.isArray(perScale) ? perScale : sizes.map(() => perScale ?? resolved.iterations);
  return { scales: sizes, iterationsPerScale: iterations, imageSize: sizes.at(-1)! };
}

/** An option's default as the docs and the help show it. */
export function defaultText(spec: OptionSpec<unknown, unknown>): string | undefined {
  if (spec.defaultText !== undefined || spec.default === undefined) return spec.defaultText;
  return Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default);
}

/** The docs' option table, in Markdown: docs/api.md holds it, and a test keeps the two the same. */
export function optionDocs(table: OptionTable = optionTable as OptionTable): string {
  const code = (text: string) => `\`${text}\``;
  const rows = Object.entries(table).map(
    ([name, spec]) =>
      `| ${code(name)} | ${spec.flag ? code(`--${spec.flag.name}`) : ''} | ${spec.check.expected} | ${defaultText(spec) ?? ''} | ${spec.description} |`,
  );
  return ['| option | flag | expects | default | |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

const docsMarkers = ['<!-- options: from lib/options.ts, written by npm run docs -->', '<!-- options end -->'] as const;

/** `markdown` (docs/api.md's text) with the option table between its markers written anew. */
export function withOptionDocs(markdown: string): string {
  const [start, end] = docsMarkers;
  const from = markdown.indexOf(start);
  const to = markdown.indexOf(end);
  if (from < 0 || to < from) throw new Error(`The text lacks the markers ${start} and ${end}`);
  return `${markdown.slice(0, from + start.length)}\n${optionDocs()}\n${markdown.slice(to)}`;
}
