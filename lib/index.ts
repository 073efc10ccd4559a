export { stylize, AbortError } from './stylize';
export type { Result } from './stylize';
export { defaults } from './options';
export { convertModel, downloadModel, pretrainedWeights } from './models';
export type { ConvertModelOptions, DownloadedModel, DownloadModelOptions, DownloadProgress, ModelFile, PretrainedWeights } from './models';
export type { Device, ImageInput, Init, Optimizer, Pooling, Precision, Preprocess, ProgressEvent, RawImage, RgbImage, StylizedImage, StylizeOptions } from './options';
export type { OutputFormat } from './image';
import { addon, RuntimeInfo } from './native';
export type { RuntimeInfo } from './native';

/** The LibTorch the addon was built against, the CUDA devices it sees, and its memory. */
export function runtimeInfo(): RuntimeInfo {
  return addon.runtimeInfo();
}
