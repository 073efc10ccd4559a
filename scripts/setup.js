#!/usr/bin/env node
// Brings a checkout to a runnable state: system packages, npm dependencies, the native addon and
// the TypeScript build. Each step is skipped when its output is newer than its inputs, so a
// second run with nothing changed takes seconds. Uses nothing outside Node itself.
'use strict';

const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync, statSync, utimesSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
// A git checkout has the tests; the package installed from npm has neither them nor a lock file.
const checkout = existsSync(join(root, 'test'));
const systemPackages = [
  'cmake',
  'g++',
  'libtorch-dev',
  // Debian's default reference BLAS makes Gram matrices about ten times slower.
  'libopenblas0-pthread',
  // For the tests' reference implementation and fixtures.
  ...(checkout ? ['python3-torch', 'python3-torchvision'] : []),
  // For running a copy of Node against another Debian release's LibTorch (npm run test:libtorch2).
  ...(checkout ? ['patchelf', 'xz-utils'] : []),
  // For npm run lint, which npm test runs: the C++ formatter.
  ...(checkout ? ['clang-format'] : []),
];

function log(message) {
  process.stderr.write(`setup: ${message}\n`);
}

function run(command, args, options = {}) {
  log(`${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], ...options });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed with exit code ${result.status ?? result.signal}`);
  }
}

function succeeds(command, args) {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

function missingSystemPackages() {
  return systemPackages.filter((name) => {
    const status = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
    return !(status.status === 0 && status.stdout.includes('install ok installed'));
  });
}

function installSystemPackages() {
  if (!succeeds('dpkg-query', ['--version'])) {
    log('not a Debian/Ubuntu system: install LibTorch yourself and set LIBTORCH (see docs/building.md)');
    return;
  }
  const missing = missingSystemPackages();
  if (missing.length === 0) return;
  const aptLine = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = ['install', '-y', '--no-install-recommends', ...missing];
  if (process.getuid && process.getuid() === 0) {
    run('apt-get', ['update'], { env });
    run('apt-get', install, { env });
  } else if (succeeds('sudo', ['-n', 'true'])) {
    run('sudo', ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'update']);
    run('sudo', ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...install]);
  } else {
    throw new Error(`missing system packages ${missing.join(', ')}. Install them with:\n  sudo sh -c '${aptLine}'`);
  }
}

/** Newest modification time among `paths` (files, or folders searched recursively). */
function newest(paths) {
  let latest = 0;
  for (const path of paths) {
    if (!existsSync(path)) continue;
    const stat = statSync(path);
    if (stat.isDirectory()) {
      latest = Math.max(latest, newest(readdirSync(path).map((entry) => join(path, entry))));
    } else {
      latest = Math.max(latest, stat.mtimeMs);
    }
  }
  return latest;
}

function outdated(output, inputs) {
  return !existsSync(output) || statSync(output).mtimeMs < newest(inputs.map((input) => join(root, input)));
}

function main() {
  installSystemPackages();

  const npmStamp = join(root, 'node_modules', '.package-lock.json');
  if (outdated(npmStamp, ['package.json', 'package-lock.json'])) {
    run('npm', checkout ? ['ci', '--no-audit', '--no-fund'] : ['install', '--omit=dev', '--no-audit', '--no-fund']);
  }

  const addon = join(root, 'build', 'Release', 'neural_style.node');
  if (outdated(addon, ['native', 'cmake', 'CMakeLists.txt', 'package.json'])) {
    run(join(root, 'node_modules', '.bin', 'cmake-js'), ['compile', '--out', 'build']);
    // The linker leaves the file alone when nothing changed; mark it current all the same.
    const now = new Date();
    utimesSync(addon, now, now);
  }

  const compiled = join(root, 'dist', 'index.js');
  if (outdated(compiled, ['lib', 'tsconfig.json'])) {
    run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json']);
  }
  log('ready');
}

try {
  main();
} catch (error) {
  log(error.message);
  process.exitCode = 1;
}
