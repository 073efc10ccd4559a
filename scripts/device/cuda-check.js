#!/usr/bin/env node
// Checks the addon on a CUDA device against the CPU, through the addon alone (no sharp, so only
// Node, dist/ and the built addon need to be on the GPU machine). Run by cuda-check.sh there;
// `--device cpu` runs the same checks on a machine without a GPU.
//
//   node scripts/device/cuda-check.js [--device cuda] [--size 512] [--iterations 20]
// Prints one JSON object per check and a summary table; exits 1 when a check fails.
'use strict';

const { cpus } = require('node:os');
const { parseArgs } = require('node:util');

const { addon, nativeStylizeOptions } = require('../../dist/native');
const { resolveOptions } = require('../../dist/options');

const { values: flags } = parseArgs({
  options: {
    device: { type: 'string', default: 'cuda' },
    size: { type: 'string', default: '512' },
    iterations: { type: 'string', default: '20' },
  },
});
const { device } = flags;
const size = Number(flags.size);
const timedIterations = Number(flags.iterations);

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const relative = (a, b) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

// Smooth waves with a little seeded noise, so that the VGG terms, not TV, dominate the loss.
function waves(width, height, seed) {
  const data = Buffer.alloc(width * height * 3);
  let state = seed;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        const wave = 50 * Math.sin((x * (seed + 2)) / 17 + c) + 50 * Math.cos((y * (seed + 3)) / 23 - c);
        data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(128 + wave + (state >>> 28))));
      }
    }
  }
  return { width, height, data };
}

// The addon's options for a 4:3 run `width` pixels wide, or on the images given; the rest as given.
function options({ width = 96, content, styles, availableMemory = 0, ...overrides }) {
  const height = Math.round((width * 3) / 4);
  const images = { content: content ?? waves(width, height, 1), styles: styles ?? [waves(width, height, 2)] };
  const resolved = resolveOptions({ content: images.content, style: images.styles, model: 'random', ...overrides });
  return nativeStylizeOptions(resolved, images, availableMemory);
}

// Runs the addon, collecting every progress event; resolves with the result or the error.
async function run(overrides, onEvent) {
  const events = [];
  const job = addon().stylize(options(overrides), (event) => {
    events.push(event);
    onEvent?.(event, job);
  });
  try {
    return { result: await job.promise, events };
  } catch (error) {
    return { error, events };
  }
}

const checks = [];
function record(name, passed, details) {
  checks.push({ name, passed });
  console.log(JSON.stringify({ check: name, passed, ...details }));
}

