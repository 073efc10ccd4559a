// Every flag of the command line reaches stylize() as the option of the same name, with its value:
// the run itself is replaced, so that each flag can take a value no run would need.
import { join } from 'node:path';

import { main } from '../lib/cli';
import type { StylizeOptions } from '../lib/options';
import { temporaryDir } from './helpers';

jest.mock('../lib/stylize', () => ({
  stylize: jest.fn(async (options: StylizeOptions) => ({ output: options.output, iterations: options.iterations, device: 'cpu', elapsedMs: 1, loss: 1 })),
}));
const { stylize } = jest.requireMock('../lib/stylize') as { stylize: jest.Mock };

const dir = temporaryDir();
const [content, styleA, styleB, start, output] = ['c.png', 'a.png', 'b.png', 'i.png', 'o.png'].map((name) => join(dir, name));

async function optionsFor(args: string[]): Promise<StylizeOptions> {
  stylize.mockClear();
  const print = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    await main(['--content', content, '--style', `${styleA},${styleB}`, '--output', output, ...args]);
  } finally {
    print.mockRestore();
  }
  expect(stylize).toHaveBeenCalledTimes(1);
  return stylize.mock.calls[0][0] as StylizeOptions;
}

test('each flag, set to a value other than its default, reaches its option', async () => {
  const options = await optionsFor([
    '--style-blend-weights', '3,1', '--image-size', '123', '--style-scale', '0.7', '--iterations', '17',
    '--content-weight', '2.5', '--style-weight', '33', '--tv-weight', '0.25', '--content-layers', 'relu3_1,relu4_1',
    '--style-layers', 'relu1_1,relu2_1', '--normalize-gradients', '--optimizer', 'adam', '--learning-rate', '0.3',
    '--lbfgs-history', '7', '--init', 'image', '--init-image', start, '--seed', '9', '--pooling', 'max',
    '--precision', 'bfloat16', '--original-colors', '--model', 'random', '--preprocess', 'caffe', '--device', 'cpu',
    '--threads', '1', '--print-iter', '4', '--save-iter', '6',
  ]);
  const { onProgress, signal, ...values } = options;
  expect(values).toEqual({
    content, style: [styleA, styleB], output, styleBlendWeights: [3, 1], imageSize: 123, styleScale: 0.7, iterations: 17,
    contentWeight: 2.5, styleWeight: 33, tvWeight: 0.25, contentLayers: ['relu3_1', 'relu4_1'], styleLayers: ['relu1_1', 'relu2_1'],
    normalizeGradients: true, optimizer: 'adam', learningRate: 0.3, lbfgsHistory: 7, init: 'image', initImage: start, seed: 9,
    pooling: 'max', precision: 'bfloat16', originalColors: true, model: 'random', preprocess: 'caffe', device: 'cpu', threads: 1,
    progressInterval: 4, previewInterval: 6,
  });
  expect(typeof onProgress).toBe('function');
  expect(signal).toBeUndefined();
});

test('flags left out are left out, so that the API applies its own defaults', async () => {
  const { onProgress: _onProgress, ...values } = await optionsFor([]);
  // Reports only after the last iteration: --print-iter 0.
  expect(values).toEqual({ content, style: [styleA, styleB], output, progressInterval: 50 });
  const { onProgress: _quiet, ...quiet } = await optionsFor(['--print-iter', '0']);
  expect(quiet.progressInterval).toBe(2 ** 31 - 1);
});
