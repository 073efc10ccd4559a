#!/usr/bin/env node
// The package's install script, which npm 11 runs once the app approves it
// (`npm install-scripts approve neural-style`, then `npm rebuild neural-style`), and what
// `npx neural-style setup` runs where no install scripts run. It builds the addon against the
// LibTorch it finds (cmake/libtorch.cmake: LIBTORCH or Torch_DIR, a Python with torch, the
// system's), with the build tools the package depends on (cmake-js, node-addon-api) from the
// app's own node_modules: no root, no apt, no nested npm install. What it needs from the system
// and lacks (cmake, a C++ compiler, LibTorch) it names, with the command that installs it.
// In a checkout of the repository `npm run setup` builds instead, so this does nothing there.
'use strict';

const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');

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

function build() {
  const missing = missingTools();
  if (missing.length > 0) {
    for (const [tool, install] of missing) log(`the build needs ${tool}: ${install}`);
    throw new Error(`cannot build the addon without ${missing.map(([tool]) => tool).join(' and ')}`);
  }
  // Resolved from the package, so an app's hoisted copy serves.
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  // CMake says itself what to install when it finds no LibTorch (cmake/libtorch.cmake).
  const result = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`building the addon failed (exit code ${result.status ?? result.signal})`);
  log(`built ${join(root, 'build', 'Release', 'neural_style.node')}`);
}

function main() {
  if (existsSync(join(root, 'test')) && process.argv[2] !== '--force') {
    log('a checkout of the repository: npm run setup builds the addon here');
    return;
  }
  build();
}

try {
  main();
} catch (error) {
  log(error.message);
  process.exitCode = 1;
}
