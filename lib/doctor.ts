// `neural-style doctor`: what this installation has and where each part came from, and for each
// problem found, the command that fixes it.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';

import { cgroupCpuQuota, cpuBfloat16, usableCpus } from './cpus';
import { addon, addonPath, buildCommand, loadedLibraries, NativeRuntimeInfo } from './native';
import { cachedModelPath, modelHome } from './options';

const packageRoot = resolve(__dirname, '..');
const { name, version } = require('../package.json') as { name: string; version: string };

export interface Problem {
  problem: string;
  /** The command (or setting) that fixes it. */
  fix: string;
}

export interface DoctorReport {
  package: { name: string; version: string; path: string };
  node: { version: string; modules: string; napi: string };
  addon: { path: string; loaded: boolean; error?: string };
  /** With the addon loaded: its LibTorch. */
  libtorch?: {
    version: string;
    library?: string;
    /** Where it came from, told by where it lies. */
    source?: string;
    cxx11Abi: boolean;
    cudaDevices: number;
    cpuCapability?: string;
  };
  /** The BLAS LibTorch's matrix products (the Gram matrices') go through, and OpenBLAS's core type. */
  blas?: { library?: string; openblasCore?: string; forcedCoreType?: string };
  cpu: { model: string; logical: number; bfloat16?: boolean; onednnIsa?: string };
  threads: { count: number; why: string };
  modelCache: { folder: string; writable: boolean };
  /** The model a run given no model option would use, and where that choice came from. */
  model: { path?: string; from: 'NEURAL_STYLE_MODEL' | 'the model cache' | 'none' };
  problems: Problem[];
}

/** The first library of this process whose path matches `pattern`. */
const loadedLibrary = (pattern: RegExp) => loadedLibraries().find((path) => pattern.test(path));

