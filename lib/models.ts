// Pretrained VGG-19 weights, made into the TorchScript model the engine runs: downloaded from
// where they are published, or converted from a state dict already on disk. No Python needed.
import { mkdirSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';

import { readStateDict } from './checkpoint';
import { downloadToFile, type DownloadProgress } from './download';
import { temporaryPathBeside, writeAtomically } from './files';
import { addon } from './native';
import { checkFile, invalid, oneOf, writablePath } from './checks';
import { decodeImages } from './image';
import type { CheckedImageInput, ImageInput } from './image-input';
import { OptionError } from './errors';
import { cachedModelPath, imagesOrFolders, modelHome, Pooling, poolings, Preprocess, preprocessings } from './options';
import { sha256Of } from './record';
import { AbortError } from './stylize';
import { verifyTorchScript } from './zip';

export type PretrainedWeights = 'caffe' | 'torchvision';

/**
 * Where each set of pretrained VGG-19 weights is published, the first hex digits of its SHA-256
 * (torch.hub's convention: they are in the file's name), and the input the weights expect.
 * `caffe` is jcjohnson/pytorch-vgg's conversion of the original Caffe VGG-19, the network
 * jcjohnson/neural-style runs; `torchvision` is torchvision's own ImageNet training.
 */
export const pretrainedWeights: Record<PretrainedWeights, { url: string; sha256: string; preprocess: Preprocess }> = {
  caffe: {
    url: 'https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth',
    sha256: 'd01eb7cb',
    preprocess: 'caffe',
  },
  torchvision: {
    url: 'https://download.pytorch.org/models/vgg19-dcbb9e9d.pth',
    sha256: 'dcbb9e9d',
    preprocess: 'torchvision',
  },
};

export interface ConvertModelOptions {
  /**
   * A VGG-19 state dict, as torch.save writes it (a .pth file, in either of its layouts), keyed
   * as torchvision's VGG-19 (`features.0.weight` …, or `0.weight` … for the features alone).
   */
  weights: string;
  /** How the weights expect their input; a state dict cannot tell. */
  preprocess: Preprocess;
  /** Where to write the model: default `vgg19.pt` in the model cache (`modelHome()`), where runs find it. */
  output?: string;
  /**
   * Store the normalised network (Gatys et al.): each filter's mean activation over these images
   * (paths, Buffers, raw pixels or folders of images, each at 512 pixels) made 1.
   */
  normalizeOn?: ImageInput | ImageInput[];
  /** The pooling the normalisation runs with, as the runs that use the model should: default avg. */
  pooling?: Pooling;
}

export interface DownloadModelOptions {
  /** Which weights: 'caffe' (the default, which the default loss weights suit) or 'torchvision'. */
  weights?: PretrainedWeights;
  /** Where to fetch them from instead of where they are published: a mirror, say. */
  url?: string;
  /** The file's SHA-256, or its first 8 or more hex digits; default the published file's. */
  sha256?: string;
  /** Where to write the model: default `vgg19.pt` in the model cache (`modelHome()`). */
  output?: string;
  onProgress?: (event: DownloadProgress) => void;
  /** abort() rejects with an AbortError and leaves no file. */
  signal?: AbortSignal;
  /** Give up when no data arrives for this long, in milliseconds. Default 60 000. */
  timeoutMs?: number;
}

export interface ModelFile {
  /** The TorchScript model written. */
  output: string;
  preprocess: Preprocess;
}

/** The TorchScript model the weights were made into, and the file they came from. */
export interface DownloadedModel extends ModelFile {
  url: string;
  sha256: string;
}

// VGG-19's 16 convolutions, numbered as in torchvision's vgg19().features: each is followed by
// its ReLU, and each block (of 2, 2, 4, 4 and 4) by a pooling layer.
const convolutionIndices = [2, 2, 4, 4, 4].flatMap((count, block, blocks) => {
  const first = blocks.slice(0, block).reduce((index, earlier) => index + earlier * 2 + 1, 0);
  return Array.from({ length: count }, (_, i) => first + i * 2);
});

function describeShape(shape: number[]): string {
  return `[${shape.join(', ')}]`;
}

// The same convolutions named as the layers are (conv1_1 …), as the authors' vgg_conv.pth keys them.
const convolutionNames = [2, 2, 4, 4, 4].flatMap((count, block) =>
  Array.from({ length: count }, (_, i) => `conv${block + 1}_${i + 1}`),
);

/** Normalisation before writing: the images and the pooling it runs with. */
interface Normalization {
  calibration: CheckedImageInput[];
  pooling: Pooling;
}

/** Reads the VGG-19 state dict at `path` (named `source` in errors) and writes it as the model. */
async function writeVgg19(
  path: string,
  source: string,
  preprocess: Preprocess,
  output: string,
  normalization?: Normalization,
): Promise<ModelFile> {
  const state = await readStateDict(path, (name) => /^(features\.)?(\d+|conv\d_\d)\.(weight|bias)$/.test(name));
  const named = [...state.keys()].some((name) => name.startsWith('conv'));
  const prefix = [...state.keys()].some((name) => name.startsWith('features.')) ? 'features.' : '';
  const keys = named ? convolutionNames : convolutionIndices.map((index) => `${prefix}${index}`);
  const names = keys.flatMap((key) => [`${key}.weight`, `${key}.bias`]);
  const missing = names.filter((name) => !state.has(name));
  if (missing.length > 0) {
    const more = missing.length > 3 ? ` and ${missing.length - 3} more` : '';
    throw new Error(`${source} is not a VGG-19 state dict: it lacks ${missing.slice(0, 3).join(', ')}${more}`);
  }
  let channels = 3;
  const convolutions = keys.map((key) => {
    const weight = state.get(`${key}.weight`)!;
    const bias = state.get(`${key}.bias`)!;
    const outChannels = weight.shape[0];
    const misfit = (name: string, shape: number[], expected: number[]) =>
      new Error(
        `${source} does not fit VGG-19: ${key}.${name} has shape ${describeShape(shape)}, expected ${describeShape(expected)}`,
      );
    const expectedWeight = [outChannels, channels, 3, 3];
    if (describeShape(weight.shape) !== describeShape(expectedWeight))
      throw misfit('weight', weight.shape, expectedWeight);
    if (describeShape(bias.shape) !== describeShape([outChannels])) throw misfit('bias', bias.shape, [outChannels]);
    const convolution = { outChannels, inChannels: channels, weight: weight.data, bias: bias.data };
    channels = outChannels;
    return convolution;
  });
  if (!normalization) {
    await writeAtomically(output, (temporary) => addon().saveModel({ path: temporary, preprocess, convolutions }));
    return { output, preprocess };
  }
  const calibration = await decodeImages(
    normalization.calibration.map((image, index) => [image, `normalizeOn[${index}]`, 512] as const),
  );
  await writeAtomically(output, async (temporary) => {
    const converted = temporaryPathBeside(output, 'raw');
    try {
      await addon().saveModel({ path: converted, preprocess, convolutions });
      await addon().normalizeModel({
        modelPath: converted,
        preprocess,
        pooling: normalization.pooling,
        precision: 'float32',
        calibration,
        path: temporary,
      });
    } finally {
      await rm(converted, { force: true });
    }
  });
  return { output, preprocess };
}

/** Where a model is written: `value`, else the model cache, made if need be; checked writable before any work. */
function modelOutput(value: unknown): string {
  if (value !== undefined) {
    if (typeof value !== 'string' || value === '') throw invalid('output', 'a file path', value);
    return resolve(writablePath('output', value));
  }
  const home = modelHome();
  try {
    mkdirSync(home, { recursive: true });
  } catch (error) {
    throw new OptionError(
      (error as NodeJS.ErrnoException).code ?? 'ERR_MODEL_HOME',
      (names) =>
        `Cannot make the model folder ${home} (${(error as Error).message.split(':')[0]}): set NEURAL_STYLE_HOME to a folder you can write, or give ${names('output')}`,
    );
  }
  return writablePath('output', cachedModelPath());
}

/** Converts a VGG-19 state dict (a .pth file) into the TorchScript model neural-style runs. */
export async function convertModel(options: ConvertModelOptions): Promise<ModelFile> {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  const { weights } = options;
  if (typeof weights !== 'string' || weights === '') throw invalid('weights', 'the path of a .pth file', weights);
  checkFile('weights', weights);
  const preprocess = oneOf(preprocessings)('preprocess', options.preprocess);
  const pooling = oneOf(poolings)('pooling', options.pooling ?? 'avg');
  if (options.pooling !== undefined && options.normalizeOn === undefined)
    throw new Error('pooling matters only to a normalised model: give normalizeOn too, or leave pooling out');
  const normalization =
    options.normalizeOn === undefined
      ? undefined
      : { calibration: imagesOrFolders('normalizeOn', options.normalizeOn), pooling };
  return writeVgg19(weights, weights, preprocess, modelOutput(options.output), normalization);
}

/**
 * Downloads pretrained VGG-19 weights, checks them against their published SHA-256 and converts
 * them into the TorchScript model neural-style runs (by default `vgg19.pt` in the model cache, which runs
 * then find without being told). The weights file itself (about 575 MB, with the classifier a
 * style transfer does not use) is deleted once converted; the model is 80 MB.
 */
export async function downloadModel(options: DownloadModelOptions = {}): Promise<DownloadedModel> {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  const weights = oneOf(Object.keys(pretrainedWeights) as PretrainedWeights[])('weights', options.weights ?? 'caffe');
  const published = pretrainedWeights[weights];
  const url = options.url ?? published.url;
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw invalid('url', 'an http or https URL', url);
  const expected = options.sha256 ?? published.sha256;
  if (typeof expected !== 'string' || !/^[0-9a-fA-F]{8,64}$/.test(expected)) {
    throw invalid('sha256', 'a SHA-256 in hex, or its first 8 or more hex digits', expected);
  }
  const timeoutMs = options.timeoutMs ?? 60_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw invalid('timeoutMs', 'a positive number', timeoutMs);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw invalid('onProgress', 'a function', options.onProgress);
  if (options.signal?.aborted) throw new AbortError(undefined, { cause: options.signal.reason });
  const output = modelOutput(options.output);

  const download = temporaryPathBeside(output, 'download');
  try {
    const { sha256 } = await downloadToFile(url, download, {
      timeoutMs,
      onProgress: options.onProgress,
      signal: options.signal,
    });
    if (!sha256.startsWith(expected.toLowerCase())) {
      throw new Error(
        `The file downloaded from ${url} has SHA-256 ${sha256}, expected one beginning ${expected.toLowerCase()}: it is not the file expected, or it was damaged on the way`,
      );
    }
    if (options.signal?.aborted) throw new AbortError(undefined, { cause: options.signal.reason });
    return { ...(await writeVgg19(download, url, published.preprocess, output)), url, sha256 };
  } finally {
    await rm(download, { force: true });
  }
}

export interface ModelInfo {
  path: string;
  bytes: number;
  sha256: string;
  /** Each layer in order; convolutions with their channels in and out. */
  layers: Array<{ name: string; inChannels?: number; outChannels?: number }>;
  /** Convolution weights and biases. */
  parameters: number;
  /** As the file records it; 'unrecorded' for a TorchScript export without neural-style's metadata. */
  preprocessing: Preprocess | 'unrecorded';
  /** Written by neural-style (download-model, convert-model), or a TorchScript export from elsewhere. */
  source: 'neural-style' | 'another TorchScript export';
}

/** What the model file at `path` holds: its layers, preprocessing, parameters, size and SHA-256. */
export async function modelInfo(path: string): Promise<ModelInfo> {
  if (typeof path !== 'string' || path === '') throw invalid('path', 'a model file path', path);
  checkFile('path', path);
  const source = resolve(path);
  await verifyTorchScript(source, `Model ${source}`);
  const [native, sha256, { size }] = await Promise.all([addon().modelInfo(source), sha256Of(source), stat(source)]);
  return {
    path: source,
    bytes: size,
    sha256,
    layers: native.layers.map(({ name, inChannels, outChannels }) =>
      name.startsWith('conv') ? { name, inChannels, outChannels } : { name },
    ),
    parameters: native.parameters,
    preprocessing: (native.preprocessing || 'unrecorded') as ModelInfo['preprocessing'],
    source: native.preprocessing ? 'neural-style' : 'another TorchScript export',
  };
}
