// The research controls of issue 17, each shown doing what it says: the result is the image that
// was evaluated, per-layer style weights, the colour modes, and styles from a folder. (The
// objective's per-layer weights and the paper's style normalisation are checked against PyTorch
// in parity.test.ts.)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

import { convertModel, lossPlot, ProgressEvent, readRecord, runtimeInfo, stylize, StylizeOptions } from '../lib';
import { flagNames, iterationPath, main } from '../lib/cli';
import { OptionError } from '../lib/errors';
import { decodeImage, decodeMask } from '../lib/image';
import { addon, nativeModelOptions } from '../lib/native';
import { resolveOptions } from '../lib/options';
import {
  fixture,
  largestDifference,
  luma,
  pattern,
  patternPng,
  planar,
  png,
  randomRunFlags,
  referencePython,
  relativeError,
  temporaryDir,
  writeRaw,
} from './helpers';

async function base(extra: Partial<StylizeOptions> = {}): Promise<StylizeOptions> {
  return {
    content: await patternPng(0),
    style: await patternPng(1),
    model: 'random',
    iterations: 6,
    imageSize: 40,
    threads: 2,
    ...extra,
  };
}

/** The run's progress events, and its result. */
async function recorded(options: StylizeOptions) {
  const events: ProgressEvent[] = [];
  const result = await stylize({ ...options, onProgress: (event) => events.push(event) });
  return { events, result };
}

describe('the result is the image that was evaluated', () => {
  test.each(['lbfgs', 'adam'] as const)('%s: the last preview, the result and its loss agree', async (optimizer) => {
    const { events, result } = await recorded(await base({ optimizer, iterations: 12, previewInterval: 12 }));
    const last = events.at(-1)!;
    expect(last.iteration).toBe(12);
    // Before, the optimiser's step after the last evaluation made the result differ from it.
    expect(result.image.data.equals(last.preview!.data)).toBe(true);
    expect(result.loss).toBe(last.loss);
  });

  test('the command line: --iterations 12 --save-iter 12 writes the same bytes twice', async () => {
    const dir = temporaryDir();
    const content = join(dir, 'c.png');
    writeFileSync(content, await patternPng(0));
    const output = join(dir, 'o.png');
    const print = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await main([...randomRunFlags(content, 40, 12), '--save-iter', '12', '--output', output]);
    } finally {
      print.mockRestore();
    }
    expect(readFileSync(join(dir, 'o_12.png')).equals(readFileSync(output))).toBe(true);
  });

  test('a run whose loss overflows rejects rather than writing an image whose loss is unknown', async () => {
    const output = join(temporaryDir(), 'o.png');
    for (const styleWeight of [1e20, 1e30, 1e38]) {
      const outcome = await stylize(await base({ styleWeight, iterations: 2, output })).catch((error: Error) => error);
      if (outcome instanceof Error) {
        expect(outcome).toMatchObject({ code: 'NEURAL_STYLE_LOSS_NOT_FINITE' });
      } else {
        expect(Number.isFinite(outcome.loss)).toBe(true);
      }
    }
  });
});

describe('per-layer style weights', () => {
  test('a layer weighed 0 adds nothing; the others keep their loss', async () => {
    const styleLayers = ['relu1_1', 'relu2_1'];
    const first = async (styleLayerWeights: Record<string, number>, layers = styleLayers) =>
      (await recorded(await base({ iterations: 1, styleLayers: layers, styleLayerWeights }))).events[0];
    const [both, withoutFirst, secondAlone] = await Promise.all([
      first({}),
      first({ relu1_1: 0 }),
      first({}, ['relu2_1']),
    ]);
    expect(relativeError(withoutFirst.style, secondAlone.style)).toBeLessThan(1e-6);
    expect(both.style).toBeGreaterThan(withoutFirst.style * 1.01);
  });

  test("weights for layers that are not style layers are refused, in the caller's names", () => {
    const options = {
      content: Buffer.from('x'),
      style: Buffer.from('y'),
      model: 'random',
      styleLayerWeights: { relu4_2: 1 },
    };
    expect(() => resolveOptions(options)).toThrow(
      'styleLayerWeights weighs relu4_2, which styleLayers does not name: it names relu1_1, relu2_1, relu3_1, relu4_1, relu5_1',
    );
    try {
      resolveOptions(options);
    } catch (caught) {
      expect((caught as OptionError).toldWith(flagNames)).toMatch(
        /^--style-layer-weights weighs relu4_2, which --style-layers/,
      );
    }
    expect(() => resolveOptions({ ...options, styleLayerWeights: { relu1_1: -1 } })).toThrow(
      /Expected an object of VGG layer names and non-negative numbers.*for styleLayerWeights/,
    );
  });
});

