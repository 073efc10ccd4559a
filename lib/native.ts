import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import type { GreyImage } from './image-input';
import { optionTable, ResolvedOptions, RgbImage } from './options';

const packageRoot = resolve(__dirname, '..');

/** The options the addon reads: validated, defaulted and decoded by the TypeScript layer. */
export interface NativeModelOptions {
  /** A TorchScript file; or, instead, */
  modelPath?: string;
  /** the seed of a VGG-19's random weights. */
  randomWeightsSeed?: number;
  preprocess?: string;
  pooling: string;
  precision: string;
  contentLayers: string[];
  styleLayers: string[];
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
  styleBlendWeights: number[];
  /** One per style layer, in styleLayers' order. */
  styleLayerWeights: number[];
  styleNormalization: string;
  normalizeGradients: boolean;
  threads: number;
}

export interface NativeStylizeOptions extends NativeModelOptions {
  content: RgbImage;
  styles: RgbImage[];
  /** One per style, at the content's size; empty: every style everywhere. */
  styleMasks: GreyImage[];
  iterations: number;
  optimizer: string;
  learningRate: number;
  lbfgsHistory: number;
  init: string;
  /** With init 'image': the start instead of the content, at the content's size. */
  initImage?: RgbImage;
  seed: number;
  normalizeNetwork: boolean;
  /** With normalizeNetwork: the images to normalise on; empty: the content and the styles. */
  calibration: RgbImage[];
  originalColors: boolean;
  colorMode: string;
  colorTransfer: string;
  device: string;
  /** Bytes the system can still give the process; the run's CPU tensors stay within it. 0: no limit. */
  availableMemory: number;
  progressInterval: number;
  previewInterval: number;
}

export interface NativeLosses {
  loss: number;
  content: number;
  style: number;
  tv: number;
}

export interface NativeProgress extends NativeLosses {
  iteration: number;
  elapsedMs: number;
  preview?: RgbImage;
}

export interface NativeResult extends NativeLosses {
  image: RgbImage;
  iterations: number;
  elapsedMs: number;
  device: string;
}

export interface NativeRuntimeInfo {
  /** The LibTorch the addon was built against. */
  torchVersion: string;
  /** CUDA devices LibTorch sees (0 without CUDA). */
  cudaDevices: number;
  /** CPU tensor memory the engine holds; 0 when no run is active. */
  heldCpuBytes: number;
  /**
   * GPU memory LibTorch's CUDA allocator holds on all devices. A run gives back what it cached
   * when it ends, so this stays near 0 between runs; 0 without CUDA.
   */
  reservedCudaBytes: number;
  /** The libstdc++ ABI the addon, and so its LibTorch, was built with. */
  cxx11Abi: boolean;
  /** The core type OpenBLAS chose for this CPU, when LibTorch's BLAS is OpenBLAS; else ''. */
  openblasCore: string;
  /** LibTorch's own account of its build (at::show_config()). */
  buildConfig: string;
}

/** A float image in 0..1, planar (three planes of height * width). */
export interface PlanarImage {
  width: number;
  height: number;
  data: Float32Array;
}

export interface NativeEvaluateOptions extends NativeModelOptions {
  content: PlanarImage;
  styles: PlanarImage[];
  image: PlanarImage;
}

/** A convolution of the VGG-19 to write: [outChannels, inChannels, 3, 3] weights and outChannels biases. */
export interface NativeConvolution {
  outChannels: number;
  inChannels: number;
  weight: Float32Array;
  bias: Float32Array;
}

export interface NativeSaveModelOptions {
  path: string;
  preprocess: string;
  convolutions: NativeConvolution[];
}

export interface NativeAddon {
  stylize(
    options: NativeStylizeOptions,
    onProgress?: (event: NativeProgress) => void,
  ): {
    promise: Promise<NativeResult>;
    cancel(): void;
  };
  evaluate(options: NativeEvaluateOptions): Promise<NativeLosses & { gradient: Float32Array }>;
  /** The style's colours matched to the content's, as colorMode 'histogram' does: 0..1, not clamped. */
  matchColours(options: { style: RgbImage; content: RgbImage; colorTransfer: string }): Promise<PlanarImage>;
  saveModel(options: NativeSaveModelOptions): Promise<void>;
  /** Loads the model, normalises it on the calibration images (Gatys et al.) and writes it to `path`. */
  normalizeModel(
    options: Pick<NativeModelOptions, 'modelPath' | 'preprocess' | 'pooling' | 'precision'> & {
      calibration: RgbImage[];
      path: string;
    },
  ): Promise<void>;
  /** The layers of the model file at `path`, its recorded preprocessing ('' for none) and its parameter count. */
  modelInfo(path: string): Promise<{
    layers: Array<{ name: string; inChannels: number; outChannels: number }>;
    preprocessing: string;
    parameters: number;
  }>;
  runtimeInfo(): NativeRuntimeInfo;
}

