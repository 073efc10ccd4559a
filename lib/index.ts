export { stylize, AbortError } from './stylize';
export type { Result, StylizedImage } from './stylize';
export { defaults } from './options';
export type { ImageInput, Init, Optimizer, Pooling, Preprocess, ProgressEvent, RgbImage, StylizeOptions } from './options';
export type { OutputFormat } from './image';
import { addon } from './native';

/** The LibTorch the addon was built against, and the CUDA devices it sees. */
export function runtimeInfo(): { torchVersion: string; cudaDevices: number } {
  return addon.runtimeInfo();
}