/** Each pixel's chrominance (R - Y, B - Y), and whether a channel sits at 0 or 255. */
function chroma(data: Buffer, i: number) {
  const y = luma(data, i);
  return {
    u: data[i + 2] - y,
    v: data[i] - y,
    clipped: [0, 1, 2].some((c) => data[i + c] === 0 || data[i + c] === 255),
  };
}

describe('colour modes (Gatys et al. 2017)', () => {
  test("luminance: the result has the content's chrominance, and the styles' colours do not count", async () => {
    const content = pattern(40, 32, 0);
    const { result } = await recorded(
      await base({ content: await png(content), colorMode: 'luminance', iterations: 8 }),
    );
    let worst = 0;
    let compared = 0;
    for (let i = 0; i < content.data.length; i += 3) {
      const [kept, original] = [chroma(result.image.data, i), chroma(content.data, i)];
      if (kept.clipped) continue;
      compared++;
      worst = Math.max(worst, Math.abs(kept.u - original.u), Math.abs(kept.v - original.v));
    }
    expect(compared).toBeGreaterThan(content.data.length / 3 / 2);
    // Rounding each channel to a byte moves a chrominance by at most about one level.
    expect(worst).toBeLessThan(1.5);

    // A style and its own grey version: the same to luminance-only transfer, not to RGB.
    const style = pattern(40, 32, 1);
    const grey = Buffer.alloc(style.data.length);
    for (let i = 0; i < grey.length; i += 3) grey.fill(Math.round(luma(style.data, i)), i, i + 3);
    const firstStyleLoss = async (colorMode: 'rgb' | 'luminance', data: Buffer) =>
      (await recorded(await base({ style: await png({ ...style, data }), colorMode, iterations: 1 }))).events[0].style;
    const [colourful, greyed] = await Promise.all([
      firstStyleLoss('luminance', style.data),
      firstStyleLoss('luminance', grey),
    ]);
    expect(relativeError(greyed, colourful)).toBeLessThan(1e-2);
    const [rgbColourful, rgbGreyed] = await Promise.all([
      firstStyleLoss('rgb', style.data),
      firstStyleLoss('rgb', grey),
    ]);
    expect(relativeError(rgbGreyed, rgbColourful)).toBeGreaterThan(5e-2);
  });

  test.each(['cholesky', 'pca', 'symmetric'] as const)(
    "histogram (%s): the matched style's colour mean and covariance are the content's within 1%",
    async (colorTransfer) => {
      const moments = (data: Float32Array | Buffer, planar: boolean, scale: number) => {
        const n = data.length / 3;
        const at = (i: number, c: number) => (planar ? data[c * n + i] : data[i * 3 + c]) * scale;
        const mean = [0, 1, 2].map((c) => {
          let sum = 0;
          for (let i = 0; i < n; i++) sum += at(i, c);
          return sum / n;
        });
        const covariance = [0, 1, 2].map((a) =>
          [0, 1, 2].map((b) => {
            let sum = 0;
            for (let i = 0; i < n; i++) sum += (at(i, a) - mean[a]) * (at(i, b) - mean[b]);
            return sum / n;
          }),
        );
        return { mean, covariance };
      };
      const content = pattern(40, 32, 0);
      // A bluer, darker style than the content.
      const style = pattern(48, 40, 3);
      for (let i = 0; i < style.data.length; i += 3) {
        style.data[i] = style.data[i] * 0.5;
        style.data[i + 2] = Math.min(255, style.data[i + 2] * 0.6 + 90);
      }
      const matched = await addon().matchColours({ style, content, colorTransfer });
      expect([matched.width, matched.height]).toEqual([48, 40]);
      const want = moments(content.data, false, 1 / 255);
      const got = moments(matched.data, true, 1);
      const before = moments(style.data, false, 1 / 255);
      const scale = Math.max(...want.covariance.flat().map(Math.abs));
      for (let a = 0; a < 3; a++) {
        expect(Math.abs(got.mean[a] - want.mean[a])).toBeLessThan(0.01 * Math.abs(want.mean[a]));
        for (let b = 0; b < 3; b++)
          expect(Math.abs(got.covariance[a][b] - want.covariance[a][b])).toBeLessThan(0.01 * scale);
      }
      // And the style did not have them already.
      expect(Math.abs(before.mean[0] - want.mean[0]) + Math.abs(before.mean[2] - want.mean[2])).toBeGreaterThan(0.02);

      // A run with the match differs from one without, and colorTransfer chooses the match.
      const first = async (extra: Partial<StylizeOptions>) =>
        (await recorded(await base({ style: await png(style), iterations: 1, ...extra }))).events[0].style;
      expect(relativeError(await first({ colorMode: 'histogram', colorTransfer }), await first({}))).toBeGreaterThan(
        1e-2,
      );
    },
  );

  test('colorTransfer without colorMode histogram is refused', async () => {
    await expect(stylize(await base({ colorTransfer: 'pca' }))).rejects.toThrow(
      "colorTransfer applies to colorMode 'histogram' only, but colorMode is 'rgb'",
    );
  });
});