/** Where the LibTorch at `library` came from, by its place. */
function libtorchSource(library: string | undefined): string | undefined {
  if (library === undefined) return undefined;
  if (library.startsWith(join(modelHome(), 'libtorch') + sep)) return 'the official archive fetched into the cache';
  if (/\/site-packages\/torch\/lib\//.test(library)) return "a Python's torch";
  if (/^\/(usr\/)?lib/.test(library)) return "the system's libtorch-dev";
  return 'LIBTORCH or Torch_DIR';
}

/**
 * The instruction set oneDNN (LibTorch's convolutions) dispatches to: oneDNN says it only when
 * ONEDNN_VERBOSE is set before it first runs, so a child process runs one small evaluation.
 */
function onednnIsa(): string | undefined {
  const probe = spawnSync(process.execPath, [__filename, '--onednn-probe'], {
    encoding: 'utf8',
    env: { ...process.env, ONEDNN_VERBOSE: '1' },
    timeout: 60000,
  });
  // oneDNN 3 puts a format version (v1) after the prefix.
  return /onednn_verbose,(?:v\d+,)?info,cpu,isa:(.*)/.exec(`${probe.stdout}${probe.stderr}`)?.[1].trim();
}

async function onednnProbe(): Promise<void> {
  const { nativeModelOptions } = await import('./native');
  const { resolveOptions } = await import('./options');
  // Large enough that LibTorch gives the convolution to oneDNN (over 20480 input values).
  const image = { width: 96, height: 96, data: new Float32Array(3 * 96 * 96).fill(0.5) };
  const pixel = { width: 1, height: 1, data: Buffer.alloc(3) };
  const options = resolveOptions({
    content: pixel,
    style: pixel,
    model: 'random',
    contentLayers: ['relu1_1'],
    styleLayers: ['relu1_1'],
    threads: 1,
  });
  await addon().evaluate({ ...nativeModelOptions(options), content: image, styles: [image], image });
}

function writable(folder: string): boolean {
  // The nearest folder that exists is where the cache would be made.
  let existing = folder;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  try {
    accessSync(existing, constants.W_OK);
    return statSync(existing).isDirectory();
  } catch {
    return false;
  }
}

/** Looks the installation over: loads the addon (and LibTorch) if it can. */
export function doctor(): DoctorReport {
  const problems: Problem[] = [];

  let runtime: NativeRuntimeInfo | undefined;
  let addonError: string | undefined;
  try {
    runtime = addon().runtimeInfo();
  } catch (error) {
    addonError = (error as Error).message;
    problems.push({
      problem: addonError,
      fix: buildCommand,
    });
  }

  const forcedCoreType = process.env.OPENBLAS_CORETYPE;
  const blasLibrary = runtime && loadedLibrary(/blas/i);
  const torchLibrary = runtime && loadedLibrary(/libtorch_cpu\.so/);
  const quota = process.platform === 'linux' ? cgroupCpuQuota() : Infinity;
  const threads = usableCpus();
  const why =
    `${availableParallelism()} CPUs in this process's affinity` +
    (Number.isFinite(quota) ? `, a cgroup CPU quota of ${quota}` : ', no cgroup CPU quota');

  const folder = modelHome();
  const cacheWritable = writable(folder);
  if (!cacheWritable)
    problems.push({
      problem: `The model cache ${folder} cannot be written`,
      fix: 'export NEURAL_STYLE_HOME=<a folder you can write>',
    });

  const fromEnvironment = process.env.NEURAL_STYLE_MODEL;
  let model: DoctorReport['model'];
  if (fromEnvironment && fromEnvironment !== 'random') {
    const path = resolve(fromEnvironment);
    model = { path, from: 'NEURAL_STYLE_MODEL' };
    if (!existsSync(path))
      problems.push({
        problem: `NEURAL_STYLE_MODEL names ${path}, which does not exist`,
        fix: 'unset NEURAL_STYLE_MODEL, or point it at a TorchScript VGG-19',
      });
  } else if (existsSync(cachedModelPath())) {
    model = { path: cachedModelPath(), from: 'the model cache' };
  } else {
    model = { from: 'none' };
    problems.push({
      problem: `No model: runs need one (or model: 'random'), and none is at ${cachedModelPath()}`,
      fix: 'npx neural-style download-model',
    });
  }

  return {
    package: { name, version, path: packageRoot },
    node: { version: process.version, modules: process.versions.modules, napi: process.versions.napi ?? '' },
    addon: { path: addonPath, loaded: runtime !== undefined, ...(addonError ? { error: addonError } : {}) },
    ...(runtime && {
      libtorch: {
        version: runtime.torchVersion,
        library: torchLibrary,
        source: libtorchSource(torchLibrary),
        cxx11Abi: runtime.cxx11Abi,
        cudaDevices: runtime.cudaDevices,
        cpuCapability: /CPU capability usage: (\S+)/.exec(runtime.buildConfig)?.[1],
      },
      blas: {
        library: blasLibrary,
        openblasCore: runtime.openblasCore || undefined,
        ...(forcedCoreType ? { forcedCoreType } : {}),
      },
    }),
    cpu: {
      model: cpus()[0]?.model ?? 'unknown',
      logical: cpus().length,
      bfloat16: cpuBfloat16(),
      onednnIsa: runtime ? onednnIsa() : undefined,
    },
    threads: { count: threads, why },
    modelCache: { folder, writable: cacheWritable },
    model,
    problems,
  };
}

/** The report as lines for a terminal. */
export function doctorLines(report: DoctorReport): string[] {
  const { libtorch, blas, cpu } = report;
  const lines = [
    `package:   ${report.package.name} ${report.package.version} at ${report.package.path}`,
    `node:      ${report.node.version} (modules ${report.node.modules}, N-API ${report.node.napi})`,
    `addon:     ${report.addon.loaded ? 'loaded from' : 'not loaded:'} ${report.addon.path}`,
  ];
  if (libtorch) {
    lines.push(
      `libtorch:  ${libtorch.version} from ${libtorch.library ?? 'an unknown path'}${libtorch.source ? ` (${libtorch.source})` : ''}, C++11 ABI ${libtorch.cxx11Abi ? 'on' : 'off'}, ` +
        `ATen's CPU code ${libtorch.cpuCapability ?? 'unknown'}, ${libtorch.cudaDevices} CUDA device(s)`,
    );
    lines.push(
      `blas:      ${blas?.library ?? 'none found'}${blas?.openblasCore ? `, OpenBLAS core ${blas.openblasCore}` : ''}` +
        (blas?.forcedCoreType ? ` (forced by OPENBLAS_CORETYPE=${blas.forcedCoreType})` : ''),
    );
  }
  lines.push(
    `cpu:       ${cpu.model}, ${cpu.logical} logical, bfloat16 arithmetic ${cpu.bfloat16 === undefined ? 'unknown' : cpu.bfloat16 ? 'yes' : 'no'}` +
      (cpu.onednnIsa ? `, oneDNN ISA ${cpu.onednnIsa}` : ''),
    `threads:   ${report.threads.count} (${report.threads.why})`,
    `cache:     ${report.modelCache.folder}${report.modelCache.writable ? '' : ' (not writable)'}`,
    `model:     ${report.model.path ? `${report.model.path} (from ${report.model.from})` : 'none'}`,
  );
  for (const { problem, fix } of report.problems) lines.push(`problem:   ${problem}\n  fix:     ${fix}`);
  if (report.problems.length === 0) lines.push('No problems found.');
  return lines;
}

if (require.main === module && process.argv[2] === '--onednn-probe') {
  onednnProbe().catch((error: Error) => {
    console.error(error.message);
    process.exitCode = 1;
  });
}
