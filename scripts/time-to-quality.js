#!/usr/bin/env node
// Time to quality, single scale against coarse to fine: the wall time until the loss at the
// result's size reaches what `--iterations` single-scale L-BFGS iterations reach. The single-scale
// run sets the target; the coarse-to-fine run (its lower scales, then the top one) stops when its
// top-scale loss is at or below it. Both from noise, same seed, model, images and threads.
//
//   node scripts/time-to-quality.js [--size 512] [--iterations 500] [--scales 3] [--lower 100]
//     [--model test/fixtures/vgg19-full.pt]
'use strict';

const { existsSync } = require('node:fs');
const { cpus } = require('node:os');
const { join } = require('node:path');
const { parseArgs } = require('node:util');

const { stylize } = require('../dist');
const { resolveOptions } = require('../dist/options');
const { cpuReport } = require('./cpu-report');

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(__dirname, '..', 'test', 'fixtures', 'vgg19-full.pt') },
    size: { type: 'string', default: '512' },
    iterations: { type: 'string', default: '500' },
    scales: { type: 'string', default: '3' },
    lower: { type: 'string', default: '100' },
  },
});
const [size, iterations, scaleCount, lower] = [values.size, values.iterations, values.scales, values.lower].map(Number);
const images = join(__dirname, '..', '..', 'shared', 'images');
const threads = cpus().length;

async function main() {
  if (!existsSync(images)) throw new Error(`time-to-quality needs ../shared/images (not found at ${images})`);
  const common = {
    content: join(images, 'tubingen.jpg'),
    style: join(images, 'starry_night.jpg'),
    model: values.model,
    imageSize: size,
    threads,
  };

  const started = performance.now();
  const single = await stylize({ ...common, iterations });
  const singleMs = performance.now() - started;
  const target = single.loss;
  process.stderr.write(
    `single scale: loss ${target.toExponential(4)} after ${iterations} iterations, ${(singleMs / 1000).toFixed(1)} s\n`,
  );

  const { scales } = resolveOptions({ ...common, scales: scaleCount });
  const iterationsPerScale = scales.map((_, index) => (index === scales.length - 1 ? iterations : lower));
  const stop = new AbortController();
  let reached;
  let topLoss = Infinity;
  const begun = performance.now();
  await stylize({
    ...common,
    scales: scaleCount,
    iterationsPerScale,
    signal: stop.signal,
    onProgress: (event) => {
      if (event.scale !== event.scales) return;
      topLoss = event.loss;
      if (event.loss <= target && reached === undefined) {
        reached = { ms: performance.now() - begun, iteration: event.iteration };
        stop.abort();
      }
    },
  }).catch((error) => {
    if (error.name !== 'AbortError') throw error;
  });

  console.log(cpuReport().line);
  console.log(`${size} px, L-BFGS from noise, ${threads} threads, model ${values.model}, one run each`);
  console.log(
    `single scale: ${iterations} iterations in ${(singleMs / 1000).toFixed(1)} s reach loss ${target.toExponential(4)}`,
  );
  if (reached) {
    console.log(
      `coarse to fine (${scales.join(', ')} px, ${lower} iterations below the top): that loss after ${reached.iteration} top-scale iterations, ${(reached.ms / 1000).toFixed(1)} s`,
    );
    console.log(`ratio: single scale / coarse to fine ${(singleMs / reached.ms).toFixed(2)}`);
  } else {
    console.log(
      `coarse to fine (${scales.join(', ')} px): not reached in ${iterations} top-scale iterations (loss ${topLoss.toExponential(4)})`,
    );
  }
}

main().catch((error) => {
  console.error(`time-to-quality failed: ${error.message}`);
  process.exitCode = 1;
});
