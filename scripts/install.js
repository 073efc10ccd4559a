#!/usr/bin/env node
// The package's install script, which npm 11 runs once the app approves it
// (`npm install-scripts approve neural-style`, then `npm rebuild neural-style`), and what
// `npx neural-style setup` runs where no install scripts run. It builds the addon against the
// LibTorch it finds (cmake/libtorch.cmake: LIBTORCH or Torch_DIR, a Python with torch, the
// system's) or, where the machine has none or NEURAL_STYLE_LIBTORCH asks for one, against the
// official LibTorch archive, fetched into the cache folder (lib/libtorch.ts). It builds with the
// tools the package depends on (cmake-js, node-addon-api) from the app's own node_modules: no
// root, no apt, no nested npm install. What it needs from the system and lacks (cmake, a C++
// compiler) it names, with the command that installs it. Each addon it builds is kept in the
// cache folder too, so that after an app's `npm ci` deletes it, the next install copies it back.
// In a checkout of the repository `npm run setup` builds instead, so this does nothing there.
'use strict';

const { spawnSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } = require('node:fs');
const { join, relative } = require('node:path');

const { probeLibtorch } = require('./libtorch-flags');

const root = join(__dirname, '..');
const addonPath = join(root, 'build', 'Release', 'neural_style.node');
function log(message) {
  process.stderr.write(`neural-style: ${message}\n`);
}

const works = (command, args) => spawnSync(command, args, { stdio: 'ignore' }).status === 0;

/** The system tools the build needs that are missing, each with how to install it. */
function missingTools() {
  const missing = [];
  if (!works('cmake', ['--version']))
    missing.push(['cmake', 'sudo apt-get install cmake (or pip install --user cmake)']);
  if (!works('c++', ['--version']) && !works('g++', ['--version']))
    missing.push(['a C++ compiler', 'sudo apt-get install g++']);
  return missing;
}

const hasGpu = () => {
  const list = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' });
  return list.status === 0 && /^GPU \d/m.test(list.stdout);
};

/**
 * The environment the build finds LibTorch with (LIBTORCH set to a fetched one where needed), and
 * the LibTorch the build will use there.
 */
async function libtorchEnvironment() {
  const env = { ...process.env };
  if (!env.NEURAL_STYLE_LIBTORCH) {
    const found = probeLibtorch(env);
    if (found.settings || env.LIBTORCH || env.Torch_DIR) return { env, ...found };
    log(
      'this machine has no LibTorch (LIBTORCH, Torch_DIR, a Python with torch, libtorch-dev): fetching the official one',
    );
  }
  const { libtorchRequest, fetchLibtorch } = require('../dist/libtorch.js');
  const { DownloadLine } = require('../dist/progress-line.js');
  const request = libtorchRequest(env, hasGpu);
  log(`LibTorch ${request.version}+${request.variant} from ${request.url}`);
  const line = new DownloadLine(process.stderr);
  try {
    env.LIBTORCH = await fetchLibtorch(request, { onProgress: (event) => line.update(event) });
  } finally {
    line.finish();
  }
  log(`LibTorch unpacked in ${env.LIBTORCH}`);
  return { env, ...probeLibtorch(env) };
}

/** Every file under `folder`, sorted, for the build's key. */
const filesUnder = (folder) =>
  readdirSync(folder, { recursive: true })
    .map((name) => join(folder, name))
    .filter((path) => statSync(path).isFile())
    .sort();

/**
 * Where the addon built from these sources against this LibTorch is kept: a folder named by the
 * hash of the sources, the LibTorch found and the platform.
 */
function cachedAddonPath(libtorch) {
  const { modelHome } = require('../dist/options.js');
  const hash = createHash('sha256');
  for (const file of [
    ...filesUnder(join(root, 'native')),
    ...filesUnder(join(root, 'cmake')),
    join(root, 'CMakeLists.txt'),
  ])
    hash.update(relative(root, file)).update(readFileSync(file));
  const torch = join(
    libtorch.lib_dir,
    readdirSync(libtorch.lib_dir).find((name) => name.startsWith('libtorch_cpu.')) ?? '',
  );
  const { size, mtimeMs } = existsSync(torch) ? statSync(torch) : { size: 0, mtimeMs: 0 };
  hash.update(JSON.stringify([libtorch.version, libtorch.lib_dir, size, mtimeMs, process.platform, process.arch]));
  return join(modelHome(), 'addon', hash.digest('hex').slice(0, 16), 'neural_style.node');
}

/** Copies `from` to `to` through a temporary name, so that `to` is whole or absent. */
function copyWhole(from, to) {
  const temporary = `${to}.${process.pid}.tmp`;
  copyFileSync(from, temporary);
  renameSync(temporary, to);
}

async function build() {
  const missing = missingTools();
  if (missing.length > 0) {
    for (const [tool, install] of missing) log(`the build needs ${tool}: ${install}`);
    throw new Error(`cannot build the addon without ${missing.map(([tool]) => tool).join(' and ')}`);
  }
  const { env, settings: libtorch, reason } = await libtorchEnvironment();
  // CMake says itself what to install when it finds no LibTorch (cmake/libtorch.cmake).
  if (!libtorch) throw new Error(`no LibTorch to build against:\n${reason}`);
  const cached = cachedAddonPath(libtorch);
  mkdirSync(join(root, 'build', 'Release'), { recursive: true });
  if (existsSync(cached)) {
    copyWhole(cached, addonPath);
    log(`reused the addon built before for LibTorch ${libtorch.version} (${libtorch.lib_dir}): ${cached}`);
    return;
  }
  // Resolved from the package, so an app's hoisted copy serves.
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  const result = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], {
    cwd: root,
    stdio: 'inherit',
    env,
  });
  if (result.status !== 0) throw new Error(`building the addon failed (exit code ${result.status ?? result.signal})`);
  log(`built ${addonPath} against LibTorch ${libtorch.version} (${libtorch.lib_dir})`);
  try {
    mkdirSync(join(cached, '..'), { recursive: true });
    copyWhole(addonPath, cached);
  } catch (error) {
    log(`could not keep a copy of the addon in ${cached}: ${error.message}`);
  }
}

async function main() {
  if (existsSync(join(root, 'test')) && process.argv[2] !== '--force') {
    log('a checkout of the repository: npm run setup builds the addon here');
    return;
  }
  await build();
}

main().catch((error) => {
  log(error.message);
  process.exitCode = 1;
});
