// One folder an app can ship (an Electron app with asarUnpack, say): the addon and the LibTorch
// libraries it loads, the addon's run path set to its own folder ($ORIGIN), so the folder runs
// wherever it is moved, on a machine without LibTorch. NEURAL_STYLE_ADDON points the package at it.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { invalid } from './checks';
import { runPath, setRunPath, soname } from './elf';
import { temporaryPathBeside } from './files';
import { addon, addonPath, loadedLibraries } from './native';

export interface BundleOptions {
  /** The folder to write: new, or empty. */
  output: string;
}

export interface Bundle {
  /** The addon in the bundle: what NEURAL_STYLE_ADDON should name. */
  addon: string;
  /** The libraries copied beside it, by the names the addon's libraries record needing. */
  libraries: string[];
}

// The system's own library folders hold far more than LibTorch: from those only LibTorch's own
// libraries are taken, and the rest (BLAS, OpenMP, the C++ runtime) are the system's to provide.
const systemFolders = /^\/(usr\/)?(local\/)?lib(32|64|x32)?(\/|$)/;
const libtorchLibrary = /^lib(torch|c10|shm)[\w-]*\.so/;

/**
 * Writes the addon in use and the LibTorch libraries it loads into `output`: every library it
 * loads from LibTorch's own folder (an unpacked LibTorch, or a Python's torch/lib, holds its
 * OpenMP and such too), or, where LibTorch is the system's, LibTorch's own libraries.
 */
export async function bundle(options: BundleOptions): Promise<Bundle> {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  if (typeof options.output !== 'string' || options.output === '')
    throw invalid('output', 'the path of a folder to write', options.output);
  if (process.platform !== 'linux') throw new Error(`bundle makes Linux bundles; this is ${process.platform}`);
  const output = resolve(options.output);
  if (existsSync(output) && (await readdir(output)).length > 0)
    throw new Error(`output ${output} is not empty: give a new or an empty folder`);
  if (!existsSync(dirname(output))) throw new Error(`output's folder does not exist: ${dirname(output)}`);

  addon();
  const torch = loadedLibraries().find((path) => /\/libtorch_cpu\.so/.test(path));
  if (!torch) throw new Error(`The addon ${addonPath} loaded no libtorch_cpu: it cannot be bundled`);
  const folder = dirname(torch);
  const libraries = loadedLibraries().filter(
    (path) => dirname(path) === folder && (!systemFolders.test(folder) || libtorchLibrary.test(basename(path))),
  );

  const staging = temporaryPathBeside(output, 'bundle');
  try {
    await mkdir(staging);
    const names: string[] = [];
    for (const library of libraries) {
      const data = readFileSync(library);
      const name = soname(data, library) ?? basename(library);
      await writeFile(join(staging, name), data, { mode: 0o755 });
      names.push(name);
    }
    const built = readFileSync(addonPath);
    if (!runPath(built, addonPath)) throw new Error(`The addon ${addonPath} has no run path to point at its bundle`);
    setRunPath(built, '$ORIGIN', addonPath);
    await writeFile(join(staging, 'neural_style.node'), built, { mode: 0o755 });
    await rm(output, { recursive: true, force: true });
    await rename(staging, output);
    return { addon: join(output, 'neural_style.node'), libraries: names.sort() };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
