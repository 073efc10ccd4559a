#!/usr/bin/env node
// One run of the addon for the benchmark, in a process of its own so that its peak memory is its
// own: reads the request (bench/run.js's) as JSON on stdin, writes the time of each iteration
// (the gaps between progress events), the last loss and the peak resident memory.
'use strict';

const { stylize } = require('../dist');

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const raw = (image) => ({
    width: image.width,
    height: image.height,
    data: require('node:fs').readFileSync(image.path),
  });
  // The engine's own clock: events can reach JavaScript several at a time.
  const stamps = [0];
  const result = await stylize({
    content: raw(request.content),
    style: raw(request.style),
    model: request.model,
    imageSize: request.size,
    iterations: request.iterations,
    init: 'image',
    threads: request.threads,
    precision: request.precision,
    contentWeight: request.contentWeight,
    styleWeight: request.styleWeight,
    tvWeight: request.tvWeight,
    contentLayers: request.contentLayers,
    styleLayers: request.styleLayers,
    onProgress: (event) => stamps.push(event.elapsedMs),
  });
  process.stdout.write(
    JSON.stringify({
      iterationMs: stamps.slice(1).map((time, i) => time - stamps[i]),
      loss: result.loss,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    }),
  );
}

main().catch((error) => {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
});
