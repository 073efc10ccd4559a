import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { runtimeInfo } from '../lib';
import { modelInfo } from '../lib/models';
import { cachedModelPath, modelHome } from '../lib/options';
import { stylize } from '../lib/stylize';
import { changeZipEntry, fixture, patternPng, temporaryDir, withoutZipChecksums } from './helpers';

async function quickRun(model: string, extra: Record<string, unknown> = {}) {
  return stylize({
    content: await patternPng(0),
    style: await patternPng(1),
    model,
    iterations: 2,
    imageSize: 40,
    threads: 2,
    ...extra,
  });
}

test('a genuine torchvision vgg19().features export loads, maps to VGG names and runs', async () => {
  const result = await quickRun(fixture('vgg19-full.pt'), {
    imageSize: 48,
    styleLayers: ['relu1_1', 'relu5_4'],
    contentLayers: ['conv5_4'],
  });
  expect(result.iterations).toBe(2);
  expect(result.image.width).toBe(48);
  expect(result.style).toBeGreaterThan(0);
  expect(result.content).toBeGreaterThan(0);
});

test.each(['tiny-numbered.pt', 'tiny-named.pt', 'tiny-whole.pt'])('%s runs with the default layers', async (name) => {
  const result = await quickRun(fixture(name));
  expect(Number.isFinite(result.loss)).toBe(true);
  expect(result.loss).toBeGreaterThan(0);
});

test("model 'random' is a seeded VGG-19: same seed, same result; other seed, other result", async () => {
  const [a, b, c] = await Promise.all([
    quickRun('random', { seed: 3 }),
    quickRun('random', { seed: 3 }),
    quickRun('random', { seed: 4 }),
  ]);
  expect(a.loss).toBe(b.loss);
  expect(a.image.data.equals(b.image.data)).toBe(true);
  expect(a.loss).not.toBe(c.loss);
});

describe('bad models are rejected with a clear error and no output', () => {
  const dir = temporaryDir();
  const output = join(dir, 'out.png');
  const damagedCopy = (name: string, bytes: Buffer | string) => {
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  };
  const garbage = damagedCopy('garbage.pt', 'this is not a zip archive');

  test.each([
    ['a TorchScript module that is not VGG', fixture('not-vgg.pt'), /is not a VGG network: layer 0 has type Linear/],
    ['a file that is not TorchScript', garbage, /Could not load model .*garbage\.pt as TorchScript/],
    [
      'weights that are not finite',
      fixture('nan-weights.pt'),
      /^Model .*nan-weights\.pt has weights that are not finite numbers in conv3_2: the file is damaged or was converted wrongly$/,
    ],
    ['a missing file', join(dir, 'absent.pt'), /model file not found: .*absent\.pt/],
    ['a folder', dir, /^model is not a regular file: /],
    // LibTorch itself would run it: its zip reader checks no checksums.
    [
      'a weight changed by one bit',
      damagedCopy('changed.pt', changeZipEntry(readFileSync(fixture('tiny-named.pt')), '/data/6')),
      /^Model .*changed\.pt is damaged: its entry tiny-named\/data\/6 does not match the checksum recorded for it$/,
    ],
  ])('%s', async (_title, model, message) => {
    await expect(quickRun(model, { output })).rejects.toThrow(message);
    expect(readdirSync(dir).filter((name) => name.startsWith('out') || name.startsWith('.out'))).toEqual([]);
  });

  test('damaged model files are refused with an error that names them, never a crash or a hang', async () => {
    const original = readFileSync(fixture('tiny-named.pt'));
    const damaged = join(dir, 'damaged.pt');
    // A fixed sequence of damage (no Math.random: a failure must recur): cuts, and bytes changed
    // anywhere, in the zip's directory, the pickles, the TorchScript source or the weights.
    let state = 11;
    const next = (below: number) => (state = (state * 1103515245 + 12345) % 2 ** 31) % below;
    const outcomes = { ran: 0, refused: 0 };
    for (let trial = 0; trial < 120; trial++) {
      let bytes = Buffer.from(original);
      if (trial % 3 === 0) bytes = bytes.subarray(0, next(bytes.length));
      else for (let changes = 1 + next(8); changes > 0; changes--) bytes[next(bytes.length)] = next(256);
      writeFileSync(damaged, bytes);
      try {
        await quickRun(damaged);
        outcomes.ran++;
      } catch (error) {
        // Weights made huge but finite load, and then the loss says so.
        const message = (error as Error).message;
        if (!message.startsWith('The loss is no longer finite')) expect(message).toContain(damaged);
        outcomes.refused++;
      }
    }
    // Every entry's checksum is checked, so only a byte in the zip's headers that no reader uses
    // can pass (16 of the 120 do).
    expect(outcomes.refused).toBeGreaterThan(100);
    // A damaged archive that failed halfway through LibTorch's loader kept the tensors it had read.
    expect(runtimeInfo().heldCpuBytes).toBe(0);
  });

  test('an archive that records no checksums, as PyTorch writes when told not to compute them, runs', async () => {
    const result = await quickRun(
      damagedCopy('unchecked.pt', withoutZipChecksums(readFileSync(fixture('tiny-named.pt')))),
    );
    expect(result.iterations).toBe(2);
  });

  test('a layer the model lacks', async () => {
    await expect(quickRun(fixture('tiny-numbered.pt'), { styleLayers: ['relu6_1'], output })).rejects.toThrow(
      /^styleLayers names layer relu6_1, which model .*tiny-numbered\.pt lacks: it has conv1_1 relu1_1 /,
    );
  });

  test.each([
    [
      'a zip archive that is no TorchScript',
      'zip-not-torchscript.pt',
      /^Model .*zip-not-torchscript\.pt is a zip archive but not a TorchScript model: save one with torch\.jit\.save$/,
    ],
    [
      'a state dict',
      'tiny-features.pth',
      /^Model .*tiny-features\.pth is a zip archive but not a TorchScript model: it holds a state dict, which convert-model turns into one$/,
    ],
    [
      'finite weights whose activations overflow',
      'huge-weights.pt',
      /^Model .*huge-weights\.pt computes activations that are not finite numbers at layer relu4_2 for the content image: its weights are too large, or the file is damaged$/,
    ],
  ])('%s is named as the model, with what is wrong with it', async (_title, name, message) => {
    await expect(quickRun(fixture(name), { output })).rejects.toThrow(message);
    expect(existsSync(output)).toBe(false);
  });

  test('preprocess contradicting the model metadata', async () => {
    await expect(quickRun(fixture('tiny-named.pt'), { preprocess: 'torchvision' })).rejects.toThrow(
      /was exported for caffe preprocessing, but preprocess torchvision was asked for: leave preprocess out$/,
    );
  });
});