describe('styles from a folder', () => {
  test('a folder stands for its images in name order; a folder without any is refused', async () => {
    const dir = temporaryDir();
    const folder = join(dir, 'styles');
    mkdirSync(folder);
    mkdirSync(join(folder, 'nested.png'));
    writeFileSync(join(folder, 'b.png'), await patternPng(2));
    writeFileSync(
      join(folder, 'a.jpg'),
      await sharp(await patternPng(1))
        .jpeg()
        .toBuffer(),
    );
    writeFileSync(join(folder, 'notes.txt'), 'not an image');
    const content = await patternPng(0);
    const model = 'random';
    expect(resolveOptions({ content, model, style: folder }).style).toEqual([
      join(folder, 'a.jpg'),
      join(folder, 'b.png'),
    ]);
    expect(resolveOptions({ content, model, style: [folder, fixture('../../README.md')] }).style).toHaveLength(3);
    // Blend weights count the folder's images.
    expect(() => resolveOptions({ content, model, style: folder, styleBlendWeights: [1] })).toThrow(
      'Expected an array of 2 non-negative numbers, not all zero for styleBlendWeights',
    );
    const result = await stylize(await base({ style: folder, styleBlendWeights: [1, 3], iterations: 2 }));
    expect(result.iterations).toBe(2);

    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(() => resolveOptions({ content, model, style: empty })).toThrow(`style is a folder without images`);
  });
});

