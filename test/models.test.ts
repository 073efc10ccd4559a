import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { stylize } from '../lib/stylize';
import { fixture, patternPng, referencePython, temporaryDir } from './helpers';


async function quickRun(model: string, extra: Record<string, unknown> = {}) {
  return stylize({ content: await patternPng(0), style: await patternPng(1), model, iterations: 2, imageSize: 40, threads: 2, ...extra });
}

test("a genuine torchvision vgg19().features export loads, maps to VGG names and runs", async () => {
  const result = await quickRun(fixture('vgg19-full.pt'), { imageSize: 48, styleLayers: ['relu1_1', 'relu5_4'], contentLayers: ['conv5_4'] });
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
  const [a, b, c] = await Promise.all([quickRun('random', { seed: 3 }), quickRun('random', { seed: 3 }), quickRun('random', { seed: 4 })]);
  expect(a.loss).toBe(b.loss);
  expect(a.image.data.equals(b.image.data)).toBe(true);
  expect(a.loss).not.toBe(c.loss);
});

describe('bad models are rejected with a clear error and no output', () => {
  const dir = temporaryDir();
  const output = join(dir, 'out.png');
  const garbage = join(dir, 'garbage.pt');
  writeFileSync(garbage, 'this is not a zip archive');

  test.each([
    ['a TorchScript module that is not VGG', fixture('not-vgg.pt'), /is not a VGG network: layer 0 has type Linear/],
    ['a file that is not TorchScript', garbage, /Could not load model .*garbage\.pt as TorchScript/],
    ['weights that are not finite', fixture('nan-weights.pt'), /^Model .*nan-weights\.pt has weights that are not finite numbers in conv3_2: the file is damaged or was converted wrongly$/],
    ['a missing file', join(dir, 'absent.pt'), /model file not found: .*absent\.pt/],
    ['a folder', dir, /^model is not a regular file: /],
  ])('%s', async (_title, model, message) => {
    await expect(quickRun(model, { output })).rejects.toThrow(message);
    expect(readdirSync(dir).filter((name) => name.startsWith('out') || name.startsWith('.out'))).toEqual([]);
  });

  test('a layer the model lacks', async () => {
    await expect(quickRun(fixture('tiny-numbered.pt'), { styleLayers: ['relu6_1'], output })).rejects.toThrow(
      /Layer relu6_1 is not in the model; it has conv1_1 relu1_1/,
    );
  });

  test('preprocess contradicting the model metadata', async () => {
    await expect(quickRun(fixture('tiny-named.pt'), { preprocess: 'torchvision' })).rejects.toThrow(
      /was exported for caffe preprocessing, but preprocess torchvision was asked for/,
    );
  });
});

test('no model given and none installed: the error says how to get one', async () => {
  const saved = process.env.NEURAL_STYLE_MODEL;
  delete process.env.NEURAL_STYLE_MODEL;
  try {
    await expect(stylize({ content: await patternPng(0), style: await patternPng(1) })).rejects.toThrow(/No VGG-19 model was given.*models\/README\.md.*'random'/s);
  } finally {
    if (saved !== undefined) process.env.NEURAL_STYLE_MODEL = saved;
  }
});

test('NEURAL_STYLE_MODEL names the default model', async () => {
  process.env.NEURAL_STYLE_MODEL = fixture('not-vgg.pt');
  try {
    await expect(stylize({ content: await patternPng(0), style: await patternPng(1), iterations: 1 })).rejects.toThrow(/not-vgg\.pt is not a VGG network/);
  } finally {
    delete process.env.NEURAL_STYLE_MODEL;
  }
});