async function main() {
  const info = addon().runtimeInfo();
  const usesCuda = device.startsWith('cuda');
  record('runtime', !usesCuda || info.cudaDevices > 0, { ...info, cpuCores: cpus().length });
  if (usesCuda && info.cudaDevices === 0) throw new Error('CUDA is not available to this addon build');

  const auto = await run({ device: 'auto', iterations: 1, init: 'image' });
  record('auto picks the GPU when there is one', auto.result?.device === (usesCuda ? 'cuda:0' : 'cpu'), {
    device: auto.result?.device,
    error: auto.error?.message,
  });

  const missing = await run({ device: `cuda:${info.cudaDevices}`, iterations: 1 });
  record('a device index past the last one is refused', missing.error?.code === 'NEURAL_STYLE_DEVICE_UNAVAILABLE', {
    error: missing.error?.message,
  });

  // The same 10 L-BFGS iterations on both devices, without TV so that only the network's terms
  // count. cuDNN may use TF32 for convolutions, so the GPU's losses differ in the third or fourth
  // digit, and the difference grows along the path.
  const onCpu = await run({ device: 'cpu', iterations: 10, init: 'image', tvWeight: 0 });
  const onDevice = await run({ device, iterations: 10, init: 'image', tvWeight: 0 });
  const firstLoss = relative(onDevice.events[0].loss, onCpu.events[0].loss);
  const finalLoss = relative(onDevice.result.loss, onCpu.result.loss);
  const pixels = onDevice.result.image.data;
  let largestPixelDifference = 0;
  for (let i = 0; i < pixels.length; i++) {
    largestPixelDifference = Math.max(largestPixelDifference, Math.abs(pixels[i] - onCpu.result.image.data[i]));
  }
  record('losses match the CPU', firstLoss < 5e-3 && finalLoss < 5e-2, {
    firstLossRelative: firstLoss,
    finalLossRelative: finalLoss,
    cpuLosses: onCpu.events.map((event) => event.loss),
    deviceLosses: onDevice.events.map((event) => event.loss),
    largestPixelDifference,
  });

  const adam = await run({ device, iterations: 20, optimizer: 'adam', init: 'image' });
  record('Adam lowers the loss', adam.events.at(-1).loss < adam.events[0].loss, {
    first: adam.events[0].loss,
    last: adam.events.at(-1).loss,
    error: adam.error?.message,
  });

  // Events queued before the cancel are dropped, so the time until the promise settles (after
  // the native work ends) is what shows how far the engine ran on.
  let cancelledAt = 0;
  const cancelled = await run({ device, iterations: 1000, width: 256 }, (event, job) => {
    if (event.iteration !== 3) return;
    cancelledAt = performance.now();
    job.cancel();
  });
  const stoppedAfterMs = performance.now() - cancelledAt;
  const iterationMs = cancelled.events[2].elapsedMs - cancelled.events[1].elapsedMs;
  record(
    'cancel stops within one iteration',
    cancelled.error?.name === 'AbortError' && cancelled.events.length === 3 && stoppedAfterMs < 3 * iterationMs + 1000,
    { events: cancelled.events.length, stoppedAfterMs, iterationMs, error: cancelled.error?.message },
  );

  const preview = await run({ device, iterations: 2, previewInterval: 2, width: 64 });
  const shown = preview.events.at(-1)?.preview;
  record('previews come back from the device', shown?.data.length === shown?.width * shown?.height * 3, {
    width: shown?.width,
    height: shown?.height,
  });

  // Per-iteration time at the requested size with the default layers and weights: medians of the
  // gaps between progress events, so loading and the targets stay out. The CPU runs alongside
  // with fewer iterations, as it is far slower. The GPU memory LibTorch's allocator holds is
  // sampled at each event, to see it handed back after the run.
  const timing = async (on, iterations, overrides = {}) => {
    let reservedDuringRun = 0;
    const { result, events, error } = await run({ device: on, iterations, width: size, ...overrides }, () => {
      reservedDuringRun = Math.max(reservedDuringRun, addon().runtimeInfo().reservedCudaBytes);
    });
    if (error) throw error;
    const gaps = events.slice(1).map((event, i) => event.elapsedMs - events[i].elapsedMs);
    return {
      msPerIteration: median(gaps),
      totalMs: result.elapsedMs,
      firstLoss: events[0].loss,
      loss: result.loss,
      reservedDuringRun,
    };
  };
  const deviceTiming = await timing(device, timedIterations);
  const reservedAfterRun = addon().runtimeInfo().reservedCudaBytes;
  const cpuTiming = usesCuda ? await timing('cpu', 5) : deviceTiming;
  record('timing', Number.isFinite(deviceTiming.msPerIteration), {
    size: `${size}x${Math.round((size * 3) / 4)}`,
    device: deviceTiming,
    cpu: cpuTiming,
    cpuOverDevice: cpuTiming.msPerIteration / deviceTiming.msPerIteration,
  });

  // What the optimiser's own work adds to an iteration: L-BFGS with 100 corrections (the default,
  // timed above) against 5, and Adam. LibTorch's L-BFGS reads a scalar back to the host for each
  // correction it applies, so on a GPU a wide gap between 100 and 5 is waiting, not arithmetic.
  const optimizerIterations = Math.min(timedIterations, 100);
  const shortHistoryTiming = await timing(device, optimizerIterations, { lbfgsHistory: 5 });
  const adamTiming = await timing(device, optimizerIterations, { optimizer: 'adam' });
  record(
    'optimizer cost',
    [shortHistoryTiming, adamTiming].every((t) => Number.isFinite(t.msPerIteration)),
    {
      lbfgsHistory100: deviceTiming.msPerIteration,
      lbfgsHistory5: shortHistoryTiming.msPerIteration,
      adam: adamTiming.msPerIteration,
    },
  );

  // The network in bfloat16 from the same start: the first loss within a few percent of
  // float32's, and the time an iteration takes then.
  const bfloat16Timing = await timing(device, timedIterations, { precision: 'bfloat16' });
  const bfloat16Loss = relative(bfloat16Timing.firstLoss, deviceTiming.firstLoss);
  record('bfloat16 layers run, close to float32', bfloat16Loss < 3e-2 && bfloat16Loss > 0, {
    firstLossRelative: bfloat16Loss,
    bfloat16: bfloat16Timing,
    float32OverBfloat16: deviceTiming.msPerIteration / bfloat16Timing.msPerIteration,
  });

  // What stays is the handful of workspaces cuBLAS keeps for good; without CUDA there is none.
  const mib = (bytes) => Math.round(bytes / 2 ** 20);
  record(
    'GPU memory goes back after a run',
    usesCuda
      ? deviceTiming.reservedDuringRun > 0 && reservedAfterRun <= deviceTiming.reservedDuringRun / 4
      : reservedAfterRun === 0,
    { reservedDuringRunMiB: mib(deviceTiming.reservedDuringRun), reservedAfterRunMiB: mib(reservedAfterRun) },
  );

  // A run far past the device's memory: 16384x12288 needs about 50 GiB for each of the first
  // layer's activations, which the backward pass keeps. On the CPU, a small memory budget
  // stands in for the device's limit.
  const flat = (width, height) => ({ width, height, data: Buffer.alloc(width * height * 3, 128) });
  const tooLarge = usesCuda
    ? await run({ device, iterations: 2, init: 'image', content: flat(16384, 12288), styles: [flat(64, 48)] })
    : await run({ device, iterations: 2, width: 512, availableMemory: 256 * 2 ** 20 });
  const reservedAfterFailure = addon().runtimeInfo().reservedCudaBytes;
  record(
    'a run too large for the memory is an Out of memory error, and gives its memory back',
    ['NEURAL_STYLE_OUT_OF_MEMORY', 'NEURAL_STYLE_OUT_OF_GPU_MEMORY'].includes(tooLarge.error?.code) &&
      reservedAfterFailure <= Math.max(reservedAfterRun, 64 * 2 ** 20),
    { error: tooLarge.error?.message, code: tooLarge.error?.code, reservedAfterFailureMiB: mib(reservedAfterFailure) },
  );

  const held = addon().runtimeInfo().heldCpuBytes;
  record('no CPU memory held after the runs', held === 0, { heldCpuBytes: held });

  console.log('\ncheck | passed');
  for (const check of checks) console.log(`${check.name} | ${check.passed ? 'yes' : 'NO'}`);
  console.log(
    `${device}: ${deviceTiming.msPerIteration.toFixed(1)} ms/iteration at ${size} px; cpu (${cpus().length} cores): ` +
      `${cpuTiming.msPerIteration.toFixed(1)} ms; ratio ${(cpuTiming.msPerIteration / deviceTiming.msPerIteration).toFixed(1)}; ` +
      `${device} in bfloat16: ${bfloat16Timing.msPerIteration.toFixed(1)} ms; ` +
      `L-BFGS history 5: ${shortHistoryTiming.msPerIteration.toFixed(1)} ms; Adam: ${adamTiming.msPerIteration.toFixed(1)} ms`,
  );
  process.exitCode = checks.every((check) => check.passed) ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
