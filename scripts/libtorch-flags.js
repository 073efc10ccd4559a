#!/usr/bin/env node
// Prints one part of the LibTorch build settings for binding.gyp, space-separated:
//   include_dirs | cflags | libraries | ldflags
// found by cmake/libtorch.cmake, the search the cmake-js build uses, so both builds agree.
'use strict';

const { spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const probeBuild = mkdtempSync(join(tmpdir(), 'libtorch-probe-'));
const configure = spawnSync('cmake', ['-S', join(__dirname, 'libtorch-probe'), '-B', probeBuild], { encoding: 'utf8' });
const settings = configure.status === 0 ? JSON.parse(readFileSync(join(probeBuild, 'libtorch.json'), 'utf8')) : null;
rmSync(probeBuild, { recursive: true, force: true });
if (!settings) {
  process.stderr.write(configure.stdout + configure.stderr);
  process.exit(1);
}

const parts = {
  include_dirs: settings.include_dirs,
  // The C++ standard LibTorch's headers need, its C++ ABI flag, and whether it has CUDA.
  cflags: [
    `-std=c++${settings.cxx_standard}`,
    ...settings.cxx_flags.split(/\s+/).filter(Boolean),
    ...(settings.cuda ? ['-DNEURAL_STYLE_WITH_CUDA'] : []),
  ],
  libraries: settings.libraries,
  // Load LibTorch from where it was found; keep CUDA libraries that nothing references directly.
  ldflags: [`-Wl,-rpath,${settings.lib_dir}`, ...(settings.cuda ? ['-Wl,--no-as-needed'] : [])],
};
const part = process.argv[2];
if (!(part in parts)) {
  process.stderr.write(`usage: libtorch-flags.js ${Object.keys(parts).join('|')}\n`);
  process.exit(2);
}
process.stdout.write(parts[part].join(' '));
