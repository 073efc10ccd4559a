#!/usr/bin/env node
// Builds the addon against a later Debian release's LibTorch and runs the jest suite on it, on a
// Debian 12 machine whose own LibTorch is 1.13. Debian 13 ("trixie") packages LibTorch 2.6 and
// unstable ("sid") the newest Debian has: this fetches the suite's libtorch-dev and every library
// it needs from deb.debian.org into build-libtorch2/SUITE/root, unpacked, not installed; builds
// the addon with cmake-js against it; and runs the suite with a copy of Node that uses that
// release's C library (which its LibTorch needs) through its own dynamic loader.
//
//   node scripts/libtorch2-test.js trixie|sid [jest arguments]
'use strict';

const { spawnSync } = require('node:child_process');
const {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} = require('node:fs');
const { basename, join } = require('node:path');

const suites = ['trixie', 'sid'];
const suite = process.argv[2];
if (!suites.includes(suite)) {
  process.stderr.write(`libtorch2-test: expected a Debian suite, one of ${suites.join(', ')}, but received ${suite}\n`);
  process.exit(2);
}
const root = join(__dirname, '..');
const work = join(root, 'build-libtorch2', suite);
const system = join(work, 'root');
// Where the suite's packages put libraries, gloo's in usr/lib among them. Debian's alternatives
// choose which libblas.so.3 a system loads, and unpacking sets none up: OpenBLAS's folder comes
// first, as on a machine set up by npm run setup.
const multiarch = join(system, 'usr', 'lib', 'x86_64-linux-gnu');
const libraries = [
  join(multiarch, 'openblas-pthread'),
  multiarch,
  join(system, 'lib', 'x86_64-linux-gnu'),
  join(system, 'usr', 'lib'),
];
const mirror = 'http://deb.debian.org/debian';
const sharedLibraryName = /\.so(\.|$)/;
// The suites that test the build machinery against the system's LibTorch, not the addon. (The
// CUDA source check does run: Torch_DIR points its compiler at that LibTorch's c10/cuda headers.)
// The bundle test hides the system's LibTorch folder, and this one's folder holds its C library too.
const systemOnly = ['test/package\\.test\\.ts$', 'test/libtorch-discovery\\.test\\.ts$', 'test/bundle\\.test\\.ts$'];

