// What a CPU figure depends on, for the benchmarks to print beside their results: the CPU's
// model name, the instruction set oneDNN (LibTorch's convolutions) dispatches to, and the core
// type OpenBLAS (its matrix products, the Gram matrices among them) chose, which for a CPU newer
// than the OpenBLAS release is a fallback or what OPENBLAS_CORETYPE forces. `neural-style doctor`
// finds them; this says them in one line.
'use strict';

const { doctor } = require('../dist/doctor');

/** { cpu, onednnIsa, openblasCore, line }: line is the three as one printable line. */
function cpuReport() {
  const { cpu, blas } = doctor();
  const onednnIsa = cpu.onednnIsa ?? 'unknown';
  const openblasCore = blas?.openblasCore ?? 'unknown (no OpenBLAS loaded)';
  const coreType = blas?.forcedCoreType ? `, forced by OPENBLAS_CORETYPE=${blas.forcedCoreType}` : '';
  return {
    cpu: cpu.model,
    onednnIsa,
    openblasCore,
    line: `CPU: ${cpu.model}, ${cpu.logical} logical; oneDNN ISA: ${onednnIsa}; OpenBLAS core: ${openblasCore}${coreType}`,
  };
}

if (require.main === module) console.log(cpuReport().line);

module.exports = { cpuReport };
