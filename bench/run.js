#!/usr/bin/env node
// npm run bench: the addon against plain PyTorch (bench/pytorch_style.py), same model, images,
// weights and threads, each run in a process of its own and the two interleaved, at each size and
// precision. Reports the median time of an iteration (iterations after --skip), the floor (the
// network's convolutions alone, forward and input gradient), the GFLOP/s that makes, the machine's
// measured matrix product peaks, each run's peak resident memory and the ratios; prints a table
// and writes JSON, with the CPU it ran on.
//
//   npm run bench -- [--sizes 256,512] [--precisions float32,bfloat16] [--iterations 25] [--skip 4]
//                    [--repeats 3] [--model test/fixtures/vgg19-full.pt] [--json build/bench.json]
'use strict';

const { spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { dirname, join } = require('node:path');
const { parseArgs } = require('node:util');

const { defaults, modelInfo } = require('../dist');
const { usableCpus } = require('../dist/cpus');
const { decodeImage } = require('../dist/image');
const { cpuReport } = require('../scripts/cpu-report');

const root = join(__dirname, '..');
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '256,512' },
    precisions: { type: 'string', default: 'float32,bfloat16' },
    iterations: { type: 'string', default: '25' },
    skip: { type: 'string', default: '4' },
    repeats: { type: 'string', default: '3' },
    model: { type: 'string', default: join(root, 'test', 'fixtures', 'vgg19-full.pt') },
    'matmul-size': { type: 'string', default: '2048' },
    json: { type: 'string', default: join(root, 'build', 'bench.json') },
  },
});
const sizes = values.sizes.split(',').map(Number);
const precisions = values.precisions.split(',');
const [iterations, skip, repeats, matmulSize] = [
  values.iterations,
  values.skip,
  values.repeats,
  values['matmul-size'],
].map(Number);
const threads = usableCpus();
const python = process.env.NEURAL_STYLE_TEST_PYTHON ?? '/usr/bin/python3';
const settings = {
  contentLayers: [...defaults.contentLayers],
  styleLayers: [...defaults.styleLayers],
  contentWeight: 5,
  styleWeight: 100,
  tvWeight: 1e-3,
};

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];