function run(command, args, options = {}) {
  process.stderr.write(`libtorch2-test: ${command} ${args.join(' ')}\n`);
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

async function download(url, path) {
  if (existsSync(path)) return;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  // Whole or not at all: a file that exists is taken as downloaded on the next run.
  writeFileSync(`${path}.partial`, Buffer.from(await response.arrayBuffer()));
  renameSync(`${path}.partial`, path);
}

/** The suite's binary packages for amd64: name -> { Depends, Pre-Depends, Provides, Filename, ... }. */
async function packageIndex() {
  const compressed = join(work, 'Packages.xz');
  await download(`${mirror}/dists/${suite}/main/binary-amd64/Packages.xz`, compressed);
  const text = spawnSync('xz', ['-dc', compressed], { maxBuffer: 1 << 30 }).stdout.toString();
  const packages = new Map();
  const providers = new Map();
  for (const stanza of text.split('\n\n')) {
    const fields = Object.fromEntries(
      stanza
        .split('\n')
        .filter((line) => /^\S+:/.test(line))
        .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
    );
    if (!fields.Package) continue;
    packages.set(fields.Package, fields);
    for (const provided of (fields.Provides ?? '').split(',')) {
      const name = provided.trim().split(' ')[0];
      if (name && !providers.has(name)) providers.set(name, fields.Package);
    }
  }
  return { packages, providers };
}

/** The packages named and everything they need to run, by the first choice of each dependency. */
function closure({ packages, providers }, names) {
  const needed = new Set();
  const pending = [...names];
  while (pending.length > 0) {
    let name = pending.pop();
    if (!packages.has(name)) name = providers.get(name);
    if (!name || needed.has(name)) continue;
    needed.add(name);
    const fields = packages.get(name);
    for (const dependency of `${fields.Depends ?? ''},${fields['Pre-Depends'] ?? ''}`.split(',')) {
      const first = dependency.split('|')[0].trim().split(/[ (:]/)[0];
      if (first) pending.push(first);
    }
  }
  return [...needed].map((name) => packages.get(name));
}

async function unpackLibTorch() {
  const stamp = join(work, 'unpacked');
  if (existsSync(stamp)) return readFileSync(stamp, 'utf8');
  mkdirSync(join(work, 'debs'), { recursive: true });
  const index = await packageIndex();
  const headers = index.packages.get('libtorch-dev');
  // libtorch-dev's headers and CMake files, without the Python it also depends on; the
  // libraries, with all they need at run time, the C library included.
  const runtime = headers.Depends.split(',')
    .map((item) => item.trim().split(' ')[0])
    .find((name) => /^libtorch\d/.test(name));
  const wanted = [headers, ...closure(index, [runtime, 'libopenblas0-pthread'])];
  process.stderr.write(`libtorch2-test: fetching LibTorch ${headers.Version}: ${wanted.length} packages\n`);
  const files = wanted.map((fields) => join(work, 'debs', basename(fields.Filename)));
  for (let i = 0; i < wanted.length; i += 8) {
    await Promise.all(
      wanted.slice(i, i + 8).map((fields, j) => download(`${mirror}/${fields.Filename}`, files[i + j])),
    );
  }
  for (const file of files) {
    if (spawnSync('dpkg-deb', ['-x', file, system]).status !== 0) throw new Error(`dpkg-deb could not unpack ${file}`);
  }
  // A library with a RUNPATH of its own (OpenBLAS's is $ORIGIN) has its dependencies looked up
  // there and then in this system's ld.so.cache, never in Node's RPATH: without one, Node's serves.
  for (const folder of libraries.filter(existsSync)) {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const library = join(folder, entry.name);
      if (!entry.isFile() || !sharedLibraryName.test(entry.name)) continue;
      if (spawnSync('patchelf', ['--print-rpath', library], { encoding: 'utf8' }).stdout.trim())
        run('patchelf', ['--remove-rpath', library]);
    }
  }
  writeFileSync(stamp, headers.Version);
  return headers.Version;
}

/** A copy of this Node that loads the suite's C library and everything else from the unpacked root. */
function nodeForLibTorch() {
  const bin = join(work, 'bin');
  const node = join(bin, 'node');
  if (existsSync(node)) return bin;
  mkdirSync(bin, { recursive: true });
  copyFileSync(process.execPath, node);
  // DT_RPATH, unlike RUNPATH, also serves the libraries Node's own libraries load.
  run('patchelf', [
    '--set-interpreter',
    join(system, 'usr', 'lib64', 'ld-linux-x86-64.so.2'),
    '--force-rpath',
    '--set-rpath',
    libraries.join(':'),
    node,
  ]);
  return bin;
}

async function main() {
  mkdirSync(work, { recursive: true });
  const version = await unpackLibTorch();
  const torchDir = join(multiarch, 'cmake', 'Torch');
  // Debian keeps its libraries under lib/x86_64-linux-gnu, where TorchConfig's own search does not
  // look: CMAKE_LIBRARY_PATH points it there rather than at the system's LibTorch 1.13. The
  // linker checks the libraries' own dependencies against the suite's, not this system's.
  run(
    join(root, 'node_modules', '.bin', 'cmake-js'),
    [
      'compile',
      '--out',
      join(work, 'build'),
      `--CDCMAKE_LIBRARY_PATH=${multiarch}`,
      `--CDCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath-link,${libraries.join(':')}`,
    ],
    { cwd: root, env: { ...process.env, Torch_DIR: torchDir } },
  );
  const bin = nodeForLibTorch();
  // Child processes the suite starts with `node` get the same Node.
  if (!existsSync(join(bin, 'node-on-path'))) {
    mkdirSync(join(bin, 'node-on-path'));
    symlinkSync(join(bin, 'node'), join(bin, 'node-on-path', 'node'));
  }
  const addon = join(work, 'build', 'Release', 'neural_style.node');
  const env = {
    ...process.env,
    PATH: `${join(bin, 'node-on-path')}:${process.env.PATH}`,
    NEURAL_STYLE_ADDON: addon,
    Torch_DIR: torchDir,
    // Debian's LibTorch 2.x links MPI and with it UCX, whose memory hooks crashed Node's
    // compiler now and then (3 short runs in 120 here, none in 210 with them off); the addon
    // never uses MPI.
    UCX_MEM_EVENTS: 'no',
    UCX_MEM_MALLOC_HOOKS: 'no',
  };
  checkLibrariesFromSuite(join(bin, 'node'), addon, env);
  process.stderr.write(`libtorch2-test: running the suite against LibTorch ${version}\n`);
  // --testPathIgnorePatterns takes every argument after it: the caller's come first.
  run(
    join(bin, 'node'),
    [
      join(root, 'node_modules', 'jest', 'bin', 'jest.js'),
      '--runInBand',
      ...process.argv.slice(3),
      '--testPathIgnorePatterns',
      '/node_modules/',
      ...systemOnly,
    ],
    { cwd: root, env },
  );
}

/**
 * Loads the addon and fails unless every shared library in the process came from the suite: one
 * taken from this system instead would make the run test a mix of two releases.
 */
function checkLibrariesFromSuite(node, addon, env) {
  const listMaps = `require(${JSON.stringify(addon)}); process.stdout.write(require('node:fs').readFileSync('/proc/self/maps', 'utf8'))`;
  const result = spawnSync(node, ['-e', listMaps], { env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`the addon did not load: ${result.stderr.trim()}`);
  const loaded = new Set(
    result.stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/)[5])
      .filter((path) => sharedLibraryName.test(path ?? '')),
  );
  const foreign = [...loaded].filter((path) => !path.startsWith(`${system}/`));
  if (foreign.length > 0) throw new Error(`libraries loaded from outside ${system}: ${foreign.join(', ')}`);
  process.stderr.write(`libtorch2-test: all ${loaded.size} libraries loaded come from ${suite}\n`);
}

main().catch((error) => {
  process.stderr.write(`libtorch2-test: ${error.message}\n`);
  process.exit(1);
});
