// The LibTorch search both builds share (cmake/libtorch.cmake), seen through the probe that
// binding.gyp asks: which installation wins, and what it makes the addon link with.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { temporaryDir } from './helpers';

const flagsScript = join(__dirname, '..', 'scripts', 'libtorch-flags.js');

/** A LibTorch-shaped folder whose TorchConfig.cmake only describes itself. */
function fakeLibTorch(name: string, { withCuda = false, version = '' } = {}): string {
  const root = join(temporaryDir(), name);
  const configDir = join(root, 'share', 'cmake', 'Torch');
  mkdirSync(configDir, { recursive: true });
  const libraries = withCuda ? ['torch', 'torch_cuda'] : ['torch'];
  writeFileSync(
    join(configDir, 'TorchConfig.cmake'),
    [
      `set(TORCH_INCLUDE_DIRS ${root}/include)`,
      `set(TORCH_CXX_FLAGS "-DFAKE_TORCH=${name}")`,
      `set(TORCH_LIBRARIES ${libraries.join(' ')})`,
      // What FindCUDAToolkit leaves behind when TorchConfig asks for it.
      ...(withCuda ? [`set(CUDAToolkit_INCLUDE_DIRS ${root}/cuda/include)`] : []),
      ...libraries.flatMap((library) => [
        `add_library(${library} SHARED IMPORTED)`,
        `set_target_properties(${library} PROPERTIES IMPORTED_LOCATION ${root}/lib/lib${library}.so)`,
      ]),
    ].join('\n'),
  );
  if (version) writeFileSync(join(configDir, 'TorchConfigVersion.cmake'), `set(PACKAGE_VERSION ${version})\n`);
  return root;
}

/** A stand-in for a Python with torch: prints `prefix` as torch.utils.cmake_prefix_path. */
function fakePython(prefix: string): string {
  const path = join(temporaryDir(), 'python3');
  writeFileSync(path, `#!/bin/sh\necho ${prefix}\n`);
  chmodSync(path, 0o755);
  return path;
}

function probe(part: string, env: Record<string, string | undefined>) {
  const clean = { ...process.env };
  for (const name of ['LIBTORCH', 'Torch_DIR', 'PYTHON']) delete clean[name];
  const result = spawnSync(process.execPath, [flagsScript, part], { encoding: 'utf8', env: { ...clean, ...env } });
  return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr };
}

test('LIBTORCH comes first, before Torch_DIR and a Python with torch', () => {
  const chosen = fakeLibTorch('chosen');
  const other = fakeLibTorch('other');
  const result = probe('cflags', { LIBTORCH: chosen, PYTHON: fakePython(join(other, 'share', 'cmake')) });
  expect(result.stdout).toBe('-std=c++17 -DFAKE_TORCH=chosen');
});

test('Torch_DIR is honoured like LIBTORCH', () => {
  const chosen = fakeLibTorch('chosen');
  expect(probe('cflags', { Torch_DIR: join(chosen, 'share', 'cmake', 'Torch') }).stdout).toBe(
    '-std=c++17 -DFAKE_TORCH=chosen',
  );
});

test("Torch_DIR's own Caffe2 part is used, not the system's, as TorchConfig's search would", () => {
  const chosen = fakeLibTorch('chosen');
  const cmake = join(chosen, 'share', 'cmake');
  mkdirSync(join(cmake, 'Caffe2'));
  writeFileSync(join(cmake, 'Caffe2', 'Caffe2Config.cmake'), 'set(FAKE_CAFFE2 chosen)\n');
  // As the real TorchConfig does: PATHS come after CMake's default prefixes, where libtorch-dev's is.
  const config = join(cmake, 'Torch', 'TorchConfig.cmake');
  const described = readFileSync(config, 'utf8').replace(
    /set\(TORCH_CXX_FLAGS .*\)/,
    'set(TORCH_CXX_FLAGS "-DCAFFE2=${FAKE_CAFFE2}")',
  );
  writeFileSync(config, `find_package(Caffe2 REQUIRED PATHS \${CMAKE_CURRENT_LIST_DIR}/../Caffe2)\n${described}`);
  expect(probe('cflags', { Torch_DIR: join(cmake, 'Torch') }).stdout).toBe('-std=c++17 -DCAFFE2=chosen');
});

test('a Python that can import torch comes next, through torch.utils.cmake_prefix_path', () => {
  const fromPython = fakeLibTorch('python');
  const result = probe('include_dirs', { PYTHON: fakePython(join(fromPython, 'share', 'cmake')) });
  expect(result.stdout).toBe(join(fromPython, 'include'));
});

test("then the system's libtorch-dev, with its own C++ ABI flag and an rpath to its libraries", () => {
  const python = fakePython('/nonexistent');
  expect(probe('cflags', { PYTHON: python }).stdout).toMatch(/^-std=c\+\+17 -D_GLIBCXX_USE_CXX11_ABI=[01]$/);
  expect(probe('libraries', { PYTHON: python }).stdout).toMatch(/libtorch\.so.*libtorch_cpu\.so.*libc10\.so/);
  expect(probe('ldflags', { PYTHON: python }).stdout).toMatch(/^-Wl,-rpath,\/\S+$/);
});

test('a CUDA LibTorch is linked with --no-as-needed so its kernels stay loaded', () => {
  const cuda = fakeLibTorch('cuda', { withCuda: true });
  expect(probe('libraries', { LIBTORCH: cuda }).stdout).toBe(`${cuda}/lib/libtorch.so ${cuda}/lib/libtorch_cuda.so`);
  expect(probe('ldflags', { LIBTORCH: cuda }).stdout).toBe(`-Wl,-rpath,${cuda}/lib -Wl,--no-as-needed`);
});

test("a CUDA LibTorch compiles the engine's CUDA code, with the CUDA toolkit's headers", () => {
  const cuda = fakeLibTorch('cuda', { withCuda: true });
  expect(probe('cflags', { LIBTORCH: cuda }).stdout).toBe('-std=c++17 -DFAKE_TORCH=cuda -DNEURAL_STYLE_WITH_CUDA');
  expect(probe('include_dirs', { LIBTORCH: cuda }).stdout).toBe(`${cuda}/include ${cuda}/cuda/include`);
  const cpu = fakeLibTorch('cpu');
  expect(probe('include_dirs', { LIBTORCH: cpu }).stdout).toBe(`${cpu}/include`);
});

test('LibTorch 2.12 and later, whose headers need C++20, are compiled as C++20', () => {
  const cflags = (version: string) => probe('cflags', { LIBTORCH: fakeLibTorch(version, { version }) }).stdout;
  expect(cflags('2.11.0')).toBe('-std=c++17 -DFAKE_TORCH=2.11.0');
  expect(cflags('2.12.0')).toBe('-std=c++20 -DFAKE_TORCH=2.12.0');
  expect(cflags('3.0.1')).toBe('-std=c++20 -DFAKE_TORCH=3.0.1');
});

test('a LIBTORCH that is not a LibTorch is a clear error', () => {
  const result = probe('cflags', { LIBTORCH: temporaryDir() });
  expect(result.status).not.toBe(0);
  // CMake wraps long messages: compare with the line breaks undone.
  expect(result.stderr.replace(/\s+/g, ' ')).toMatch(
    /LIBTORCH=\S+ is not an unpacked LibTorch: it has no share\/cmake\/Torch\/TorchConfig\.cmake/,
  );
});