test('no model given and none installed: the error says how to get one', async () => {
  const saved = process.env.NEURAL_STYLE_MODEL;
  delete process.env.NEURAL_STYLE_MODEL;
  try {
    await expect(stylize({ content: await patternPng(0), style: await patternPng(1) })).rejects.toThrow(
      /No VGG-19 model was given.*`npx neural-style download-model`.*'random'/s,
    );
  } finally {
    if (saved !== undefined) process.env.NEURAL_STYLE_MODEL = saved;
  }
});

test('NEURAL_STYLE_MODEL names the default model', async () => {
  process.env.NEURAL_STYLE_MODEL = fixture('not-vgg.pt');
  try {
    await expect(stylize({ content: await patternPng(0), style: await patternPng(1), iterations: 1 })).rejects.toThrow(
      /not-vgg\.pt is not a VGG network/,
    );
  } finally {
    delete process.env.NEURAL_STYLE_MODEL;
  }
});

test("the model cache: NEURAL_STYLE_HOME, else the platform's cache folder; never node_modules", () => {
  const saved = { ...process.env };
  try {
    process.env.NEURAL_STYLE_HOME = 'relative/home';
    expect(modelHome()).toBe(resolve('relative/home'));
    delete process.env.NEURAL_STYLE_HOME;
    process.env.XDG_CACHE_HOME = '/var/cache/someone';
    expect(modelHome()).toBe('/var/cache/someone/neural-style');
    delete process.env.XDG_CACHE_HOME;
    expect(modelHome()).toBe(join(homedir(), '.cache', 'neural-style'));
    expect(cachedModelPath()).toBe(join(homedir(), '.cache', 'neural-style', 'vgg19.pt'));
  } finally {
    process.env = saved;
  }
});

test('model info: layers with their channels, preprocessing, parameters, size, SHA-256 and source', async () => {
  const named = await modelInfo(fixture('tiny-named.pt'));
  const bytes = readFileSync(fixture('tiny-named.pt'));
  expect(named).toMatchObject({
    path: fixture('tiny-named.pt'),
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    preprocessing: 'caffe',
    source: 'neural-style',
  });
  // VGG-19: 16 convolutions, each with its ReLU, and 5 poolings.
  expect(named.layers).toHaveLength(37);
  expect(named.layers.slice(0, 3)).toEqual([
    { name: 'conv1_1', inChannels: 3, outChannels: 4 },
    { name: 'relu1_1' },
    { name: 'conv1_2', inChannels: 4, outChannels: 4 },
  ]);
  const counted = named.layers.reduce(
    (sum, layer) => sum + (layer.outChannels ? layer.outChannels * layer.inChannels! * 9 + layer.outChannels : 0),
    0,
  );
  expect(named.parameters).toBe(counted);
  // torchvision's VGG-19 features: 20,024,384 parameters; exported without neural-style's metadata.
  expect(await modelInfo(fixture('vgg19-full.pt'))).toMatchObject({
    parameters: 20024384,
    preprocessing: 'unrecorded',
    source: 'another TorchScript export',
  });
  await expect(modelInfo(fixture('not-vgg.pt'))).rejects.toThrow(/not-vgg\.pt is not a VGG network/);
  const cli = spawnSync(
    process.execPath,
    [join(__dirname, '..', 'dist', 'cli.js'), 'model', 'info', fixture('tiny-named.pt')],
    {
      encoding: 'utf8',
    },
  );
  expect(cli.stdout).toMatch(/^preprocessing: caffe$/m);
  expect(cli.stdout).toMatch(/^layers: +conv1_1\(3→4\) relu1_1 conv1_2\(4→4\) /m);
  await expect(modelInfo(fixture('tiny-features.pth'))).rejects.toThrow(
    /tiny-features\.pth is a zip archive but not a TorchScript model/,
  );
});
