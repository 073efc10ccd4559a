// The option table and what comes from it: every flag of the command line reaches stylize() as its
// option, an option added to the table appears in the types, the checks, the command line, its
// help and the docs, and the docs' table is the table's. stylize() itself is replaced, so that
// each flag can take a value no run would need.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { main } from '../lib/cli';
import { nonNegativeNumber } from '../lib/checks';
import {
  option,
  optionDocs,
  OptionTable,
  OptionsOf,
  optionTable,
  resolveOptions,
  withOptionDocs,
} from '../lib/options';
import { stylizeOptionsOf } from './cli-harness';
import { temporaryDir } from './helpers';

jest.mock('../lib/stylize', () => jest.requireActual('./cli-harness').stylizeMock);

const dir = temporaryDir();
const [content, styleA, styleB, start, output] = ['c.png', 'a.png', 'b.png', 'i.png', 'o.png'].map((name) =>
  join(dir, name),
);

const optionsFor = (args: string[], table: OptionTable = optionTable as OptionTable) =>
  stylizeOptionsOf(['--content', content, '--style', `${styleA},${styleB}`, '--output', output, ...args], table);

test('each flag, set to a value other than its default, reaches its option', async () => {
  const options = await optionsFor([
    '--style-blend-weights',
    '3,1',
    '--image-size',
    '123',
    '--style-scale',
    '0.7',
    '--scales',
    '64,123',
    '--iterations-per-scale',
    '9',
    '--iterations',
    '17',
    '--content-weight',
    '2.5',
    '--style-weight',
    '33',
    '--tv-weight',
    '0.25',
    '--content-layers',
    'relu3_1,relu4_1',
    '--style-layers',
    'relu1_1,relu2_1',
    '--normalize-gradients',
    '--style-layer-weights',
    'relu1_1:2, relu2_1:0.5',
    '--style-normalization',
    'paper',
    '--color-mode',
    'histogram',
    '--color-transfer',
    'pca',
    '--optimizer',
    'adam',
    '--learning-rate',
    '0.3',
    '--lbfgs-history',
    '7',
    '--init',
    'image',
    '--init-image',
    start,
    '--seed',
    '9',
    '--pooling',
    'max',
    '--precision',
    'bfloat16',
    '--normalize-network',
    '--calibration-images',
    start,
    '--original-colors',
    '--model',
    'random',
    '--preprocess',
    'caffe',
    '--device',
    'cpu',
    '--threads',
    '1',
    '--print-iter',
    '4',
    '--save-iter',
    '6',
    '--style-masks',
    `${styleA},${styleB}`,
    '--record',
    '--contact-sheet',
  ]);
  const { onProgress, signal, ...values } = options;
  expect(values).toEqual({
    content,
    style: [styleA, styleB],
    output,
    styleBlendWeights: [3, 1],
    imageSize: 123,
    styleScale: 0.7,
    scales: [64, 123],
    iterationsPerScale: 9,
    iterations: 17,
    contentWeight: 2.5,
    styleWeight: 33,
    tvWeight: 0.25,
    contentLayers: ['relu3_1', 'relu4_1'],
    styleLayers: ['relu1_1', 'relu2_1'],
    normalizeGradients: true,
    styleLayerWeights: { relu1_1: 2, relu2_1: 0.5 },
    styleNormalization: 'paper',
    colorMode: 'histogram',
    colorTransfer: 'pca',
    optimizer: 'adam',
    learningRate: 0.3,
    lbfgsHistory: 7,
    init: 'image',
    initImage: start,
    seed: 9,
    pooling: 'max',
    precision: 'bfloat16',
    normalizeNetwork: true,
    calibrationImages: [start],
    originalColors: true,
    model: 'random',
    preprocess: 'caffe',
    device: 'cpu',
    threads: 1,
    progressInterval: 4,
    previewInterval: 6,
    styleMasks: [styleA, styleB],
    record: true,
    contactSheet: true,
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

describe('an option added to the table', () => {
  const table = {
    ...optionTable,
    brightness: option({
      check: nonNegativeNumber,
      default: 1,
      flag: { name: 'brightness', group: 'Output', type: 'number' },
      description: 'A made-up option, for this test',
    }),
  };

  test('is typed', () => {
    const options: OptionsOf<typeof table> = { content, style: styleA, brightness: 2 };
    // @ts-expect-error: a string is no number
    const wrong: OptionsOf<typeof table> = { content, style: styleA, brightness: 'bright' };
    expect([options, wrong]).toHaveLength(2);
  });

  test('is checked and defaulted', () => {
    const images = { content: Buffer.from('c'), style: Buffer.from('s'), model: 'random' };
    expect(resolveOptions(images, table).brightness).toBe(1);
    expect(resolveOptions({ ...images, brightness: 3 }, table).brightness).toBe(3);
    expect(() => resolveOptions({ ...images, brightness: -1 }, table)).toThrow(
      /^Expected a non-negative number for brightness but received -1 of type number$/,
    );
    // Without it in the table it is unknown, and an unknown name close to a known one is pointed to it.
    expect(() => resolveOptions({ ...images, brightness: 3 } as never)).toThrow(/^Unknown option brightness$/);
    expect(() => resolveOptions({ ...images, iteration: 3 } as never)).toThrow(
      /^Unknown option iteration: did you mean iterations\?$/,
    );
  });

  test('is a flag of the command line, in its help group', async () => {
    expect((await optionsFor(['--brightness', '4'], table)) as Record<string, unknown>).toMatchObject({
      brightness: 4,
    });
    // yargs prints the help, then exits: the exit is stopped where it would end the test.
    const printed: string[] = [];
    jest.spyOn(console, 'log').mockImplementation((text: string) => printed.push(text));
    jest.spyOn(process, 'exit').mockImplementation(() => {
      throw new Error('exit');
    });
    try {
      await expect(main(['--help'], undefined, table)).rejects.toThrow('exit');
    } finally {
      jest.restoreAllMocks();
    }
    const output = printed.join('\n').split('\nOutput:\n')[1];
    expect(output).toMatch(/^ +--brightness +A made-up option, for this test +\[number\] \[default: 1\]$/m);
  });

  test('is a row of the docs', () => {
    expect(optionDocs(table).split('\n').at(-1)).toBe(
      '| `brightness` | `--brightness` | a non-negative number | 1 | A made-up option, for this test |',
    );
  });
});

test("docs/api.md's option table is the table's (npm run docs writes it)", () => {
  const page = readFileSync(join(__dirname, '..', 'docs', 'api.md'), 'utf8');
  expect(withOptionDocs(page)).toBe(page);
});