/** The options the engine reads at `levels` (with the model, with the run); the model as its source. */
function engineOptions(o: ResolvedOptions, levels: ReadonlyArray<'model' | 'run'>): Record<string, unknown> {
  const read = Object.entries(optionTable).filter(
    ([name, spec]) => 'engine' in spec && levels.includes(spec.engine!) && name !== 'model',
  );
  const model = o.model === 'random' ? { randomWeightsSeed: o.seed } : { modelPath: o.model };
  // The engine takes the layers' weights in the layers' order.
  const styleLayerWeights = o.styleLayers.map((layer) => o.styleLayerWeights[layer] ?? 1);
  return {
    ...Object.fromEntries(read.map(([name]) => [name, o[name as keyof ResolvedOptions]])),
    ...model,
    styleLayerWeights,
  };
}

/** What evaluate() reads: the model and the objective, from resolved options. */
export function nativeModelOptions(o: ResolvedOptions): NativeModelOptions {
  return engineOptions(o, ['model']) as unknown as NativeModelOptions;
}

/** What the engine's stylize() reads, from resolved options and the images decoded for them. */
export function nativeStylizeOptions(
  o: ResolvedOptions,
  images: {
    content: RgbImage;
    styles: RgbImage[];
    styleMasks?: GreyImage[];
    calibration?: RgbImage[];
    initImage?: RgbImage;
  },
  availableMemory: number,
): NativeStylizeOptions {
  return {
    ...(engineOptions(o, ['model', 'run']) as unknown as NativeStylizeOptions),
    styleMasks: [],
    calibration: [],
    ...images,
    availableMemory,
  };
}

/** The shared libraries this process has mapped (from /proc/self/maps; none known elsewhere than Linux). */
export function loadedLibraries(): string[] {
  if (process.platform !== 'linux') return [];
  const paths = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .map((line) => line.split(/\s+/)[5])
    .filter((path): path is string => path !== undefined && /\.so(\.|$)/.test(path));
  return [...new Set(paths)];
}

/** Where the addon is loaded from: NEURAL_STYLE_ADDON (a .node file) overrides the build's. */
export const addonPath = process.env.NEURAL_STYLE_ADDON
  ? resolve(process.env.NEURAL_STYLE_ADDON)
  : resolve(packageRoot, 'build', 'Release', 'neural_style.node');

/**
 * The command that builds the addon: in a checkout of the repository its set-up; in an app, the
 * package's install script by hand, or run again by npm once approved.
 */
export const buildCommand = existsSync(resolve(packageRoot, 'test'))
  ? `cd ${packageRoot} && npm run setup`
  : 'npx neural-style setup (or, in the app, npm install-scripts approve neural-style && npm rebuild neural-style)';

function loadAddon(): NativeAddon {
  if (!existsSync(addonPath)) {
    throw new Error(`The neural-style native addon is missing (${addonPath}). Build it with: ${buildCommand}`);
  }
  try {
    return require(addonPath) as NativeAddon;
  } catch (error) {
    const message = (error as Error).message;
    if (/lib(torch|c10)[^:]*\.so/.test(message)) {
      throw new Error(
        `The neural-style native addon cannot find LibTorch (${message.split('\n')[0]}). ` +
          `Rebuild it with: ${buildCommand}, which finds LibTorch or gets one`,
      );
    }
    throw new Error(
      `The neural-style native addon failed to load (${message.split('\n')[0]}). Rebuild it with: ${buildCommand}`,
    );
  }
}

let loaded: NativeAddon | undefined;

/**
 * The addon, loaded on first use: requiring the package loads no LibTorch (about 0.5 s and 180 MB),
 * so option checks, downloads and reading state dicts work, and are quick, without it.
 */
export function addon(): NativeAddon {
  return (loaded ??= loadAddon());
}
