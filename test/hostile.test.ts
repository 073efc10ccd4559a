// Hostile inputs, generated: images, option values, model files, losses that overflow, and the
// command line interrupted or cut off. Every one must be refused with an error that names the
// input it was given as and what was expected, without crashing, hanging or leaving a file
// behind. Each kind prints "N cases, N clean".
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import sharp from 'sharp';

import { stylize, StylizeOptions } from '../lib';
import { fixture, pattern, patternPng, randomRunFlags, temporaryDir } from './helpers';

const inputs = ['content', 'style', 'initImage'] as const;

/** Images that no decoder should take: each format cut short at many points, and other damage. */
async function hostileImages(): Promise<Array<[string, Buffer]>> {
  const { data, width, height } = pattern(40, 32, 3);
  const raw = sharp(data, { raw: { width, height, channels: 3 } });
  const formats = {
    png: await raw.clone().png().toBuffer(),
    jpeg: await raw.clone().jpeg().toBuffer(),
    webp: await raw.clone().webp().toBuffer(),
  };
  const cases: Array<[string, Buffer]> = [];
  for (const [format, encoded] of Object.entries(formats)) {
    // Cut short: from the signature alone to the last tenth, in 24 steps.
    for (let step = 0; step < 24; step++) {
      const length = Math.max(4, Math.floor((encoded.length * 0.9 * step) / 24));
      cases.push([`${format} cut to ${length} of ${encoded.length} bytes`, encoded.subarray(0, length)]);
    }
    // Its signature, then noise.
    for (let seed = 1; seed <= 6; seed++) {
      const noise = Buffer.from(encoded.subarray(0, 16));
      const rest = Buffer.alloc(200);
      for (let i = 0; i < rest.length; i++) rest[i] = (i * 131 + seed * 7919) % 256;
      cases.push([`${format} signature then noise ${seed}`, Buffer.concat([noise, rest])]);
    }
  }
  for (let seed = 1; seed <= 10; seed++) {
    const noise = Buffer.alloc(64 * seed);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 197 + seed * 31) % 256;
    cases.push([`${noise.length} bytes of noise`, noise]);
  }
  cases.push(['a text file', Buffer.from('not an image at all\n')]);
  return cases;
}

/** One iteration of the tiny model on `image`, written to `output`: what each hostile input is put into. */
const tinyRun = (image: Buffer, output: string): StylizeOptions => ({
  content: image,
  style: image,
  model: fixture('tiny-numbered.pt'),
  imageSize: 40,
  iterations: 1,
  output,
});

test('every hostile image, as every input, is refused by name with its reason', async () => {
  const dir = temporaryDir();
  const output = join(dir, 'out.png');
  const good = await patternPng(0);
  const images = await hostileImages();
  let clean = 0;
  const unclean: string[] = [];
  for (const input of inputs) {
    for (const [title, bytes] of images) {
      const options: StylizeOptions = { ...tinyRun(good, output), [input]: bytes };
      let progressed = false;
      const error = (await stylize({ ...options, onProgress: () => (progressed = true) }).catch((e: unknown) => e)) as
        Error | undefined;
      const message = error instanceof Error ? error.message : String(error);
      const named = new RegExp(
        `^Could not read ${input} \\(a Buffer of ${bytes.length} bytes\\) as an image: (?!Unknown error).+`,
      ).test(message);
      if (error && named && !progressed && readdirSync(dir).length === 0) clean++;
      else unclean.push(`${input}, ${title}: ${error ? message : 'ran'}`);
    }
  }
  const cases = inputs.length * images.length;
  console.log(`${cases} cases, ${clean} clean`);
  expect(unclean).toEqual([]);
  expect(cases).toBeGreaterThanOrEqual(300);
});

/**
 * Values of every kind; those an option's own check takes are not hostile to it, and are left out.
 * (An object whose getter throws passes the caller's own exception through, as JavaScript does.)
 */
const hostileValues: Array<[string, unknown]> = [
  ['null', null],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['-1', -1],
  ['-1e308', -1e308],
  ['1.5', 1.5],
  ['2^53', 2 ** 53],
  ['0', 0],
  ["''", ''],
  ["'nonsense'", 'nonsense'],
  ["'../../etc/passwd'", '../../etc/passwd'],
  ['{}', {}],
  ['[]', []],
  ['[null]', [null]],
  ['[-1]', [-1]],
  ["['relu9_9']", ['relu9_9']],
  ['true', true],
  ['a function', () => 1],
  ['a Symbol', Symbol('x')],
  ['1n', 1n],
  ['a Date', new Date(0)],
];