describe('coarse to fine', () => {
  test('each scale in order, each from the one before; the result at the last size', async () => {
    const { events, result } = await recorded(
      await base({ scales: [24, 40], iterations: undefined, iterationsPerScale: [20, 3], previewInterval: 1 }),
    );
    expect(events.map((e) => [e.scale, e.iteration, e.iterations, e.scales])).toEqual([
      ...Array.from({ length: 20 }, (_, i) => [1, i + 1, 20, 2]),
      ...[1, 2, 3].map((iteration) => [2, iteration, 3, 2]),
    ]);
    expect([events[0].preview!.width, events[0].preview!.height]).toEqual([24, 19]);
    expect([result.image.width, result.image.height, result.iterations]).toEqual([40, 32, 23]);
    expect(result.image.data.equals(events.at(-1)!.preview!.data)).toBe(true);
    // The second scale starts from the first's result, upsampled: its first image is that.
    const firstResult = events[19].preview!;
    const upsampled = await decodeImage({ ...firstResult, channels: 3 }, 'previous', { width: 40, height: 32 });
    expect(largestDifference(events[20].preview!.data, upsampled.data)).toBeLessThanOrEqual(1);
  });

  test('at equal iterations at the top scale, the loss is no worse than a single scale run', async () => {
    const [single, coarseToFine] = await Promise.all([
      stylize(await base({ iterations: 30 })),
      stylize(await base({ scales: [28, 40], iterations: 30 })),
    ]);
    expect(coarseToFine.iterations).toBe(60);
    expect(coarseToFine.loss).toBeLessThanOrEqual(single.loss);
  });

  test('the memory check covers the largest scale before the first starts', async () => {
    let progressed = false;
    const outcome = stylize(
      await base({
        scales: [40, 200000],
        imageSize: undefined,
        iterations: undefined,
        iterationsPerScale: 1,
        onProgress: () => (progressed = true),
      }),
    );
    await expect(outcome).rejects.toMatchObject({ code: 'ERR_TOO_LARGE' });
    expect(progressed).toBe(false);
  });

  test('a count steps by √2 up to imageSize; the sizes and iterations are checked', () => {
    const images = { content: Buffer.from('x'), style: Buffer.from('y'), model: 'random' };
    expect(resolveOptions({ ...images, scales: 3, imageSize: 1024 })).toMatchObject({
      scales: [512, 724, 1024],
      iterationsPerScale: [1000, 1000, 1000],
      imageSize: 1024,
    });
    expect(resolveOptions({ ...images, scales: [100, 300], iterationsPerScale: 7 })).toMatchObject({
      imageSize: 300,
      iterationsPerScale: [7, 7],
    });
    expect(() => resolveOptions({ ...images, scales: [300, 100] })).toThrow(
      'Expected sizes that increase for scales but received 300,100',
    );
    expect(() => resolveOptions({ ...images, scales: [100, 300], imageSize: 512 })).toThrow(
      "scales ends at 300 pixels, but imageSize is 512: the last scale is the result's size",
    );
    expect(() => resolveOptions({ ...images, scales: 2, iterationsPerScale: [1, 2, 3] })).toThrow(
      'Expected a positive integer or an array of 2, one per scale for iterationsPerScale',
    );
    expect(() => resolveOptions({ ...images, iterations: 5, iterationsPerScale: 5 })).toThrow(
      'iterations and iterationsPerScale both say how many iterations to run: give one of them',
    );
    expect(() => resolveOptions({ ...images, scales: 0 })).toThrow(/for scales/);
  });

  test('the command line names snapshots by scale when there are several', () => {
    const event = { iteration: 50, scale: 2, scales: 3 } as ProgressEvent;
    expect(iterationPath('/tmp/out.png', event)).toBe('/tmp/out_scale2_50.png');
    expect(iterationPath('/tmp/out.png', { ...event, scale: 1, scales: 1 })).toBe('/tmp/out_50.png');
  });
});

