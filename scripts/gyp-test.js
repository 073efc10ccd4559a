#!/usr/bin/env node
// Builds the addon with node-gyp from binding.gyp (the build Electron's rebuild tooling runs),
// in a copy of the sources so the cmake-js build is left alone, then runs the jest suite against
// that addon.
'use strict';

const { spawnSync } = require('node:child_process');
const { cpSync, existsSync, mkdirSync, symlinkSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const copy = join(root, 'build-gyp');

function run(command, args, options) {
  process.stderr.write(`gyp-test: ${command} ${args.join(' ')}\n`);
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

mkdirSync(copy, { recursive: true });
for (const entry of ['binding.gyp', 'package.json', 'native', 'cmake', 'scripts']) {
  cpSync(join(root, entry), join(copy, entry), { recursive: true });
}
if (!existsSync(join(copy, 'node_modules'))) symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');

// node-gyp builds against the headers of the Node running it, which ship with it under <prefix>/include/node.
const nodedir = process.env.npm_config_nodedir || join(process.execPath, '..', '..');
run(join(root, 'node_modules', '.bin', 'node-gyp'), ['rebuild', `--nodedir=${nodedir}`, '--jobs=max'], { cwd: copy });

const addon = join(copy, 'build', 'Release', 'neural_style.node');
// Left out, as they test no addon they are given: the packaging test builds its own with cmake-js,
// and the LibTorch search and the CUDA source check, which npm test has run, use the same
// LibTorch and flags here.
// --testPathIgnorePatterns takes every argument after it: the caller's come first.
const buildMachinery = [
  'test/package\\.test\\.ts$',
  'test/libtorch-discovery\\.test\\.ts$',
  'test/cuda-source\\.test\\.ts$',
];
const jestArgs = [
  '--runInBand',
  ...process.argv.slice(2),
  '--testPathIgnorePatterns',
  '/node_modules/',
  ...buildMachinery,
];
run(join(root, 'node_modules', '.bin', 'jest'), jestArgs, {
  cwd: root,
  env: { ...process.env, NEURAL_STYLE_ADDON: addon },
});
