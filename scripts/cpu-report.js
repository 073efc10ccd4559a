// What a CPU figure depends on, for the benchmarks to print beside their results: the CPU's
// model name, the instruction set oneDNN (LibTorch's convolutions) dispatches to, and the core
// type OpenBLAS (its matrix products, the Gram matrices among them) chose, which for a CPU newer
// than the OpenBLAS release is a fallback or what OPENBLAS_CORETYPE forces.
'use strict';

const { spawnSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const { cpus } = require('node:os');

// Run in a child with ONEDNN_VERBOSE=1: one small evaluation makes oneDNN report its ISA, and
// the process's mappings name the BLAS library LibTorch loaded.
function probe() {
  const { addon, nativeModelOptions } = require('../dist/native');
  const { resolveOptions } = require('../dist/options');
  // Large enough that LibTorch gives the convolution to oneDNN (over 20480 input values).
  const image = { width: 96, height: 96, data: new Float32Array(3 * 96 * 96).fill(0.5) };
  const rgb = { width: 1, height: 1, data: Buffer.alloc(3) };
  const model = nativeModelOptions(
    resolveOptions({
      content: rgb,
      style: rgb,
      model: 'random',
      contentLayers: ['relu1_1'],
      styleLayers: ['relu1_1'],
      threads: 1,
    }),
  );
  return addon()
    .evaluate({ ...model, content: image, styles: [image], image })
    .then(() => {
      const blas = readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .map((line) => line.split(/\s+/)[5])
        .find((path) => /blas/.test(path ?? ''));
      console.log(`blas-library:${blas ?? ''}`);
    });
}

/** { cpu, onednnIsa, openblasCore, line }: line is the three as one printable line. */
function cpuReport() {
  const run = spawnSync(process.execPath, [__filename, '--probe'], {
    encoding: 'utf8',
    env: { ...process.env, ONEDNN_VERBOSE: '1' },
  });
  const output = `${run.stdout}${run.stderr}`;
  const onednnIsa = /onednn_verbose,info,cpu,isa:(.*)/.exec(output)?.[1].trim() ?? 'unknown';
  const blas = /^blas-library:(.*)$/m.exec(output)?.[1];
  let openblasCore = 'unknown (no OpenBLAS loaded)';
  if (blas) {
    const python = spawnSync(
      '/usr/bin/python3',
      [
        '-c',
        'import ctypes, sys; f = ctypes.CDLL(sys.argv[1]).openblas_get_corename; f.restype = ctypes.c_char_p; print(f().decode())',
        blas,
      ],
      { encoding: 'utf8' },
    );
    openblasCore =
      python.status === 0 ? python.stdout.trim() : `unknown (${blas} did not answer openblas_get_corename)`;
  }
  const coreType = process.env.OPENBLAS_CORETYPE
    ? `, forced by OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE}`
    : '';
  const cpu = cpus()[0]?.model ?? 'unknown';
  return {
    cpu,
    onednnIsa,
    openblasCore,
    line: `CPU: ${cpu}, ${cpus().length} logical; oneDNN ISA: ${onednnIsa}; OpenBLAS core: ${openblasCore}${coreType}`,
  };
}

if (process.argv[2] === '--probe') {
  probe().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
} else if (require.main === module) {
  console.log(cpuReport().line);
}

module.exports = { cpuReport };