describe('runs you can reproduce, and look at', () => {
  test('a record holds the options, versions, digests, timings and every iteration; the caller hears of those due', async () => {
    const dir = temporaryDir();
    const output = join(dir, 'out.png');
    const content = await patternPng(0);
    const heard: number[] = [];
    const result = await stylize(
      await base({
        content,
        output,
        record: true,
        iterations: 5,
        seed: 7,
        progressInterval: 2,
        onProgress: (event) => heard.push(event.iteration),
      }),
    );
    expect(heard).toEqual([2, 4, 5]);
    expect(result.recordPath).toBe(join(dir, 'out.record.json'));
    const record = await readRecord(result.recordPath!);
    expect(record).toEqual(JSON.parse(JSON.stringify(result.record)));
    const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    expect(record).toMatchObject({
      format: 'neural-style-record',
      package: `neural-style@${require('../package.json').version}`,
      libtorch: runtimeInfo().torchVersion,
      model: { source: 'random', seed: 7 },
      inputs: { content: { sha256: sha256(content) } },
      device: 'cpu',
      threads: 2,
      scales: [{ size: 40, width: 40, height: 32, iterations: 5 }],
      output: { source: output, sha256: sha256(readFileSync(output)) },
    });
    expect(record.options).toMatchObject({ iterations: 5, seed: 7, imageSize: 40, styleWeight: 100, colorMode: 'rgb' });
    expect(record.iterations.map((i) => i.iteration)).toEqual([1, 2, 3, 4, 5]);
    expect(record.iterations.at(-1)!.loss).toBe(result.loss);
    expect(record.totalMs).toBeGreaterThanOrEqual(record.scales[0].elapsedMs);
  });

  test.each([1, 2])('with %i thread(s), the same inputs and seed give the same bytes and losses', async (threads) => {
    const run = async () => (await stylize(await base({ threads, record: true, iterations: 8 })))!;
    const [first, second] = [await run(), await run()];
    expect(first.image.data.equals(second.image.data)).toBe(true);
    expect(second.record!.iterations.map((i) => i.loss)).toEqual(first.record!.iterations.map((i) => i.loss));
  });

  test('neural-style plot draws a record as an SVG: a line per term on a log scale, the scales marked', async () => {
    const dir = temporaryDir();
    const output = join(dir, 'out.png');
    const result = await stylize(
      await base({ output, record: true, scales: [24, 40], iterations: undefined, iterationsPerScale: 4 }),
    );
    const svg = lossPlot(result.record!);
    expect(svg.match(/<path /g)).toHaveLength(3);
    expect(svg).toContain('>40 px</text>');
    expect(svg).toMatch(/>1e-?\d+<\/text>/);
    expect((await sharp(Buffer.from(svg)).metadata()).format).toBe('svg');
    // Without total variation there is no tv line.
    const untextured = await stylize(await base({ record: true, tvWeight: 0, iterations: 3 }));
    expect(lossPlot(untextured.record!).match(/<path /g)).toHaveLength(2);

    const print = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await main(['plot', result.recordPath!]);
    } finally {
      print.mockRestore();
    }
    expect(readFileSync(join(dir, 'out.record.svg'), 'utf8')).toBe(svg);
    await expect(main(['plot', output])).rejects.toThrow(`Could not read record ${output}`);
    writeFileSync(join(dir, 'other.json'), '{"a": 1}');
    await expect(main(['plot', join(dir, 'other.json')])).rejects.toThrow('is not a neural-style record');
  });

  test('a contact sheet shows the content, the style, the previews and the result, labelled', async () => {
    const dir = temporaryDir();
    const output = join(dir, 'out.png');
    const result = await stylize(await base({ output, contactSheet: true, previewInterval: 3, iterations: 6 }));
    expect(result.contactSheet).toBe(join(dir, 'out.sheet.png'));
    // Five panels of 256 pixels and their labels, four to a row.
    const sheet = sharp(result.contactSheet);
    expect(await sheet.metadata()).toMatchObject({ width: 8 + 4 * 264, height: 8 + 2 * 288 });
    // The result is the first panel of the second row, centred in its square.
    const shown = await decodeImage({ ...result.image, channels: 3 }, 'result', 256);
    const top = 8 + 288 + Math.floor((256 - shown.height) / 2);
    const panel = await sharp(result.contactSheet)
      .extract({ left: 8, top, width: shown.width, height: shown.height })
      .removeAlpha()
      .raw()
      .toBuffer();
    expect(largestDifference(panel, shown.data)).toBeLessThanOrEqual(1);
    await expect(stylize(await base({ contactSheet: true }))).rejects.toThrow(
      'contactSheet is written beside output: give output too',
    );
  });
});

