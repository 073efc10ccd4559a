import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

import { colourDistance, fixture, largestDifference, pattern, temporaryDir } from './helpers';

const cli = join(__dirname, '..', 'dist', 'cli.js');
const dir = temporaryDir();

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

beforeAll(async () => {
  for (const [name, seed] of [
    ['content.png', 0],
    ['style.png', 1],
  ] as const) {
    const image = pattern(48, 36, seed);
    await sharp(image.data, { raw: { width: 48, height: 36, channels: 3 } }).toFile(join(dir, name));
  }
});

const common = () => [
  '--content',
  join(dir, 'content.png'),
  '--style',
  join(dir, 'style.png'),
  '--image-size',
  '48',
  '--threads',
  '2',
];

/** The usual images and the tiny model, writing `output`, then `flags`. */
const tinyModelArgs = (output: string, ...flags: string[]) => [
  ...common(),
  '--output',
  output,
  '--model',
  fixture('tiny-numbered.pt'),
  ...flags,
];

/** A run of 1000 iterations (minutes) that reports each one as JSON, for a test to end early. */
const longRun = (output: string, ...flags: string[]) =>
  spawn(process.execPath, [
    cli,
    ...common(),
    ...['--output', output, '--model', 'random', '--image-size', '96'],
    ...['--iterations', '1000', '--print-iter', '1', '--json'],
    ...flags,
  ]);

test('--json prints a progress object per reported iteration, then a done object', () => {
  const output = join(dir, 'json.png');
  const result = run(tinyModelArgs(output, '--iterations', '6', '--print-iter', '2', '--json'));
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  const lines = result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  expect(lines.map((line) => line.event)).toEqual(['progress', 'progress', 'progress', 'done']);
  expect(Object.keys(lines[0])).toEqual([
    'event',
    'iteration',
    'iterations',
    'scale',
    'scales',
    'loss',
    'content',
    'style',
    'tv',
    'elapsedMs',
  ]);
  expect(lines.slice(0, 3).map((line) => line.iteration)).toEqual([2, 4, 6]);
  expect(lines[3]).toMatchObject({ event: 'done', output, iterations: 6, loss: lines[2].loss });
  expect(Object.keys(lines[3])).toEqual(['event', 'output', 'iterations', 'loss', 'elapsedMs']);
  expect(existsSync(output)).toBe(true);
});

