export { stylize, AbortError } from './stylize';
export type { Result } from './stylize';
export { defaults, modelHome } from './options';
export { bundle } from './bundle';
export type { Bundle, BundleOptions } from './bundle';
export { lossPlot } from './plot';
export { readRecord } from './record';
export type { RecordedInput, RecordedIteration, RunRecord } from './record';
export { convertModel, downloadModel, modelInfo, pretrainedWeights } from './models';
export type { DownloadProgress } from './download';
export type {
  ConvertModelOptions,
  DownloadedModel,
  DownloadModelOptions,
  ModelFile,
  ModelInfo,
  PretrainedWeights,
} from './models';
export type {
  ColorMode,
  ColorTransfer,
  Device,
  ImageInput,
  Init,
  Optimizer,
  Pooling,
  Precision,
  Preprocess,
  ProgressEvent,
  RawImage,
  RgbImage,
  StyleNormalization,
  StylizedImage,
  StylizeOptions,
} from './options';
export type { OutputFormat } from './image';
import { cpuBfloat16 } from './cpus';
import { addon, NativeRuntimeInfo } from './native';

export interface RuntimeInfo extends NativeRuntimeInfo {
  /**
   * Whether the CPU computes in bfloat16 (AVX-512 BF16, AMX-BF16, Arm BF16), which
   * `precision: 'bfloat16'` needs to be faster than float32 on the CPU; undefined where unknown
   * (Linux tells, from /proc/cpuinfo).
   */
  cpuBfloat16: boolean | undefined;
}

/** The LibTorch the addon was built against, the CUDA devices it sees, its memory, and the CPU's bfloat16. */
export function runtimeInfo(): RuntimeInfo {
  return { ...addon().runtimeInfo(), cpuBfloat16: cpuBfloat16() };
}