describe('spatial control (guided Gram matrices)', () => {
  /** Stripes of a period and direction: two styles that differ plainly. */
  const stripes = (width: number, height: number, period: number, vertical: boolean) => {
    const data = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const on = Math.floor((vertical ? x : y) / period) % 2 === 0;
        data.fill(on ? 230 : 25, (y * width + x) * 3, (y * width + x) * 3 + 2);
        data[(y * width + x) * 3 + 2] = on ? 200 : 40;
      }
    return { width, height, data };
  };
  const half = (width: number, height: number, left: boolean) => {
    const data = Buffer.alloc(width * height);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) data[y * width + x] = x < width / 2 === left ? 255 : 0;
    return { width, height, data, channels: 1 as const };
  };
  const crop = (image: { width: number; height: number; data: Buffer }, left: number, width: number) => {
    const data = Buffer.alloc(width * image.height * 3);
    for (let y = 0; y < image.height; y++)
      image.data.copy(data, y * width * 3, (y * image.width + left) * 3, (y * image.width + left + width) * 3);
    return { width, height: image.height, data };
  };

  test("in each region, the result's Gram matrices are nearer its own style's than the other's", async () => {
    const [width, height] = [64, 32];
    const styleLayers = ['relu1_1', 'relu2_1', 'relu3_1'];
    // The same stripes, upright and lying: styles of like energy that differ plainly.
    const styles = [stripes(48, 48, 4, true), stripes(48, 48, 4, false)];
    const dir = temporaryDir();
    const rightMask = join(dir, 'right.png');
    await sharp(half(width, height, false).data, { raw: { width, height, channels: 1 } })
      .png()
      .toFile(rightMask);
    const result = await stylize(
      await base({
        content: await png(pattern(width, height, 0)),
        style: await Promise.all(styles.map(png)),
        // Raw pixels, and a file.
        styleMasks: [half(width, height, true), rightMask],
        imageSize: width,
        styleLayers,
        contentWeight: 0,
        styleWeight: 1e6,
        iterations: 200,
      }),
    );
    const options = nativeModelOptions(
      resolveOptions({ content: Buffer.from('x'), style: Buffer.from('y'), model: 'random', styleLayers, threads: 2 }),
    );
    const asPlanar = (image: { width: number; height: number; data: Buffer }) => ({ ...image, data: planar(image) });
    const styleLoss = async (region: ReturnType<typeof crop>, style: (typeof styles)[number]) =>
      (
        await addon().evaluate({
          ...options,
          content: asPlanar(region),
          styles: [asPlanar(style)],
          image: asPlanar(region),
        })
      ).style;
    const left = crop(result.image, 0, width / 2);
    const right = crop(result.image, width / 2, width / 2);
    const [leftOwn, leftOther, rightOwn, rightOther] = await Promise.all([
      styleLoss(left, styles[0]),
      styleLoss(left, styles[1]),
      styleLoss(right, styles[1]),
      styleLoss(right, styles[0]),
    ]);
    expect(leftOwn).toBeLessThan(leftOther);
    expect(rightOwn).toBeLessThan(rightOther);
  });

  test('masks keep soft edges, take the content size, and count one per style', async () => {
    const ramp = Buffer.from(Array.from({ length: 16 }, (_, x) => x * 17));
    const mask = await decodeMask({ width: 16, height: 1, data: ramp, channels: 1 }, 'styleMasks[0]', {
      width: 16,
      height: 1,
    });
    expect([...mask.data]).toEqual([...ramp]);
    const images = { content: Buffer.from('x'), style: [Buffer.from('y'), Buffer.from('z')], model: 'random' };
    expect(() => resolveOptions({ ...images, styleMasks: [Buffer.from('m')] })).toThrow(
      'Expected an array of 2 images, one per style image for styleMasks',
    );
    expect(() =>
      resolveOptions({ ...images, styleMasks: [Buffer.from('m'), Buffer.from('n')], styleBlendWeights: [1, 2] }),
    ).toThrow('styleMasks gives each style its own region, so styleBlendWeights has nothing to blend');
    await expect(stylize(await base({ styleMasks: [Buffer.from('not an image')] }))).rejects.toThrow(
      /Could not read styleMasks\[0\] \(a Buffer of 12 bytes\) as an image/,
    );
  });
});