function child(command, args, request) {
  const result = spawnSync(command, args, { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 1 << 26 });
  if (result.status !== 0) throw new Error(`${args[0]} failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}
const addonRun = (request) => child(process.execPath, [join(__dirname, 'addon-run.js')], request);
const pytorch = (request) => child(python, [join(__dirname, 'pytorch_style.py')], request);

/** The photo and the painting from ../shared/images, else two generated patterns, as raw files at `size`. */
async function images(dir, size) {
  const shared = join(root, '..', 'shared', 'images');
  const sharp = require('sharp');
  const pattern = (hue) =>
    sharp({ create: { width: 640, height: 480, channels: 3, background: { r: hue, g: 255 - hue, b: 128 } } })
      .composite([
        {
          input: Buffer.from(
            `<svg width="640" height="480"><circle cx="320" cy="240" r="${100 + hue / 4}" fill="#203040"/></svg>`,
          ),
        },
      ])
      .png()
      .toBuffer();
  const sources = existsSync(shared)
    ? [join(shared, 'tubingen.jpg'), join(shared, 'starry_night.jpg')]
    : [await pattern(40), await pattern(200)];
  const decoded = await Promise.all(sources.map((source, i) => decodeImage(source, i ? 'style' : 'content', size)));
  return {
    shared: existsSync(shared),
    files: decoded.map((image, i) => {
      const path = join(dir, `${size}-${i}.rgb`);
      writeFileSync(path, image.data);
      return { path, width: image.width, height: image.height };
    }),
  };
}

/**
 * The multiply-adds of one iteration's convolutions, counted twice (a multiply and an add): each
 * to the last loss layer forward, and its input gradient back, which costs the same.
 */
function iterationFlops(layers, width, height) {
  const last = Math.max(
    ...[...settings.contentLayers, ...settings.styleLayers].map((name) =>
      layers.findIndex((layer) => layer.name === name),
    ),
  );
  let [w, h, flops] = [width, height, 0];
  for (const layer of layers.slice(0, last + 1)) {
    if (layer.outChannels !== undefined) flops += 2 * 2 * w * h * layer.inChannels * layer.outChannels * 9;
    if (layer.name.startsWith('pool')) [w, h] = [Math.floor(w / 2), Math.floor(h / 2)];
  }
  return flops;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'neural-style-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const { layers } = await modelInfo(values.model);
  const cpu = cpuReport();
  const matmul = pytorch({ mode: 'matmul', threads, matmulSize });
  const rows = [];
  let sharedImages = false;
  for (const size of sizes) {
    const { shared, files } = await images(dir, size);
    sharedImages = shared;
    const [content, style] = files;
    const base = { model: values.model, content, style, size, iterations, threads, ...settings };
    const floor = pytorch({ ...base, mode: 'floor' }).floorMs;
    const flops = iterationFlops(layers, content.width, content.height);
    for (const precision of precisions) {
      const runs = { addon: [], pytorch: [] };
      for (let repeat = 0; repeat < repeats; repeat++) {
        for (const [name, start] of [
          ['addon', addonRun],
          ['pytorch', (r) => pytorch({ ...r, mode: 'run' })],
        ]) {
          const result = start({ ...base, precision });
          runs[name].push({ ...result, medianMs: median(result.iterationMs.slice(skip)) });
          process.stderr.write(
            `${content.width}x${content.height} ${precision} ${name} run ${repeat + 1}/${repeats}: ${runs[name].at(-1).medianMs.toFixed(1)} ms/iteration\n`,
          );
        }
      }
      const summary = (list) => ({
        msPerIteration: median(list.map((run) => run.medianMs)),
        peakRssBytes: median(list.map((run) => run.peakRssBytes)),
        loss: list.at(-1).loss,
        runs: list.map((run) => run.medianMs),
      });
      const addon = summary(runs.addon);
      const torch = summary(runs.pytorch);
      rows.push({
        width: content.width,
        height: content.height,
        precision,
        addon,
        pytorch: torch,
        floorMs: floor[precision],
        gflopPerIteration: flops / 1e9,
        addonGflops: flops / 1e9 / (addon.msPerIteration / 1000),
        addonOverPytorch: addon.msPerIteration / torch.msPerIteration,
        addonOverFloor: addon.msPerIteration / floor[precision],
        peakRatio: addon.peakRssBytes / torch.peakRssBytes,
      });
    }
  }
  const report = {
    cpu: cpu.line,
    command: `node bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    threads,
    iterations,
    skip,
    repeats,
    model: values.model,
    images: sharedImages ? 'tubingen.jpg and starry_night.jpg from ../shared/images' : 'generated patterns',
    matmul: { size: matmul.size, gflops: matmul.gflops },
    rows,
  };
  mkdirSync(dirname(values.json), { recursive: true });
  writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);

  const fixed = (value, digits = 2) => value.toFixed(digits);
  console.log(cpu.line);
  console.log(
    `${threads} threads; ${report.images}; medians of ${repeats} runs of iterations ${skip + 1}-${iterations}; ` +
      `matrix products ${matmul.size}²: float32 ${fixed(matmul.gflops.float32, 0)} GFLOP/s, bfloat16 ${fixed(matmul.gflops.bfloat16, 0)} GFLOP/s`,
  );
  console.log(
    '| size | precision | addon s/it | PyTorch s/it | addon / PyTorch | floor s/it | addon / floor | addon GFLOP/s | addon peak MB | PyTorch peak MB | peak ratio |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const row of rows) {
    console.log(
      `| ${row.width}×${row.height} | ${row.precision} | ${fixed(row.addon.msPerIteration / 1000, 3)} | ${fixed(row.pytorch.msPerIteration / 1000, 3)} | ` +
        `${fixed(row.addonOverPytorch)} | ${fixed(row.floorMs / 1000, 3)} | ${fixed(row.addonOverFloor)} | ${fixed(row.addonGflops, 0)} | ` +
        `${fixed(row.addon.peakRssBytes / 2 ** 20, 0)} | ${fixed(row.pytorch.peakRssBytes / 2 ** 20, 0)} | ${fixed(row.peakRatio)} |`,
    );
  }
  for (const size of new Set(rows.map((row) => `${row.width}×${row.height}`))) {
    const [f32, bf16] = ['float32', 'bfloat16'].map((p) =>
      rows.find((row) => `${row.width}×${row.height}` === size && row.precision === p),
    );
    if (f32 && bf16)
      console.log(
        `${size}: bfloat16 ${fixed(f32.addon.msPerIteration / bf16.addon.msPerIteration)}× faster than float32 in the addon ` +
          `(the floor ${fixed(f32.floorMs / bf16.floorMs)}×)`,
      );
  }
  console.log(`JSON: ${values.json}`);
}

main().catch((error) => {
  console.error(`bench failed: ${error.message}`);
  process.exitCode = 1;
});
