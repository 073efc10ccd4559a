#!/usr/bin/env node
// Measures how far CPU runs take the process's memory, the figures behind the memory check in
// lib/stylize.ts: each run is a child process of its own, whose resident size is read before the
// run and at its peak. Fits a fixed part and a part per pixel of that growth between the smallest
// and the largest size, per precision, and names the CPU it ran on.
//
//   node scripts/memory.js [--sizes 256,1024,1536] [--precisions float32,bfloat16]
'use strict';

const { spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');

const { cpuReport } = require('./cpu-report');

// One run of a width x 3/4 width image: random weights, four L-BFGS iterations with a history
// of five, so that the optimiser's state (counted separately by the check) stays small.
async function child(width, precision) {
  const { addon, nativeStylizeOptions } = require('../dist/native');
  const { resolveOptions } = require('../dist/options');
  const height = Math.round((width * 3) / 4);
  const image = (w, h, seed) => {
    const data = Buffer.alloc(w * h * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * seed) % 251;
    return { width: w, height: h, data };
  };
  const images = { content: image(width, height, 7), styles: [image(64, 48, 3)] };
  const resolved = resolveOptions({
    content: images.content,
    style: images.styles,
    model: 'random',
    iterations: 4,
    lbfgsHistory: 5,
    init: 'image',
    device: 'cpu',
    precision,
  });
  // What the process holds before the run (Node, LibTorch's code) is not what the run needs.
  addon().runtimeInfo();
  const startBytes = process.memoryUsage.rss();
  const job = addon().stylize(nativeStylizeOptions(resolved, images, 0), () => {});
  await job.promise;
  console.log(
    JSON.stringify({
      pixels: width * height,
      startBytes,
      growthBytes: process.resourceUsage().maxRSS * 1024 - startBytes,
    }),
  );
}

function main() {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '256,1024,1536' },
      precisions: { type: 'string', default: 'float32,bfloat16' },
    },
  });
  const sizes = values.sizes.split(',').map(Number);
  const precisions = values.precisions.split(',');
  const mb = (bytes) => (bytes / 2 ** 20).toFixed(0);
  console.log(cpuReport().line);
  for (const precision of precisions) {
    const runs = sizes.map((width) => {
      const run = spawnSync(process.execPath, [__filename, '--child', String(width), precision], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`the run at ${width} px failed:\n${run.stderr}`);
      const measured = JSON.parse(run.stdout);
      console.log(
        `${precision} ${width}x${Math.round((width * 3) / 4)}: ${mb(measured.startBytes)} MB before the run, then ${mb(measured.growthBytes)} MB more at its peak`,
      );
      return measured;
    });
    const [first, last] = [runs[0], runs.at(-1)];
    const perPixel = (last.growthBytes - first.growthBytes) / (last.pixels - first.pixels);
    const fixed = first.growthBytes - perPixel * first.pixels;
    console.log(`${precision}: ${mb(fixed)} MB + ${(perPixel / 1024).toFixed(2)} KB a pixel`);
  }
}

if (process.argv[2] === '--child') {
  child(Number(process.argv[3]), process.argv[4]).catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
} else {
  main();
}