describe('scripts/export_vgg19.py turns a VGG-19 state dict into the TorchScript file the addon loads', () => {
  const dir = temporaryDir();
  const path = (name: string) => join(dir, name);
  const cache = path('torch-home');
  const exportModel = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(referencePython, [join(__dirname, '..', 'scripts', 'export_vgg19.py'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

  beforeAll(() => {
    // One set of VGG-19 weights three ways: a features state dict, the same keyed as a whole
    // network's in torchvision's download cache, and a plain TorchScript export to compare with;
    // and three files the script must refuse.
    mkdirSync(join(cache, 'hub', 'checkpoints'), { recursive: true });
    const made = spawnSync(referencePython, ['-c', `
import sys, torch, torchvision
torch.manual_seed(5)
features = torchvision.models.vgg19().features
state = features.state_dict()
torch.save(state, sys.argv[1])
torch.save({"features." + key: value for key, value in state.items()}, sys.argv[2])
torch.jit.script(features).save(sys.argv[3])
torch.save({"conv.weight": torch.zeros(3)}, sys.argv[4])
torch.save([torch.zeros(3)], sys.argv[5])
torch.save({**state, "0.weight": torch.zeros(64, 3, 5, 5)}, sys.argv[6])
`, path('features.pth'), join(cache, 'hub', 'checkpoints', 'vgg19-dcbb9e9d.pth'), path('direct.pt'), path('other.pth'), path('list.pth'), path('misshapen.pth')], { encoding: 'utf8' });
    expect(made.stderr).toBe('');
  });

  test('--weights with caffe preprocessing, and torchvision\'s own weights from its cache', async () => {
    const caffe = exportModel(['--weights', path('features.pth'), '--preprocess', 'caffe', '--output', path('caffe.pt')]);
    expect(caffe.stdout).toMatch(/^Wrote .*caffe\.pt \(caffe preprocessing\)$/m);
    const downloaded = exportModel(['--torchvision-download', '--output', path('torchvision.pt')], { TORCH_HOME: cache });
    expect(downloaded.stdout).toMatch(/^Wrote .*torchvision\.pt \(torchvision preprocessing\)$/m);

    // The same weights as the plain export, and the preprocessing recorded in the file.
    const loss = async (model: string, extra: Record<string, unknown> = {}) => (await quickRun(model, { iterations: 1, ...extra })).loss;
    expect(await loss(path('caffe.pt'))).toBe(await loss(path('direct.pt'), { preprocess: 'caffe' }));
    expect(await loss(path('torchvision.pt'))).toBe(await loss(path('direct.pt'), { preprocess: 'torchvision' }));
    expect(await loss(path('caffe.pt'))).not.toBe(await loss(path('torchvision.pt')));
    await expect(quickRun(path('caffe.pt'), { preprocess: 'torchvision' })).rejects.toThrow(/was exported for caffe preprocessing/);
  });

  test.each([
    ['weights without their preprocessing', ['--weights', 'features.pth'], /^export_vgg19: --preprocess caffe or --preprocess torchvision is required with --weights/],
    ['a state dict that is not VGG-19', ['--weights', 'other.pth', '--preprocess', 'caffe'], /^export_vgg19: .*other\.pth is not a VGG-19 state dict: it lacks 0\.weight, 0\.bias, 2\.weight and 29 more$/m],
    ['a state dict with a misshapen layer', ['--weights', 'misshapen.pth', '--preprocess', 'caffe'], /^export_vgg19: .*misshapen\.pth does not fit VGG-19: [\s\S]*size mismatch for 0\.weight/m],
    ['an output folder that does not exist', ['--weights', 'features.pth', '--preprocess', 'caffe', '--output', 'absent/vgg19.pt'], /^export_vgg19: output directory does not exist: .*absent$/m],
    ['a file that is not a state dict', ['--weights', 'list.pth', '--preprocess', 'caffe'], /^export_vgg19: .*list\.pth holds a list, not a state dict of tensors$/m],
  ])('%s: an error, and no file', (_title, args, message) => {
    const output = args.includes('--output') ? [] : ['--output', path('failed.pt')];
    const result = exportModel([...args.map((arg) => (arg.includes('.') ? path(arg) : arg)), ...output]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(existsSync(path('failed.pt'))).toBe(false);
    expect(readdirSync(dir).filter((name) => name.includes('partial'))).toEqual([]);
  });
});