const tally = { cases: 0, clean: 0 };

test("every hostile value, as every option, is refused by that option's name before any native work", async () => {
  const { optionTable } = await import('../lib/options');
  const dir = temporaryDir();
  const output = join(dir, 'out.png');
  const good = await patternPng(0);
  const base = tinyRun(good, output);
  const unclean: string[] = [];
  let cases = 0;
  for (const [name, spec] of Object.entries(optionTable)) {
    for (const [title, value] of hostileValues) {
      // Not hostile where the option's own check takes the value (0 for seed, true for a flag).
      try {
        (spec.check as (name: string, value: unknown) => unknown)(name, value);
        continue;
      } catch {
        // Refused by the check, as it should be by stylize().
      }
      cases++;
      let progressed = false;
      const error = (await stylize({
        ...base,
        [name]: value,
        onProgress: name === 'onProgress' ? (value as never) : () => (progressed = true),
      }).catch((e: unknown) => e)) as Error | undefined;
      const message = error instanceof Error ? error.message : String(error);
      const named = new RegExp(`\\b${name}\\b`).test(message);
      if (error instanceof Error && named && !progressed && readdirSync(dir).length === 0) continue;
      unclean.push(`${name} = ${title}: ${error ? message : 'ran'}`);
    }
  }
  console.log(`options: ${cases} cases, ${cases - unclean.length} clean`);
  tally.cases += cases;
  tally.clean += cases - unclean.length;
  expect(unclean).toEqual([]);
  expect(cases).toBeGreaterThanOrEqual(300);
});

/** Model files no loader should take: a good one cut short and changed at many points, and others. */
function hostileModels(dir: string): Array<[string, string]> {
  const good = readFileSync(fixture('tiny-numbered.pt'));
  const cases: Array<[string, string]> = [];
  const write = (title: string, bytes: Buffer) => {
    const path = join(dir, `model-${cases.length}.pt`);
    writeFileSync(path, bytes);
    cases.push([title, path]);
  };
  for (let step = 0; step < 20; step++) {
    const length = Math.floor((good.length * step) / 20);
    write(`cut to ${length} of ${good.length} bytes`, good.subarray(0, length));
  }
  for (let step = 1; step <= 20; step++) {
    const changed = Buffer.from(good);
    const at = Math.floor((changed.length * step) / 21);
    changed[at] ^= 0x5a;
    write(`byte ${at} changed`, changed);
  }
  write('noise', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 197) % 256)));
  write('a text file', Buffer.from('not a model\n'));
  for (const name of ['zip-not-torchscript.pt', 'tiny-features.pth', 'nan-weights.pt', 'huge-weights.pt', 'not-vgg.pt'])
    cases.push([name, fixture(name)]);
  mkdirSync(join(dir, 'folder.pt'));
  cases.push(['a folder', join(dir, 'folder.pt')]);
  cases.push(['a missing file', join(dir, 'missing.pt')]);
  return cases;
}

test('every hostile model file is refused with its path, never crashing or writing', async () => {
  const models = temporaryDir();
  const outputs = temporaryDir();
  const good = await patternPng(0);
  const run = (model: string) =>
    stylize({ content: good, style: good, model, imageSize: 40, iterations: 1, output: join(outputs, 'out.png') });
  const { image: goodResult } = await run(fixture('tiny-numbered.pt'));
  rmSync(join(outputs, 'out.png'));
  const unclean: string[] = [];
  let cases = 0;
  for (const [title, model] of hostileModels(models)) {
    const outcome = await run(model).catch((error: Error) => error);
    // A changed byte in the zip's padding changes nothing the file is read for: not hostile.
    // (Errors from the addon are of another realm's Error than the test's: told apart by their message.)
    if (!('message' in outcome) && outcome.image.data.equals(goodResult.data)) {
      rmSync(join(outputs, 'out.png'));
      continue;
    }
    cases++;
    const message = 'message' in outcome ? outcome.message : 'ran';
    if (message.includes(model) && readdirSync(outputs).length === 0) continue;
    unclean.push(`${title}: ${message}`);
    rmSync(join(outputs, 'out.png'), { force: true });
  }
  console.log(`model files: ${cases} cases, ${cases - unclean.length} clean`);
  tally.cases += cases;
  tally.clean += cases - unclean.length;
  expect(unclean).toEqual([]);
  expect(cases).toBeGreaterThanOrEqual(40);
});

