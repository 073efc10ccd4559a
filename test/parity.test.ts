// The addon's objective and optimiser against a plain PyTorch implementation (python/reference.py)
// on the same weights and inputs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { addon, NativeModelOptions, nativeModelOptions } from '../lib/native';
import { defaults, resolveOptions, StylizeOptions } from '../lib/options';
import { stylize } from '../lib/stylize';
import { fixture, pattern, planar, png, reference, relativeError, temporaryDir, writeRaw } from './helpers';

const width = 40;
const height = 32;

function lossOptions(model: string, overrides: Partial<StylizeOptions> = {}): NativeModelOptions {
  // The images stand in: evaluate() is given its own; there must be one style per blend weight.
  const pixel = { width: 1, height: 1, data: Buffer.alloc(3) };
  const style = Array.from({ length: overrides.styleBlendWeights?.length || 1 }, () => pixel);
  return nativeModelOptions(resolveOptions({ content: pixel, style, model, tvWeight: 0.5, threads: 2, ...overrides }));
}

type Losses = { loss: number; content: number; style: number; tv: number };
type PlanarImage = { width: number; height: number; data: Float32Array };

const planarPattern = (w: number, h: number, seed: number): PlanarImage => ({
  width: w,
  height: h,
  data: planar(pattern(w, h, seed)),
});

/** PyTorch's losses, and its gradient with respect to `image`, for one evaluation. */
function referenceEvaluation(
  options: NativeModelOptions,
  content: PlanarImage,
  styles: PlanarImage[],
  image: PlanarImage,
) {
  const dir = temporaryDir();
  const saved = (name: string, { width, height, data }: PlanarImage) => ({
    path: writeRaw(dir, name, data),
    width,
    height,
  });
  const gradientPath = join(dir, 'gradient.f32');
  const losses = reference<Losses>({
    ...options,
    mode: 'evaluate',
    content: saved('content.f32', content),
    styles: styles.map((style, i) => saved(`style${i}.f32`, style)),
    image: saved('image.f32', image),
    gradient_path: gradientPath,
  });
  const raw = readFileSync(gradientPath);
  return { ...losses, gradient: new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4) };
}

describe.each<[string, string, Partial<StylizeOptions>]>([
  ['torchvision-style model, avg pooling', 'tiny-numbered.pt', {}],
  ['named caffe model (metadata), max pooling', 'tiny-named.pt', { pooling: 'max' }],
  [
    'whole network, two blended styles, other layers',
    'tiny-whole.pt',
    {
      contentLayers: ['relu3_2', 'conv4_1'],
      styleLayers: ['relu1_2', 'pool2', 'relu4_3'],
      styleBlendWeights: [3, 1],
    },
  ],
  [
    'gradients normalized per layer, a layer both content and style',
    'tiny-numbered.pt',
    {
      normalizeGradients: true,
      contentLayers: ['relu4_2', 'relu2_1'],
      styleLayers: ['relu1_1', 'relu2_1', 'relu4_2'],
    },
  ],
  [
    "per-layer style weights, the paper's style normalisation",
    'tiny-numbered.pt',
    {
      styleLayers: ['relu1_1', 'relu2_1', 'relu3_1'],
      styleLayerWeights: { relu1_1: 0.25, relu3_1: 4 },
      styleNormalization: 'paper',
    },
  ],
  [
    'per-layer style weights with gradients normalized',
    'tiny-numbered.pt',
    { normalizeGradients: true, styleLayers: ['relu1_1', 'relu2_1'], styleLayerWeights: { relu2_1: 0.1 } },
  ],
])('one evaluation matches PyTorch: %s', (_title, modelName, overrides: Partial<StylizeOptions>) => {
  test('losses and gradient within 1e-4 relative', async () => {
    const options = lossOptions(fixture(modelName), overrides);
    const styleCount = options.styleBlendWeights.length || 1;
    const content = planarPattern(width, height, 0);
    const styles = Array.from({ length: styleCount }, (_, i) => planarPattern(width + 8 * i, height + 4 * i, i + 1));
    const image = planarPattern(width, height, 7);

    const native = await addon().evaluate({ ...options, content, styles, image });
    const expected = referenceEvaluation(options, content, styles, image);

    for (const term of ['loss', 'content', 'style', 'tv'] as const) {
      expect(expected[term]).toBeGreaterThan(0);
      expect(relativeError(native[term], expected[term])).toBeLessThan(1e-4);
    }
    const expectedGradient = expected.gradient;
    expect(native.gradient).toHaveLength(expectedGradient.length);
    let largest = 0;
    let worst = 0;
    for (let i = 0; i < expectedGradient.length; i++) {
      largest = Math.max(largest, Math.abs(expectedGradient[i]));
      worst = Math.max(worst, Math.abs(native.gradient[i] - expectedGradient[i]));
    }
    expect(largest).toBeGreaterThan(0);
    expect(worst / largest).toBeLessThan(1e-4);
  });
});

