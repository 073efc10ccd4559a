#!/usr/bin/env node
// Builds the addon against LibTorch 2.x and runs the jest suite on it, on a Debian 12 machine
// whose own LibTorch is 1.13. Debian 13 ("trixie") packages LibTorch 2.6: this fetches it and
// every library it needs from deb.debian.org into build-libtorch2/root, unpacked, not
// installed; builds the addon with cmake-js against it; and runs the suite with a copy of Node
// that uses trixie's C library (which LibTorch 2.6 needs) through its own dynamic loader.
//
//   npm run test:libtorch2 [-- jest arguments]
'use strict';

const { spawnSync } = require('node:child_process');
const { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } = require('node:fs');
const { basename, join } = require('node:path');

const root = join(__dirname, '..');
const work = join(root, 'build-libtorch2');
const system = join(work, 'root');
const libraries = [join(system, 'usr', 'lib', 'x86_64-linux-gnu'), join(system, 'lib', 'x86_64-linux-gnu')];
const mirror = 'http://deb.debian.org/debian';
// The suites that test the build machinery against the system's LibTorch, not the addon. (The
// CUDA source check does run: Torch_DIR points its compiler at LibTorch 2.6's c10/cuda headers.)
const systemOnly = ['test/package\\.test\\.ts$', 'test/libtorch-discovery\\.test\\.ts$'];

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

/** trixie's binary packages for amd64: name -> { Depends, Pre-Depends, Provides, Filename, ... }. */
async function packageIndex() {
  const compressed = join(work, 'Packages.xz');
  await download(`${mirror}/dists/trixie/main/binary-amd64/Packages.xz`, compressed);
  const text = spawnSync('xz', ['-dc', compressed], { maxBuffer: 1 << 30 }).stdout.toString();
  const packages = new Map();
  const providers = new Map();
  for (const stanza of text.split('\n\n')) {
    const fields = Object.fromEntries(stanza.split('\n').filter((line) => /^\S+:/.test(line)).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
    if (!fields.Package) continue;
    packages.set(fields.Package, fields);
    for (const provided of (fields.Provides ?? '').split(',')) {
      const name = provided.trim().split(' ')[0];
      if (name && !providers.has(name)) providers.set(name, fields.Package);
    }
  }
  return { packages, providers };
}

/** `start` and everything it needs to run, by the first choice of each dependency. */
function closure({ packages, providers }, start) {
  const needed = new Set();
  const pending = [start];
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
  const runtime = headers.Depends.split(',').map((item) => item.trim().split(' ')[0]).find((name) => /^libtorch\d/.test(name));
  const wanted = [headers, ...closure(index, runtime)];
  process.stderr.write(`libtorch2-test: fetching LibTorch ${headers.Version}: ${wanted.length} packages\n`);
  const files = wanted.map((fields) => join(work, 'debs', basename(fields.Filename)));
  for (let i = 0; i < wanted.length; i += 8) {
    await Promise.all(wanted.slice(i, i + 8).map((fields, j) => download(`${mirror}/${fields.Filename}`, files[i + j])));
  }
  for (const file of files) {
    if (spawnSync('dpkg-deb', ['-x', file, system]).status !== 0) throw new Error(`dpkg-deb could not unpack ${file}`);
  }
  writeFileSync(stamp, headers.Version);
  return headers.Version;
}

/** A copy of this Node that loads trixie's C library and everything else from the unpacked root. */
function nodeForLibTorch() {
  const bin = join(work, 'bin');
  const node = join(bin, 'node');
  if (existsSync(node)) return bin;
  mkdirSync(bin, { recursive: true });
  copyFileSync(process.execPath, node);
  // DT_RPATH, unlike RUNPATH, also serves the libraries Node's own libraries load.
  run('patchelf', ['--set-interpreter', join(system, 'usr', 'lib64', 'ld-linux-x86-64.so.2'), '--force-rpath', '--set-rpath', libraries.join(':'), node]);
  return bin;
}

async function main() {
  mkdirSync(work, { recursive: true });
  const version = await unpackLibTorch();
  const torchDir = join(libraries[0], 'cmake', 'Torch');
  // Debian keeps its libraries under lib/x86_64-linux-gnu, where TorchConfig's own search does not
  // look: CMAKE_LIBRARY_PATH points it there rather than at the system's LibTorch 1.13. The
  // linker checks the libraries' own dependencies against trixie's, not this system's.
  run(join(root, 'node_modules', '.bin', 'cmake-js'), [
    'compile', '--out', join(work, 'build'),
    `--CDCMAKE_LIBRARY_PATH=${libraries[0]}`,
    `--CDCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath-link,${libraries.join(':')}`,
  ], { cwd: root, env: { ...process.env, Torch_DIR: torchDir } });
  const bin = nodeForLibTorch();
  // Child processes the suite starts with `node` get the same Node.
  if (!existsSync(join(bin, 'node-on-path'))) {
    mkdirSync(join(bin, 'node-on-path'));
    symlinkSync(join(bin, 'node'), join(bin, 'node-on-path', 'node'));
  }
  process.stderr.write(`libtorch2-test: running the suite against LibTorch ${version}\n`);
  // --testPathIgnorePatterns takes every argument after it: the caller's come first.
  run(join(bin, 'node'), [join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--runInBand', ...process.argv.slice(2), '--testPathIgnorePatterns', '/node_modules/', ...systemOnly], {
    cwd: root,
    env: {
      ...process.env,
      PATH: `${join(bin, 'node-on-path')}:${process.env.PATH}`,
      NEURAL_STYLE_ADDON: join(work, 'build', 'Release', 'neural_style.node'),
      Torch_DIR: torchDir,
      // Debian's LibTorch 2.6 links MPI and with it UCX, whose memory hooks crashed Node's
      // compiler now and then (3 short runs in 120 here, none in 210 with them off); the addon
      // never uses MPI.
      UCX_MEM_EVENTS: 'no',
      UCX_MEM_MALLOC_HOOKS: 'no',
    },
  });
}

main().catch((error) => {
  process.stderr.write(`libtorch2-test: ${error.message}\n`);
  process.exit(1);
});