test('a run whose loss overflows is refused with what to lower, and writes nothing', async () => {
  const outputs = temporaryDir();
  const good = await patternPng(0);
  // Weights past float32's range once multiplied by the losses (random weights' losses are small:
  // a content weight of 1e38 alone stays finite).
  const cases: Array<[string, Partial<StylizeOptions>]> = [
    ['styleWeight 1e38', { styleWeight: 1e38 }],
    ['tvWeight 1e38', { tvWeight: 1e38 }],
    ['all three 1e38', { styleWeight: 1e38, contentWeight: 1e38, tvWeight: 1e38 }],
    ['adam, learningRate 1e30, styleWeight 1e30', { optimizer: 'adam', learningRate: 1e30, styleWeight: 1e30 }],
  ];
  const unclean: string[] = [];
  for (const [title, extra] of cases) {
    const options = {
      content: good,
      style: good,
      model: 'random',
      imageSize: 40,
      iterations: 3,
      output: join(outputs, 'out.png'),
      ...extra,
    };
    const error = (await stylize(options).then(
      () => undefined,
      (e: unknown) => e,
    )) as (Error & { code?: string }) | undefined;
    if (
      error?.code === 'NEURAL_STYLE_LOSS_NOT_FINITE' &&
      /lower the loss weights/.test(error.message) &&
      readdirSync(outputs).length === 0
    )
      continue;
    unclean.push(`${title}: ${error ? error.message : 'ran'}`);
  }
  console.log(`overflow: ${cases.length} cases, ${cases.length - unclean.length} clean`);
  tally.cases += cases.length;
  tally.clean += cases.length - unclean.length;
  expect(unclean).toEqual([]);
});

test('the command line, interrupted or cut off, stops at once and leaves no file', async () => {
  const dir = temporaryDir();
  const content = join(dir, 'c.png');
  writeFileSync(content, await patternPng(0));
  const cli = join(__dirname, '..', 'dist', 'cli.js');
  const args = [...randomRunFlags(content, 96, 5000), '--threads', '1'];
  const cases: Array<[string, (child: ChildProcess) => void, (code: number | null, stderr: string) => boolean]> = [
    ['SIGINT', (child) => child.kill('SIGINT'), (code, stderr) => code === 130 && /interrupted/.test(stderr)],
    ['SIGTERM', (child) => child.kill('SIGTERM'), (code, stderr) => code === 143 && /interrupted/.test(stderr)],
    [
      'its reader going away (--json | head -1)',
      (child) => child.stdout!.destroy(),
      // Quietly: nothing but the warning that random weights give.
      (code, stderr) => code === 0 && !/neural-style: (?!warning)/.test(stderr),
    ],
  ];
  const unclean: string[] = [];
  for (const [title, end, expected] of cases) {
    const output = join(dir, `out-${cases.findIndex(([name]) => name === title)}.png`);
    const child = spawn(
      process.execPath,
      [cli, ...args, '--output', output, '--json', '--print-iter', '1', '--save-iter', '1'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    // Once it reports a second iteration, so that a snapshot has been written and the run is under way.
    await new Promise<void>((resolve) => {
      let seen = '';
      child.stdout!.on('data', (chunk) => {
        seen += chunk;
        if (seen.split('\n').length > 2) resolve();
      });
    });
    const started = performance.now();
    end(child);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (status) => resolve(status)));
    const tookMs = performance.now() - started;
    const left = readdirSync(dir).filter((name) => name.startsWith('.') || name === basename(output));
    if (expected(code, stderr) && tookMs < 10000 && left.length === 0) continue;
    unclean.push(
      `${title}: exit ${code} after ${tookMs.toFixed(0)} ms, stderr ${JSON.stringify(stderr)}, left ${left.join(', ')}`,
    );
  }
  console.log(`command line: ${cases.length} cases, ${cases.length - unclean.length} clean`);
  tally.cases += cases.length;
  tally.clean += cases.length - unclean.length;
  expect(unclean).toEqual([]);
});

afterAll(() => {
  // The images' cases count apart, in their own test's line; these are the rest.
  console.log(`options, model files, overflow and the command line: ${tally.cases} cases, ${tally.clean} clean`);
});
