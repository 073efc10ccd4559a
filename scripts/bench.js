#!/usr/bin/env node
// Side-by-side timing of a whole L-BFGS run: the addon, in float32 and with bfloat16 layers,
// against plain PyTorch (test/python/reference.py) on the same TorchScript model, images and
// settings, alternating runs so all see the same machine state. Prints medians and ratios, and
// the CPU with the instruction set oneDNN and the core type OpenBLAS chose for it, since the same
// command gives other ratios on another CPU.
//
//   node scripts/bench.js [--model test/fixtures/vgg19-full.pt] [--size 256] [--iterations 10] [--repeats 3]
'use strict';

const { spawnSync } = require('node:child_process');
const { existsSync, mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { cpus, tmpdir } = require('node:os');
const { join } = require('node:path');
const { parseArgs } = require('node:util');

const { stylize, defaults } = require('../dist');
const { decodeImage } = require('../dist/image');
const { cpuReport } = require('./cpu-report');

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(__dirname, '..', 'test', 'fixtures', 'vgg19-full.pt') },
    size: { type: 'string', default: '256' },
    iterations: { type: 'string', default: '10' },
    repeats: { type: 'string', default: '3' },
  },
});
const { model } = values;
const [size, iterations, repeats] = [values.size, values.iterations, values.repeats].map(Number);
const threads = cpus().length;
const images = join(__dirname, '..', '..', 'shared', 'images');
const content = existsSync(images) ? join(images, 'tubingen.jpg') : null;
const style = existsSync(images) ? join(images, 'starry_night.jpg') : null;

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main() {
  if (!content) throw new Error(`bench needs ../shared/images (not found at ${images})`);
  const dir = mkdtempSync(join(tmpdir(), 'neural-style-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const decoded = await Promise.all([decodeImage(content, 'content', size), decodeImage(style, 'style', size)]);
  const raw = decoded.map((image, i) => {
    const path = join(dir, `${i}.u8`);
    writeFileSync(path, image.data);
    return { path, width: image.width, height: image.height };
  });
  const settings = {
    contentLayers: [...defaults.contentLayers],
    styleLayers: [...defaults.styleLayers],
    contentWeight: 5,
    styleWeight: 100,
    tvWeight: 1e-3,
  };

  const addonMs = [];
  const bfloat16Ms = [];
  const torchMs = [];
  const addonRun = async (precision) =>
    (
      await stylize({
        content,
        style,
        model,
        imageSize: size,
        iterations,
        init: 'image',
        threads,
        precision,
        ...settings,
      })
    ).elapsedMs;
  for (let run = 0; run < repeats; run++) {
    addonMs.push(await addonRun('float32'));
    bfloat16Ms.push(await addonRun('bfloat16'));
    const python = spawnSync('/usr/bin/python3', [join(__dirname, '..', 'test', 'python', 'reference.py')], {
      input: JSON.stringify({
        mode: 'lbfgs',
        modelPath: model,
        pooling: 'avg',
        iterations,
        lbfgsHistory: 100,
        styleBlendWeights: [],
        threads,
        content: raw[0],
        styles: [raw[1]],
        ...settings,
      }),
      encoding: 'utf8',
    });
    if (python.status !== 0) throw new Error(python.stderr);
    torchMs.push(JSON.parse(python.stdout).elapsedMs);
    process.stderr.write(
      `run ${run + 1}/${repeats}: addon ${addonMs[run].toFixed(0)} ms, bfloat16 ${bfloat16Ms[run].toFixed(0)} ms, PyTorch ${torchMs[run].toFixed(0)} ms\n`,
    );
  }
  const a = median(addonMs) / iterations;
  const b = median(bfloat16Ms) / iterations;
  const t = median(torchMs) / iterations;
  console.log(cpuReport().line);
  console.log(
    `${decoded[0].width}x${decoded[0].height}, ${iterations} L-BFGS iterations, ${threads} threads, ${repeats} runs each`,
  );
  console.log(`addon:           median ${a.toFixed(1)} ms/iteration`);
  console.log(`addon, bfloat16: median ${b.toFixed(1)} ms/iteration`);
  console.log(`PyTorch:         median ${t.toFixed(1)} ms/iteration`);
  console.log(`ratios: PyTorch / addon ${(t / a).toFixed(2)}, addon / addon bfloat16 ${(a / b).toFixed(2)}`);
}

main().catch((error) => {
  console.error(`bench failed: ${error.message}`);
  process.exitCode = 1;
});