test('a bfloat16 network stays close to the float32 reference, and differs from float32', async () => {
  // The full-size VGG-19: the tiny models' layers are all too narrow to run in bfloat16.
  const options = lossOptions(fixture('vgg19-full.pt'), { tvWeight: 0, preprocess: 'caffe' });
  const [content, style, image] = [0, 1, 7].map((seed) => planarPattern(width, height, seed));
  const evaluate = (precision: string) => addon().evaluate({ ...options, precision, content, styles: [style], image });
  const [single, brain] = await Promise.all([evaluate('float32'), evaluate('bfloat16')]);
  const expected = referenceEvaluation(options, content, [style], image);
  const expectedGradient = expected.gradient;
  // bfloat16 keeps 8 bits of mantissa: activations are off by parts in a thousand, the Gram
  // matrices' sums by about 1%, and the gradient's direction barely moves.
  for (const term of ['loss', 'content', 'style'] as const) {
    expect(expected[term]).toBeGreaterThan(0);
    expect(brain[term]).not.toBe(single[term]);
    expect(relativeError(brain[term], expected[term])).toBeLessThan(3e-2);
  }
  let dot = 0;
  let squares = 0;
  let expectedSquares = 0;
  for (let i = 0; i < expectedGradient.length; i++) {
    dot += brain.gradient[i] * expectedGradient[i];
    squares += brain.gradient[i] ** 2;
    expectedSquares += expectedGradient[i] ** 2;
  }
  expect(dot / Math.sqrt(squares * expectedSquares)).toBeGreaterThan(0.995);
});

type Trajectory = { losses: number[]; tv: number[] };
type Run = {
  optimizer?: 'lbfgs' | 'adam';
  init?: 'image' | 'random';
  seed?: number;
  lbfgsHistory?: number;
  learningRate?: number;
};

/**
 * Ten iterations through stylize() and through reference.py, on the same model, images and
 * settings; `variants` are reference runs with some settings changed, to show they matter.
 */
async function trajectories(
  run: Run,
  variants: Run[] = [],
): Promise<{ addon: Trajectory; expected: Trajectory; others: Trajectory[] }> {
  const dir = temporaryDir();
  const model = fixture('tiny-numbered.pt');
  const [content, style] = [pattern(48, 40, 0), pattern(48, 40, 2)];
  const settings = {
    optimizer: 'lbfgs',
    init: 'image',
    seed: 0,
    lbfgsHistory: defaults.lbfgsHistory,
    learningRate: defaults.learningRate,
    ...run,
  } as const;
  const addon: Trajectory = { losses: [], tv: [] };
  const result = await stylize({
    content: await png(content),
    style: await png(style),
    model,
    imageSize: 48,
    iterations: 10,
    tvWeight: 0.5,
    threads: 2,
    ...settings,
    onProgress: (event) => {
      addon.losses.push(event.loss);
      addon.tv.push(event.tv);
    },
  });
  expect(result.iterations).toBe(10);
  const images = {
    content: { path: writeRaw(dir, 'content.u8', content.data), width: 48, height: 40 },
    styles: [{ path: writeRaw(dir, 'style.u8', style.data), width: 48, height: 40 }],
  };
  const [expected, ...others] = [{}, ...variants].map((variant) =>
    reference<Trajectory>({
      ...lossOptions(model),
      ...settings,
      ...variant,
      mode: settings.optimizer,
      iterations: 10,
      ...images,
    }),
  );
  expect(expected.losses).toHaveLength(10);
  expect(expected.losses[9]).toBeLessThan(expected.losses[0] * 0.99);
  expect(addon.losses).toHaveLength(10);
  return { addon, expected, others };
}

const followsWithin = (addon: Trajectory, expected: Trajectory, tolerance: number) =>
  addon.losses.forEach((loss, i) => expect(relativeError(loss, expected.losses[i])).toBeLessThan(tolerance));

test('10 L-BFGS iterations from the content image follow the PyTorch trajectory within 1e-3', async () => {
  const { addon, expected } = await trajectories({});
  followsWithin(addon, expected, 1e-3);
});

test("from seeded noise, L-BFGS follows PyTorch's trajectory from PyTorch's noise of that seed", async () => {
  const { addon, expected, others } = await trajectories({ init: 'random', seed: 5 }, [{ seed: 0 }]);
  // The TV term of pure noise is a sum of its squared steps: it tells the noise's seed and scale.
  expect(relativeError(addon.tv[0], expected.tv[0])).toBeLessThan(1e-4);
  expect(relativeError(others[0].tv[0], expected.tv[0])).toBeGreaterThan(1e-2);
  followsWithin(addon, expected, 1e-3);
});

test("with a history of 2 corrections, L-BFGS follows PyTorch's with that history", async () => {
  // Full by the third iteration; the default 100 never is in ten.
  const { addon, expected, others } = await trajectories({ lbfgsHistory: 2 }, [{ lbfgsHistory: 100 }]);
  expect(Math.max(...others[0].losses.map((loss, i) => relativeError(loss, expected.losses[i])))).toBeGreaterThan(1e-2);
  followsWithin(addon, expected, 1e-3);
});

test("10 Adam iterations follow PyTorch's Adam at the same learning rate", async () => {
  const { addon, expected } = await trajectories({ optimizer: 'adam', learningRate: 0.5 });
  followsWithin(addon, expected, 1e-3);
});