describe("the seed's normalised network", () => {
  test("convert-model reads state dicts keyed by layer name, as the authors' vgg_conv.pth is", async () => {
    const dir = temporaryDir();
    const [named, numbered] = [join(dir, 'named.pt'), join(dir, 'numbered.pt')];
    await convertModel({ weights: fixture('tiny-vgg-named.pth'), preprocess: 'caffe', output: named });
    await convertModel({ weights: fixture('tiny-features.pth'), preprocess: 'caffe', output: numbered });
    const first = async (model: string) =>
      (await recorded(await base({ model, iterations: 1, imageSize: 40 }))).events[0].loss;
    expect(await first(named)).toBe(await first(numbered));
  });

  test("convert-model --normalize-on: each filter's mean activation is 1 within 1e-3, no ReLU pattern changes", async () => {
    const dir = temporaryDir();
    const [original, normalized] = [join(dir, 'original.pt'), join(dir, 'normalized.pt')];
    const calibration = [await patternPng(0), await patternPng(3)];
    await convertModel({ weights: fixture('tiny-vgg-named.pth'), preprocess: 'caffe', output: original });
    const converted = await convertModel({
      weights: fixture('tiny-vgg-named.pth'),
      preprocess: 'caffe',
      output: normalized,
      normalizeOn: calibration,
    });
    expect(converted.output).toBe(normalized);
    const images = await Promise.all(
      calibration.map(async (image, index) => {
        const decoded = await decodeImage(image, 'calibration', 512);
        return { path: writeRaw(dir, `${index}.u8`, decoded.data), width: decoded.width, height: decoded.height };
      }),
    );
    const check = spawnSync(referencePython, [join(__dirname, 'python', 'check_normalized.py')], {
      input: JSON.stringify({ original, normalized, preprocess: 'caffe', images }),
      encoding: 'utf8',
    });
    expect(check.stderr).toBe('');
    const answer = JSON.parse(check.stdout) as Record<string, number>;
    expect(answer.layers).toBe(16);
    expect(answer.worstDeviation).toBeLessThan(1e-3);
    expect(answer.flipped).toBe(0);
    expect(answer.deadFilters).toBeLessThan(10);
    // And the network did change: its losses differ.
    const first = async (model: string) => (await recorded(await base({ model, iterations: 1 }))).events[0].loss;
    expect(relativeError(await first(normalized), await first(original))).toBeGreaterThan(1e-3);

    await expect(
      convertModel({ weights: fixture('tiny-vgg-named.pth'), preprocess: 'caffe', output: original, pooling: 'max' }),
    ).rejects.toThrow('pooling matters only to a normalised model: give normalizeOn too');
  });

  test('normalizeNetwork in a run changes the objective and keeps it finite', async () => {
    const [plain, normalized] = await Promise.all([
      recorded(await base({ model: fixture('tiny-numbered.pt'), iterations: 3 })),
      recorded(await base({ model: fixture('tiny-numbered.pt'), iterations: 3, normalizeNetwork: true })),
    ]);
    expect(Number.isFinite(normalized.result.loss)).toBe(true);
    expect(relativeError(normalized.events[0].loss, plain.events[0].loss)).toBeGreaterThan(1e-3);
    // Other calibration images, other means, another objective.
    const calibrated = await recorded(
      await base({
        model: fixture('tiny-numbered.pt'),
        iterations: 1,
        normalizeNetwork: true,
        calibrationImages: [await patternPng(5)],
      }),
    );
    expect(relativeError(calibrated.events[0].loss, normalized.events[0].loss)).toBeGreaterThan(1e-3);
    await expect(stylize(await base({ calibrationImages: [await patternPng(5)] }))).rejects.toThrow(
      'calibrationImages are for normalizeNetwork: set it too, or leave them out',
    );
  });
});
