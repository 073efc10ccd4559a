// The engine's CUDA-only code is compiled only against a CUDA LibTorch, which no machine without
// a GPU here has. It is checked here against the headers it needs: the c10/cuda headers that
// LibTorch ships (Debian's CPU-only libtorch-dev included) and the CUDA toolkit's.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { temporaryDir } from './helpers';

const root = join(__dirname, '..');
const source = join(root, 'native', 'engine', 'cuda_memory.cpp');
const flag = (part: string) =>
  spawnSync(process.execPath, [join(root, 'scripts', 'libtorch-flags.js'), part], { encoding: 'utf8' })
    .stdout.split(' ')
    .filter(Boolean);
const torchIncludes = flag('include_dirs');
const torchCflags = flag('cflags');
const cudaInclude = join(process.env.CUDA_HOME ?? '/usr/local/cuda', 'include');
const present =
  existsSync(join(cudaInclude, 'cuda_runtime_api.h')) &&
  torchIncludes.some((dir) => existsSync(join(dir, 'c10', 'cuda', 'CUDACachingAllocator.h')));
if (!present)
  console.warn(
    `Skipping the CUDA source check: no CUDA toolkit headers at ${cudaInclude}, or no c10/cuda headers in this LibTorch`,
  );

/** Compiles `file` as the CUDA build would, without generating code. */
function compileForCuda(file: string) {
  const result = spawnSync(
    'g++',
    [
      ...torchCflags,
      '-fsyntax-only',
      '-Wall',
      '-Werror',
      '-DNEURAL_STYLE_WITH_CUDA',
      // A CPU-only LibTorch lacks the header its CUDA build generates; its macros have defaults.
      '-DC10_USING_CUSTOM_GENERATED_MACROS',
      ...torchIncludes.map((dir) => `-I${dir}`),
      `-I${cudaInclude}`,
      `-I${join(root, 'native', 'engine')}`,
      file,
    ],
    { encoding: 'utf8' },
  );
  return { status: result.status, errors: result.stderr };
}

(present ? describe : describe.skip)('CUDA-only engine code', () => {
  test('compiles against the CUDA caching allocator API', () => {
    const result = compileForCuda(source);
    expect(result.errors).toBe('');
    expect(result.status).toBe(0);
  }, 60_000);

  test('the check catches a call the allocator API does not have', () => {
    const broken = join(temporaryDir(), 'cuda_memory.cpp');
    writeFileSync(
      broken,
      `#include "${source}"\nvoid wrong() { c10::cuda::CUDACachingAllocator::releaseEverything(); }\n`,
    );
    const result = compileForCuda(broken);
    expect(result.status).not.toBe(0);
    expect(result.errors).toMatch(/releaseEverything/);
  }, 60_000);
});