test('--save-iter writes OUTPUT_N every N iterations; random weights warn on stderr', async () => {
  const sub = temporaryDir();
  const output = join(sub, 'out.jpg');
  const result = run([
    ...common(),
    '--output',
    output,
    '--model',
    'random',
    '--iterations',
    '7',
    '--save-iter',
    '3',
    '--print-iter',
    '2',
  ]);
  expect(result.status).toBe(0);
  expect(result.stderr).toMatch(/^neural-style: warning: model random has untrained weights/);
  expect(readdirSync(sub).sort()).toEqual(['out.jpg', 'out_3.jpg', 'out_6.jpg']);
  expect((await sharp(join(sub, 'out_3.jpg')).metadata()).format).toBe('jpeg');
  expect(result.stdout).toMatch(/^Iteration 2 \/ 7: loss /m);
  expect(result.stdout).toMatch(/^Wrote .*out\.jpg \(7 iterations on cpu in /m);
});

test("jcjohnson/neural-style's spelling runs as it is: -content_image, -num_iterations, -gpu -1", async () => {
  const output = join(dir, 'classic.png');
  const result = run(
    [
      '-style_image',
      join(dir, 'style.png'),
      '-content_image',
      join(dir, 'content.png'),
      '-output_image',
      output,
      '-image_size',
      '64',
      '-num_iterations',
      '2',
      '-gpu',
      '-1',
    ],
    { NEURAL_STYLE_MODEL: fixture('tiny-numbered.pt') },
  );
  expect(result.stderr).toBe('');
  expect(result.stdout).toMatch(/^Wrote .*classic\.png \(2 iterations on cpu in /m);
  expect((await sharp(output).metadata()).width).toBe(64);
});

test('--precision bfloat16 reaches the engine: losses a little off the float32 ones', () => {
  // A full-width VGG-19: the tiny models' layers are all too narrow to run in bfloat16.
  const firstLoss = (precision: string) => {
    const result = run([
      ...common(),
      '--output',
      join(dir, `${precision}.png`),
      '--model',
      'random',
      '--iterations',
      '1',
      '--json',
      '--precision',
      precision,
    ]);
    expect(result.status).toBe(0);
    return JSON.parse(result.stdout.split('\n')[0]).loss as number;
  };
  const [single, brain] = [firstLoss('float32'), firstLoss('bfloat16')];
  expect(brain).not.toBe(single);
  expect(Math.abs(brain - single) / single).toBeLessThan(3e-2);
});

test("--original-colors keeps the content's colours", async () => {
  const content = await sharp(join(dir, 'content.png')).raw().toBuffer();
  const distances = [];
  for (const flags of [[], ['--original-colors']]) {
    const output = join(dir, `colours${flags.length}.png`);
    expect(run([...common(), '--output', output, '--model', 'random', '--iterations', '4', ...flags]).status).toBe(0);
    distances.push(colourDistance(await sharp(output).raw().toBuffer(), content));
  }
  expect(distances[0]).toBeGreaterThan(10);
  expect(distances[1]).toBeLessThan(2);
});

test('--init-image starts from that image; --save-iter 1 shows the start', async () => {
  const sub = temporaryDir();
  const start = pattern(48, 36, 5);
  await sharp(start.data, { raw: { width: 48, height: 36, channels: 3 } }).toFile(join(sub, 'start.png'));
  const output = join(sub, 'out.png');
  const result = run(
    tinyModelArgs(output, '--iterations', '1', '--save-iter', '1', '--init-image', join(sub, 'start.png')),
  );
  expect(result.status).toBe(0);
  const first = await sharp(join(sub, 'out_1.png')).raw().toBuffer();
  expect(largestDifference(first, start.data)).toBeLessThanOrEqual(1);
});

test.each([
  ['a missing option', ['--content', 'a.png'], /^neural-style: Missing required arguments: style, output\n$/],
  [
    'a bad value',
    ['--iterations', '-3'],
    /^neural-style: Expected a positive integer for --iterations but received -3 of type number\n$/,
  ],
  [
    'an L-BFGS history too large for memory',
    ['--lbfgs-history', '2000000000', '--device', 'cpu'],
    /^neural-style: --lbfgs-history 2000000000 on a 48x36 image needs about \d+\.\d GB of memory on the CPU, but \d+\.\d GB is available: lower --lbfgs-history\n$/,
  ],
  [
    'a bad style scale',
    ['--style-scale', '0'],
    /^neural-style: Expected a positive number for --style-scale but received 0 of type number\n$/,
  ],
  [
    'an init image with --init random',
    ['--init', 'random', '--init-image', 'start.png'],
    /^neural-style: --init-image is a starting image, but --init is 'random': leave --init out or make it 'image'\n$/,
  ],
  [
    'a bad number',
    ['--image-size', 'big'],
    /^neural-style: Expected a positive integer for --image-size but received NaN of type number\n$/,
  ],
  ['an unknown flag', ['--colour', 'red'], /^neural-style: Unknown flag --colour\n$/],
  [
    'a bad choice',
    ['--optimizer', 'sgd'],
    /^neural-style: Expected one of lbfgs, adam for --optimizer but received 'sgd'\n$/,
  ],
  ['a non-VGG model', ['--model', 'NOT_VGG'], /^neural-style: Model .*not-vgg\.pt is not a VGG network/],
])('%s: one line on stderr, non-zero exit, no output', (_title, args, message) => {
  const output = join(dir, 'failed.png');
  const fullArgs = args[0] === '--content' ? [...args] : tinyModelArgs(output, ...args);
  const result = run(fullArgs.map((arg) => (arg === 'NOT_VGG' ? fixture('not-vgg.pt') : arg)));
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(message);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(existsSync(output)).toBe(false);
});

test.each([
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)('%s stops the run within an iteration: exit %d, no output, no partial files', async (signal, code) => {
  const sub = temporaryDir();
  const output = join(sub, 'out.png');
  const child = longRun(output, '--save-iter', '1');
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  // Interrupt once the run is under way.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const interrupted = Date.now();
  child.kill(signal);
  const status = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
  expect(Date.now() - interrupted).toBeLessThan(5000);
  expect(status).toBe(code);
  expect(stderr).toMatch(/^neural-style: interrupted$/m);
  expect(existsSync(output)).toBe(false);
  expect(readdirSync(sub).filter((name) => name.endsWith('.tmp'))).toEqual([]);
});

test('convert-model writes the model that --model then runs; a bad state dict is one line on stderr', () => {
  const model = join(dir, 'converted.pt');
  const converted = run([
    'convert-model',
    '--weights',
    fixture('tiny-features.pth'),
    '--preprocess',
    'caffe',
    '--output',
    model,
  ]);
  expect(converted.stderr).toBe('');
  expect(converted.stdout).toBe(`Wrote ${model} (caffe preprocessing)\n`);
  const stylized = run([
    ...common(),
    '--output',
    join(dir, 'converted.png'),
    '--model',
    model,
    '--iterations',
    '2',
    '--json',
  ]);
  expect(stylized.status).toBe(0);

  const refused = run([
    'convert-model',
    '--weights',
    fixture('list.pth'),
    '--preprocess',
    'caffe',
    '--output',
    join(dir, 'refused.pt'),
  ]);
  expect(refused.status).toBe(1);
  expect(refused.stderr).toMatch(/^neural-style: .*list\.pth holds a list, not a state dict of tensors\n$/);
  expect(existsSync(join(dir, 'refused.pt'))).toBe(false);
});

test('--help and --version', () => {
  const help = run(['--help']);
  expect(help.status).toBe(0);
  for (const flag of [
    '--content',
    '--style-weight',
    '--save-iter',
    '--json',
    '--preprocess',
    '--original-colors',
    '--style-scale',
    '--init-image',
    '--normalize-gradients',
    '--precision',
    'download-model',
    'convert-model',
  ])
    expect(help.stdout).toContain(flag);
  expect(run(['-h']).stdout).toBe(help.stdout);
  expect(help.stdout).toMatch(/^Examples:\n {2}neural-style --content photo\.jpg --style/m);
  expect(help.stdout).toContain('-content_image photo.jpg');
  const download = run(['download-model', '--help']);
  for (const flag of ['--weights', '--url', '--sha256', '--output']) expect(download.stdout).toContain(flag);
  const version = run(['--version']);
  expect(version.stdout.trim()).toBe(require('../package.json').version);
});

test('a bare neural-style prints the help', () => {
  const bare = run([]);
  expect(bare.status).toBe(0);
  expect(bare.stdout).toBe(run(['--help']).stdout);
});

test.each([
  [
    ['paint'],
    'Unknown command paint: the commands are download-model, convert-model, model, plot, doctor, setup, bundle, or none to stylize',
  ],
  [
    ['donwload-model'],
    'Unknown command donwload-model: did you mean download-model? the commands are download-model, convert-model, model, plot, doctor, setup, bundle, or none to stylize',
  ],
  [['--num-iterations', '3'], 'Unknown flag --num-iterations (did you mean --iterations?)'],
])('%j is one line that says what is wrong', (args, message) => {
  const first = args[0].startsWith('-') ? [...common(), '--output', join(dir, 'never.png'), ...args] : args;
  const result = run(first);
  expect(result.status).toBe(1);
  expect(result.stderr).toBe(`neural-style: ${message}\n`);
});

test('a reader that goes away ends the run quietly: `neural-style --json | head -1`', async () => {
  const output = join(dir, 'piped.png');
  const child = longRun(output);
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const closed = Date.now();
  child.stdout.destroy();
  const status = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
  expect(Date.now() - closed).toBeLessThan(5000);
  expect(status).toBe(0);
  // The warning that model random has untrained weights, and nothing else: no stack trace.
  expect(stderr).toMatch(/^neural-style: warning: model random has untrained weights[^\n]*\n$/);
  expect(existsSync(output)).toBe(false);
});
