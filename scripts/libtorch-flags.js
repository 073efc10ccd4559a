#!/usr/bin/env node
// Prints one part of the LibTorch build settings for binding.gyp, space-separated:
//   include_dirs | cflags | libraries | ldflags
// found by cmake/libtorch.cmake, the search the cmake-js build uses, so both builds agree. The
// install script asks it too (probeLibtorch) whether the machine has a LibTorch.
'use strict';

const { spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

/**
 * The LibTorch the build would use, as cmake/libtorch.cmake finds it with `env`, or null with
 * CMake's reason (`{ settings, reason }`).
 */
function probeLibtorch(env = process.env) {
  const probeBuild = mkdtempSync(join(tmpdir(), 'libtorch-probe-'));
  try {
    const configure = spawnSync('cmake', ['-S', join(__dirname, 'libtorch-probe'), '-B', probeBuild], {
      encoding: 'utf8',
      env,
    });
    if (configure.status !== 0) return { settings: null, reason: (configure.stdout ?? '') + (configure.stderr ?? '') };
    return { settings: JSON.parse(readFileSync(join(probeBuild, 'libtorch.json'), 'utf8')) };
  } finally {
    rmSync(probeBuild, { recursive: true, force: true });
  }
}

function printFlags(part) {
  const { settings, reason } = probeLibtorch();
  if (!settings) {
    process.stderr.write(reason);
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
  if (!(part in parts)) {
    process.stderr.write(`usage: libtorch-flags.js ${Object.keys(parts).join('|')}\n`);
    process.exit(2);
  }
  process.stdout.write(parts[part].join(' '));
}

module.exports = { probeLibtorch };
if (require.main === module) printFlags(process.argv[2]);
