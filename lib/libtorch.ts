// The official LibTorch archive, fetched for machines that have no LibTorch of their own: by the
// install script (scripts/install.js) and `neural-style setup`. Kept in the cache folder beside the
// models, so that an app's next npm install keeps it, and unpacked only once it is whole.
import { existsSync } from 'node:fs';
import { access, constants, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { downloadToFile, type DownloadProgress } from './download';
import { temporaryPathBeside } from './files';
import { modelHome } from './options';
import { extractZip } from './zip';

/** The LibTorch fetched unless NEURAL_STYLE_LIBTORCH_VERSION says otherwise: the 2.x the engine is tested on. */
export const defaultLibtorchVersion = '2.6.0';
export const defaultLibtorchMirror = 'https://download.pytorch.org/libtorch';

export interface LibtorchRequest {
  /** `cpu`, or a CUDA build such as `cu126`. */
  variant: string;
  version: string;
  url: string;
  /** The SHA-256 the archive must have (NEURAL_STYLE_LIBTORCH_SHA256), where one is pinned. */
  sha256?: string;
}

/**
 * Which LibTorch archive to fetch, from the environment: NEURAL_STYLE_LIBTORCH (the build; else
 * CUDA 12.6 where a GPU is seen, the CPU build otherwise), NEURAL_STYLE_LIBTORCH_VERSION,
 * NEURAL_STYLE_LIBTORCH_MIRROR (a server laid out as download.pytorch.org/libtorch) and
 * NEURAL_STYLE_LIBTORCH_SHA256. PyTorch publishes no checksums for these archives, so none is
 * built in: the archive's size and each entry's CRC-32 are checked, and a pinned SHA-256 too.
 */
export function libtorchRequest(env: NodeJS.ProcessEnv, hasGpu: () => boolean): LibtorchRequest {
  const variant = env.NEURAL_STYLE_LIBTORCH || (hasGpu() ? 'cu126' : 'cpu');
  if (!/^(cpu|cu\d{3})$/.test(variant))
    throw new Error(`NEURAL_STYLE_LIBTORCH=${variant}: expected cpu or a CUDA build of LibTorch such as cu126`);
  const version = env.NEURAL_STYLE_LIBTORCH_VERSION || defaultLibtorchVersion;
  if (!/^\d+\.\d+\.\d+$/.test(version))
    throw new Error(`NEURAL_STYLE_LIBTORCH_VERSION=${version}: expected a version such as ${defaultLibtorchVersion}`);
  const sha256 = env.NEURAL_STYLE_LIBTORCH_SHA256?.toLowerCase() || undefined;
  if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256))
    throw new Error(`NEURAL_STYLE_LIBTORCH_SHA256=${sha256}: expected a SHA-256 of 64 hex digits`);
  const mirror = (env.NEURAL_STYLE_LIBTORCH_MIRROR || defaultLibtorchMirror).replace(/\/+$/, '');
  if (!/^https?:\/\//.test(mirror))
    throw new Error(`NEURAL_STYLE_LIBTORCH_MIRROR=${mirror}: expected an http or https URL`);
  const file = `libtorch-cxx11-abi-shared-with-deps-${version}%2B${variant}.zip`;
  return { variant, version, url: `${mirror}/${variant}/${file}`, sha256 };
}

/** Where a fetched LibTorch is kept: the root LIBTORCH points at (with lib/, include/, share/cmake/). */
export const fetchedLibtorchRoot = (request: LibtorchRequest, home = modelHome()) =>
  join(home, 'libtorch', `${request.version}+${request.variant}`, 'libtorch');

const unpackedMark = '.unpacked';

export interface FetchLibtorchSettings {
  onProgress?: (event: DownloadProgress) => void;
  /** Give up when no data arrives for this long, in milliseconds. Default 60 000. */
  timeoutMs?: number;
}

/**
 * The root of the requested LibTorch in the cache, fetched, checked and unpacked there first
 * unless an earlier call did. A failure at any step leaves nothing behind.
 */
export async function fetchLibtorch(request: LibtorchRequest, settings: FetchLibtorchSettings = {}): Promise<string> {
  const root = fetchedLibtorchRoot(request);
  const folder = join(root, '..');
  if (existsSync(join(folder, unpackedMark))) return root;
  const cache = join(folder, '..');
  try {
    await mkdir(cache, { recursive: true });
    await access(cache, constants.W_OK);
  } catch (error) {
    throw new Error(
      `Cannot write the LibTorch cache folder ${cache} (${(error as NodeJS.ErrnoException).code}): set NEURAL_STYLE_HOME to a folder you can write`,
    );
  }
  const archive = temporaryPathBeside(folder, 'download');
  const unpacking = temporaryPathBeside(folder, 'unpack');
  const retry =
    `set NEURAL_STYLE_LIBTORCH_MIRROR to a server that has it, or LIBTORCH to a LibTorch unpacked ` + `on this machine`;
  try {
    let sha256: string;
    try {
      ({ sha256 } = await downloadToFile(request.url, archive, {
        timeoutMs: settings.timeoutMs ?? 60_000,
        onProgress: settings.onProgress,
      }));
    } catch (error) {
      throw new Error(`${(error as Error).message}. To fetch LibTorch elsewhere, ${retry}`, { cause: error });
    }
    if (request.sha256 !== undefined && sha256 !== request.sha256) {
      throw new Error(
        `The LibTorch archive from ${request.url} has SHA-256 ${sha256}, but NEURAL_STYLE_LIBTORCH_SHA256 is ${request.sha256}`,
      );
    }
    const source = `The LibTorch archive from ${request.url}`;
    await extractZip(archive, unpacking, source);
    if (!existsSync(join(unpacking, 'libtorch', 'share', 'cmake', 'Torch', 'TorchConfig.cmake')))
      throw new Error(`${source} is no LibTorch: it has no libtorch/share/cmake/Torch/TorchConfig.cmake`);
    await writeFile(join(unpacking, unpackedMark), `${request.url}\nSHA-256 ${sha256}\n`);
    await rename(unpacking, folder);
    return root;
  } finally {
    await rm(archive, { force: true });
    await rm(unpacking, { recursive: true, force: true });
  }
}
