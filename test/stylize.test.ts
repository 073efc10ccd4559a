import { constants as bufferConstants } from 'node:buffer';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

import { AbortError, ProgressEvent, runtimeInfo, stylize, StylizeOptions } from '../lib';
import { flagNames } from '../lib/cli';
import { OptionError } from '../lib/errors';
import { decodeImage } from '../lib/image';
import { resolveOptions } from '../lib/options';
import * as cpuFeatures from '../lib/cpus';
import { addon, nativeStylizeOptions } from '../lib/native';
import {
  atomicWriteOf,
  fixture,
  largestDifference,
  luma,
  pattern,
  patternPng,
  png,
  relativeError,
  temporaryDir,
  watchFolder,
} from './helpers';

async function base(extra: Partial<StylizeOptions> = {}): Promise<StylizeOptions> {
  return {
    content: await patternPng(0),
    style: await patternPng(1),
    model: fixture('tiny-numbered.pt'),
    iterations: 6,
    imageSize: 40,
    threads: 2,
    ...extra,
  };
}

test('progress events arrive in order with the promised fields; previews when asked', async () => {
  const events: ProgressEvent[] = [];
  const result = await stylize(
    await base({ iterations: 9, progressInterval: 2, previewInterval: 4, onProgress: (e) => events.push(e) }),
  );
  expect(events.map((e) => e.iteration)).toEqual([2, 4, 6, 8, 9]);
  for (const event of events) {
    expect(event.iterations).toBe(9);
    for (const field of ['loss', 'content', 'style', 'tv', 'elapsedMs'] as const)
      expect(Number.isFinite(event[field])).toBe(true);
    // float32 terms summed: equal within float32's rounding, whatever the loss's scale.
    expect(relativeError(event.loss, event.content + event.style + event.tv)).toBeLessThan(1e-6);
    expect(event.preview !== undefined).toBe(event.iteration % 4 === 0);
  }
  expect(events.map((e) => e.elapsedMs)).toEqual([...events.map((e) => e.elapsedMs)].sort((a, b) => a - b));
  const preview = events[1].preview!;
  expect([preview.width, preview.height, preview.data.length]).toEqual([40, 32, 40 * 32 * 3]);
  expect(await sharp(await preview.encode('jpeg')).metadata()).toMatchObject({ format: 'jpeg', width: 40, height: 32 });
  expect(result.loss).toBe(events[4].loss);
  expect(result).toMatchObject({ iterations: 9, device: 'cpu', threads: 2 });
  expect(result.image.data.length).toBe(40 * 32 * 3);
  const encoded = await result.image.encode('png');
  expect((await sharp(encoded).metadata()).width).toBe(40);
});

test('previews come at their own interval, whatever the progress interval', async () => {
  const events: ProgressEvent[] = [];
  await stylize(
    await base({ iterations: 9, progressInterval: 2, previewInterval: 3, onProgress: (e) => events.push(e) }),
  );
  expect(events.map((e) => [e.iteration, e.preview !== undefined])).toEqual([
    [2, false],
    [3, true],
    [4, false],
    [6, true],
    [8, false],
    [9, true],
  ]);
});

test('imageSize scales the longest side; grayscale and transparent inputs become RGB', async () => {
  const gray = await sharp(Buffer.alloc(30 * 60, 128), { raw: { width: 30, height: 60, channels: 1 } })
    .png()
    .toBuffer();
  const rgba = await sharp({
    create: { width: 50, height: 20, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } },
  })
    .png()
    .toBuffer();
  const result = await stylize(await base({ content: gray, style: rgba, imageSize: 48, iterations: 2 }));
  expect([result.image.width, result.image.height]).toEqual([24, 48]);
});

test('styleScale sets the longest side of the style images as a multiple of imageSize', async () => {
  // The engine names the size it was given when the style image is too small for relu5_1.
  await expect(stylize(await base({ styleScale: 0.25 }))).rejects.toThrow(
    /^The style image is 10x8 pixels, too small for layer relu5_1, which follows 4 poolings and so needs at least 16 pixels on each side: raise imageSize or styleScale, or use shallower layers$/,
  );
  const larger = await stylize(await base({ styleScale: 1.5, iterations: 2 }));
  const same = await stylize(await base({ iterations: 2 }));
  expect(larger.style).not.toBeCloseTo(same.style, 3);
});

test('EXIF orientation is applied: a landscape JPEG tagged as rotated comes out portrait', async () => {
  const image = pattern(60, 30, 3);
  const rotated = await sharp(image.data, { raw: { width: 60, height: 30, channels: 3 } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const result = await stylize(await base({ content: rotated, imageSize: 40, iterations: 1 }));
  expect([result.image.width, result.image.height]).toEqual([20, 40]);
});

test('the JavaScript thread stays free while the native work runs', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const started = Date.now();
  try {
    await stylize(await base({ model: 'random', imageSize: 96, iterations: 10 }));
  } finally {
    clearInterval(timer);
  }
  const elapsed = Date.now() - started;
  expect(elapsed).toBeGreaterThan(200);
  // A blocked thread would tick about once; a free one close to elapsed / 5 times.
  expect(ticks).toBeGreaterThan(elapsed / 5 / 4);
});

describe('each control changes the run it is given to', () => {
  // Six iterations from the content image, against the same run without the control: any control
  // that reaches the engine changes the losses.
  const losses = async (extra: Partial<StylizeOptions>) => {
    const seen: number[] = [];
    await stylize(await base({ init: 'image', onProgress: (event) => seen.push(event.loss), ...extra }));
    return seen;
  };

  test.each<[string, () => Promise<Partial<StylizeOptions>>, Partial<StylizeOptions>]>([
    ['optimizer adam', async () => ({ optimizer: 'adam' }), {}],
    ["Adam's learningRate", async () => ({ optimizer: 'adam', learningRate: 1 }), { optimizer: 'adam' }],
    ['init random', async () => ({ init: 'random' }), {}],
    // Noise is where the seed shows: from the content image it has nothing to seed.
    ['seed', async () => ({ init: 'random', seed: 3 }), { init: 'random' }],
    ['pooling max', async () => ({ pooling: 'max' }), {}],
    ['normalizeGradients', async () => ({ normalizeGradients: true }), {}],
    ['a second style', async () => ({ style: [await patternPng(1), await patternPng(2)] }), {}],
    ['contentWeight', async () => ({ contentWeight: 50 }), {}],
    ['styleWeight', async () => ({ styleWeight: 10 }), {}],
    ['tvWeight', async () => ({ tvWeight: 1 }), {}],
    ['contentLayers', async () => ({ contentLayers: ['relu2_2'] }), {}],
    ['styleLayers', async () => ({ styleLayers: ['relu1_1', 'relu3_1'] }), {}],
    ['styleScale', async () => ({ styleScale: 1.5 }), {}],
    ['lbfgsHistory', async () => ({ lbfgsHistory: 1 }), {}],
  ])('%s', async (_title, extra, against) => {
    const [changed, unchanged] = await Promise.all([losses(await extra()), losses(against)]);
    expect(changed).toHaveLength(6);
    expect(changed).not.toEqual(unchanged);
  });

  test('blend weights weigh the styles: [1, 2] differs from [2, 1], and [1, 1] is the default', async () => {
    const styles = [await patternPng(1), await patternPng(2)];
    const [oneTwo, twoOne, equal, unweighted] = await Promise.all(
      [[1, 2], [2, 1], [1, 1], undefined].map((styleBlendWeights) =>
        losses({ init: 'random', style: styles, styleBlendWeights }),
      ),
    );
    expect(oneTwo).not.toEqual(twoOne);
    expect(equal).toEqual(unweighted);
  });
});

test("the defaults are jcjohnson/neural-style's: a run that names them equals one that leaves them out", async () => {
  const options = await base();
  const { iterations, imageSize, ...resolved } = resolveOptions(options);
  expect([iterations, imageSize]).toEqual([6, 40]);
  expect(resolveOptions({ content: options.content, style: options.style, model: options.model })).toMatchObject({
    imageSize: 512,
    iterations: 1000,
  });
  const spelled = {
    styleScale: 1,
    contentWeight: 5,
    styleWeight: 100,
    tvWeight: 1e-3,
    contentLayers: ['relu4_2'],
    styleLayers: ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'],
    normalizeGradients: false,
    optimizer: 'lbfgs',
    learningRate: 10,
    lbfgsHistory: 100,
    init: 'random',
    seed: 0,
    originalColors: false,
    pooling: 'avg',
    precision: 'float32',
    device: 'auto',
    progressInterval: 1,
    previewInterval: 0,
  } as const;
  expect(resolved).toMatchObject(spelled);
  const [left, named] = await Promise.all([
    stylize(options),
    stylize({ ...options, ...spelled, styleLayers: [...spelled.styleLayers], contentLayers: ['relu4_2'] }),
  ]);
  expect(named.loss).toBe(left.loss);
  expect(named.image.data.equals(left.image.data)).toBe(true);
});

test('L-BFGS lowers the loss from random noise', async () => {
  const losses: number[] = [];
  await stylize(await base({ model: 'random', iterations: 40, onProgress: (e) => losses.push(e.loss) }));
  expect(losses[39]).toBeLessThan(losses[0] * 0.5);
});

test("originalColors keeps the content's colours and takes the stylized image's luminance", async () => {
  const content = pattern(40, 32, 0).data;
  const run = async (originalColors: boolean) => {
    let preview: Buffer | undefined;
    const result = await stylize(
      await base({
        model: 'random',
        iterations: 8,
        originalColors,
        previewInterval: 4,
        onProgress: (e) => (preview = e.preview?.data ?? preview),
      }),
    );
    return [preview!, result.image.data];
  };
  const plain = await run(false);
  const kept = await run(true);

  // BT.601 YUV: the content's U and V with the plain result's Y, back in RGB. Previews too.
  for (const [index, image] of kept.entries()) {
    let worst = 0;
    let movedFromContent = 0;
    let movedFromPlain = 0;
    for (let i = 0; i < content.length; i += 3) {
      const shift = luma(plain[index], i) - luma(content, i);
      for (let c = 0; c < 3; c++) {
        const expected = Math.min(255, Math.max(0, content[i + c] + shift));
        worst = Math.max(worst, Math.abs(image[i + c] - expected));
        movedFromContent += Math.abs(image[i + c] - content[i + c]);
        movedFromPlain += Math.abs(image[i + c] - plain[index][i + c]);
      }
    }
    // Both images are rounded to bytes: at most half a level each.
    expect(worst).toBeLessThanOrEqual(1);
    expect(movedFromContent / content.length).toBeGreaterThan(5);
    expect(movedFromPlain / content.length).toBeGreaterThan(5);
  }
});

// Pixels go in as bytes / 255, through the model's preprocessing and back, and are rounded to
// bytes: exact, for either preprocessing (caffe's swaps RGB to BGR and back).
describe.each([
  ['torchvision', 'tiny-numbered.pt'],
  ['caffe', 'tiny-named.pt'],
])("init 'image' with a %s model", (_preprocess, model) => {
  // The first evaluation is of the starting image itself.
  const start = async (extra: Partial<StylizeOptions>) => {
    let first: Buffer | undefined;
    await stylize(
      await base({
        model: fixture(model),
        init: 'image',
        iterations: 1,
        previewInterval: 1,
        onProgress: (e) => (first = e.preview!.data),
        ...extra,
      }),
    );
    return first!;
  };

  test('starts from the content, exactly', async () => {
    expect(largestDifference(await start({}), pattern(40, 32, 0).data)).toBe(0);
  });

  test('starts from initImage scaled to the content size; an initImage implies it', async () => {
    const initPng = await png(pattern(60, 60, 3));
    const initScaled = await decodeImage(initPng, 'initImage', { width: 40, height: 32 });
    expect(largestDifference(initScaled.data, pattern(40, 32, 0).data)).toBeGreaterThan(50);
    expect(largestDifference(await start({ initImage: initPng }), initScaled.data)).toBe(0);
    expect(largestDifference(await start({ init: undefined, initImage: initPng }), initScaled.data)).toBe(0);
  });
});

test('raw pixels are read like the same picture encoded: RGB, canvas-style RGBA and grey; a result can start the next run', async () => {
  const { width, height, data } = pattern(40, 32, 0);
  const rgba = new Uint8ClampedArray(width * height * 4).fill(255);
  const grey = Buffer.alloc(width * height);
  for (let i = 0; i < width * height; i++) {
    rgba.set(data.subarray(i * 3, i * 3 + 3), i * 4);
    grey[i] = data[i * 3 + 1];
  }
  const losses = async (content: StylizeOptions['content']) => {
    const { loss, content: contentLoss, style } = await stylize(await base({ content, iterations: 2 }));
    return [loss, contentLoss, style];
  };
  const encoded = await losses(await patternPng(0));
  expect(await losses({ width, height, data })).toEqual(encoded);
  // ImageData's shape: no channels field, a Uint8ClampedArray of RGBA.
  expect(await losses({ width, height, data: rgba })).toEqual(encoded);
  const greyPng = await sharp(grey, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
  expect(await losses({ width, height, data: grey, channels: 1 })).toEqual(await losses(greyPng));

  // A small result refined at a larger size: its image is the next run's starting point.
  const small = await stylize(await base({ imageSize: 20, styleLayers: ['relu1_1'], contentLayers: ['relu1_1'] }));
  let first: Buffer | undefined;
  await stylize(
    await base({
      initImage: small.image,
      iterations: 1,
      previewInterval: 1,
      onProgress: (e) => (first = e.preview!.data),
    }),
  );
  const upscaled = await decodeImage(await small.image.encode('png'), 'initImage', { width, height });
  expect(largestDifference(first!, upscaled.data)).toBe(0);
});

test('the engine refuses an init image of another size than the content', async () => {
  const image = (width: number) => ({ width, height: 32, data: Buffer.alloc(width * 32 * 3, 90) });
  const images = { content: image(40), styles: [image(40)], initImage: image(41) };
  const options = resolveOptions({
    content: images.content,
    style: images.styles,
    initImage: images.content,
    model: fixture('tiny-numbered.pt'),
    iterations: 1,
  });
  const job = addon().stylize(nativeStylizeOptions(options, images, 0));
  await expect(job.promise).rejects.toThrow(/^The init image is 41x32 pixels, not the content's 40x32$/);
});

// The binding reads names into the engine's enums: a name it does not know is an error there,
// never a fallback (such as any optimizer but lbfgs running Adam).
test.each([
  ['optimizer', 'sgd', /^Expected one of lbfgs, adam for optimizer but received 'sgd'$/],
  ['init', 'noise', /^Expected one of random, image for init but received 'noise'$/],
  ['pooling', 'min', /^Expected one of avg, max for pooling but received 'min'$/],
  ['precision', 'float16', /^Expected one of float32, bfloat16 for precision but received 'float16'$/],
  ['preprocess', 'imagenet', /^Expected one of torchvision, caffe for preprocess but received 'imagenet'$/],
  ['device', 'cuda:x', /^Expected one of auto, cpu, cuda, cuda:N for device but received 'cuda:x'$/],
])('the engine refuses an unknown %s, %s', async (name, value, message) => {
  const image = { width: 40, height: 32, data: Buffer.alloc(40 * 32 * 3, 90) };
  const options = resolveOptions({ content: image, style: image, model: fixture('tiny-numbered.pt'), iterations: 1 });
  expect(() =>
    addon().stylize({ ...nativeStylizeOptions(options, { content: image, styles: [image] }, 0), [name]: value }),
  ).toThrow(message);
});

test('the output file is written atomically in the format of its extension', async () => {
  const dir = temporaryDir();
  const output = join(dir, 'result.jpg');
  const writes = watchFolder(dir);
  const result = await stylize(await base({ output }));
  expect(await writes.stop()).toEqual(atomicWriteOf('result.jpg'));
  expect(result.output).toBe(output);
  expect((await sharp(output).metadata()).format).toBe('jpeg');
  expect(readdirSync(dir)).toEqual(['result.jpg']);
});

test.each(['content', 'style'] as const)('a JPEG cut short as the %s says why, as for any input', async (input) => {
  const jpeg = await sharp(pattern(40, 32, 0).data, { raw: { width: 40, height: 32, channels: 3 } })
    .jpeg()
    .toBuffer();
  const cut = jpeg.subarray(0, jpeg.length - 2);
  await expect(stylize(await base({ [input]: cut }))).rejects.toThrow(
    new RegExp(
      `^Could not read ${input} \\(a Buffer of ${cut.length} bytes\\) as an image: VipsJpeg: premature end of JPEG image$`,
    ),
  );
});

test('an output whose folder goes away during the run is refused by its own name, not the temporary file', async () => {
  const folder = join(temporaryDir(), 'gone');
  mkdirSync(folder);
  const output = join(folder, 'out.png');
  const error = (await stylize(
    await base({
      output,
      iterations: 2,
      onProgress: (event) => event.iteration === 2 && rmSync(folder, { recursive: true }),
    }),
  ).catch((e: unknown) => e)) as OptionError;
  expect(error.message).toBe(`Could not write output ${output}: its folder no longer exists`);
  expect(error.toldWith(flagNames)).toBe(`Could not write --output ${output}: its folder no longer exists`);
  expect(error.code).toBe('ENOENT');
});

test('abort stops the native work within about one iteration, delivers no later progress and rejects with AbortError', async () => {
  const controller = new AbortController();
  const events: ProgressEvent[] = [];
  let iterationMs = 0;
  let abortedAt = 0;
  const options = await base({
    model: 'random',
    imageSize: 160,
    iterations: 200,
    signal: controller.signal,
    onProgress: (event) => {
      events.push(event);
      if (event.iteration === 3) {
        // Hold the JavaScript thread for about three iterations, so that the engine has queued
        // later events by the time abort() is called: none of them may reach onProgress.
        iterationMs = events[2].elapsedMs - events[1].elapsedMs;
        const until = performance.now() + 3 * iterationMs;
        while (performance.now() < until);
        abortedAt = performance.now();
        controller.abort();
      }
    },
  });
  const error = await stylize(options).catch((e: unknown) => e);
  const stoppedAfterMs = performance.now() - abortedAt;
  expect(error).toBeInstanceOf(AbortError);
  expect((error as AbortError).name).toBe('AbortError');
  expect(events.map((e) => e.iteration)).toEqual([1, 2, 3]);
  // The promise settles only once the native work has ended: within the iteration under way
  // when abort() came, where running on would take the other 190 or so.
  expect(stoppedAfterMs).toBeLessThan(3 * iterationMs + 1000);
});

test('an already aborted signal rejects before any work', async () => {
  const controller = new AbortController();
  controller.abort();
  let called = false;
  const error = await stylize(await base({ signal: controller.signal, onProgress: () => (called = true) })).catch(
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AbortError);
  expect((error as AbortError).cause).toBe(controller.signal.reason);
  expect(called).toBe(false);
});

test('an error thrown by onProgress ends the run and rejects with that error', async () => {
  let calls = 0;
  const run = stylize(
    await base({
      iterations: 50,
      onProgress: () => {
        calls++;
        throw new Error('callback broke');
      },
    }),
  );
  await expect(run).rejects.toThrow('callback broke');
  expect(calls).toBe(1);
});

test.each([
  ['a string', 'broke', 'onProgress threw broke'],
  ['a number', 42, 'onProgress threw 42'],
  ['undefined', undefined, 'onProgress threw undefined'],
])(
  'onProgress throwing %s rejects with an Error that says so, the value its cause, and stops the run',
  async (_what, value, message) => {
    let calls = 0;
    const error = (await stylize(
      await base({
        iterations: 50,
        onProgress: () => {
          calls++;
          throw value;
        },
      }),
    ).catch((e: unknown) => e)) as Error;
    // Made in the addon, whose realm is not the test's: an Error, if not of this realm's class.
    expect(Object.prototype.toString.call(error)).toBe('[object Error]');
    expect(error.name).toBe('Error');
    expect(error.message).toBe(message);
    expect(error.cause).toBe(value);
    expect(calls).toBe(1);
  },
);

test('a finished, a failed and a cancelled run each leave no tensor memory behind', async () => {
  const held = () => runtimeInfo().heldCpuBytes;
  await stylize(await base());
  expect(held()).toBe(0);
  expect(runtimeInfo().reservedCudaBytes).toBe(0);
  await expect(stylize(await base({ styleLayers: ['relu1_1', 'relu9_1'] }))).rejects.toThrow(
    /^styleLayers names layer relu9_1, which model /,
  );
  expect(held()).toBe(0);
  const controller = new AbortController();
  let heldDuringRun = 0;
  const run = stylize(
    await base({
      iterations: 100,
      signal: controller.signal,
      onProgress: (event) => {
        heldDuringRun = Math.max(heldDuringRun, held());
        if (event.iteration === 2) controller.abort();
      },
    }),
  );
  await expect(run).rejects.toBeInstanceOf(AbortError);
  expect(heldDuringRun).toBeGreaterThan(0);
  expect(held()).toBe(0);
});

test('a layer the model lacks is named with the option it came from, a default included; the command line names the flag', async () => {
  const shallow = fixture('tiny-shallow.pt');
  await expect(stylize(await base({ model: shallow }))).rejects.toThrow(
    /^styleLayers \(by default\) names layer relu5_1, which model .*tiny-shallow\.pt lacks: it has conv1_1 relu1_1 .* pool4$/,
  );
  const both = (await stylize(await base({ model: shallow, contentLayers: ['relu5_1'] })).catch(
    (e: unknown) => e,
  )) as OptionError;
  expect(both.message).toMatch(/^contentLayers and styleLayers \(by default\) name layer relu5_1, /);
  expect(both.code).toBe('NEURAL_STYLE_LAYER_MISSING');
  expect(both.toldWith(flagNames)).toMatch(/^--content-layers and --style-layers \(by default\) name layer relu5_1, /);
});

test('bfloat16 on a CPU without bfloat16 arithmetic warns, once, that it is slower there', async () => {
  const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
  const hardware = jest.spyOn(cpuFeatures, 'cpuBfloat16');
  try {
    hardware.mockReturnValue(true);
    await stylize(await base({ precision: 'bfloat16', device: 'cpu', iterations: 1 }));
    hardware.mockReturnValue(false);
    await stylize(await base({ precision: 'float32', device: 'cpu', iterations: 1 }));
    await stylize(await base({ precision: 'bfloat16', device: 'cpu', iterations: 1 }));
    await stylize(await base({ precision: 'bfloat16', device: 'cpu', iterations: 1 }));
    expect(
      warn.mock.calls.filter(([, options]) => (options as { code?: string })?.code === 'NEURAL_STYLE_SLOW_BFLOAT16'),
    ).toEqual([
      [
        'precision bfloat16 on a CPU without bfloat16 arithmetic (AVX-512 BF16, AMX or Arm BF16) is slower than float32: 2 to 3 times with AVX-512, 30 times without',
        { code: 'NEURAL_STYLE_SLOW_BFLOAT16' },
      ],
    ]);
  } finally {
    hardware.mockRestore();
    warn.mockRestore();
  }
});

test('asking for CUDA without it is a clear error, with what to use instead', async () => {
  const cudaDevices = runtimeInfo().cudaDevices;
  const device = cudaDevices > 0 ? 'cuda:99' : 'cuda';
  const error = (await stylize(await base({ device })).catch((e: unknown) => e)) as OptionError;
  expect(error.code).toBe('NEURAL_STYLE_DEVICE_UNAVAILABLE');
  expect(error.message).toMatch(
    cudaDevices > 0
      ? new RegExp(
          `^Device cuda:99 does not exist: ${cudaDevices} CUDA device\\(s\\): use device cuda:0 to cuda:${cudaDevices - 1}, cpu or auto$`,
        )
      : /^Device cuda was requested, but CUDA is not available: this LibTorch has no CUDA support or no GPU is visible: use device cpu or auto$/,
  );
  expect(error.toldWith(flagNames)).toMatch(/: use --device .*cpu or auto$/);
});

describe('bad input is rejected before any native work, naming the input', () => {
  const dir = temporaryDir();
  const notAnImage = join(dir, 'notes.txt');
  const folderNamedPng = join(dir, 'folder.png');
  mkdirSync(folderNamedPng);
  writeFileSync(notAnImage, 'hello');

  test.each<[string, Partial<StylizeOptions>, RegExp]>([
    ['fractional seed', { seed: 1.5 }, /Expected a non-negative integer for seed but received 1.5 of type number/],
    [
      'seed past 2^53',
      { seed: 2 ** 53 },
      /^Expected a non-negative integer up to 9007199254740991 for seed but received 9007199254740992 of type number$/,
    ],
    [
      'negative iterations',
      { iterations: -3 },
      /^Expected a positive integer for iterations but received -3 of type number$/,
    ],
    [
      'zero iterations',
      { iterations: 0 },
      /^Expected a positive integer for iterations but received 0 of type number$/,
    ],
    [
      'iterations past a C++ int',
      { iterations: 1e10 },
      /^Expected a positive integer up to 2147483647 for iterations but received 10000000000 of type number$/,
    ],
    [
      'previewInterval past a C++ int',
      { previewInterval: 2 ** 31 },
      /^Expected a non-negative integer up to 2147483647 for previewInterval but received 2147483648 of type number$/,
    ],
    [
      'fractional imageSize',
      { imageSize: 10.5 },
      /Expected a positive integer for imageSize but received 10.5 of type number/,
    ],
    [
      'unknown optimizer',
      { optimizer: 'sgd' as never },
      /Expected one of lbfgs, adam for optimizer but received 'sgd' of type string/,
    ],
    ['bad device', { device: 'tpu' as never }, /Expected one of auto, cpu, cuda, cuda:N for device but received 'tpu'/],
    [
      'bad layer name',
      { styleLayers: ['relu1_1', 'fc7'] },
      /Expected a non-empty array of VGG layer names .* for styleLayers/,
    ],
    [
      'more threads than CPUs',
      { threads: 100000 },
      new RegExp(
        `^Expected an integer from 0 to ${cpus().length} \\(this machine's logical CPUs\\) for threads but received 100000 of type number$`,
      ),
    ],
    [
      'unknown precision',
      { precision: 'float16' as never },
      /^Expected one of float32, bfloat16 for precision but received 'float16' of type string$/,
    ],
    [
      'originalColors that is not a boolean',
      { originalColors: 1 as never },
      /^Expected a boolean for originalColors but received 1 of type number$/,
    ],
    [
      'initImage with init random',
      { init: 'random', initImage: join(dir, 'absent.png') },
      /^initImage is a starting image, but init is 'random': leave init out or make it 'image'$/,
    ],
    [
      'missing initImage file',
      { init: 'image', initImage: join(dir, 'absent.png') },
      /^initImage file not found: .*absent\.png$/,
    ],
    [
      'initImage that is not an image',
      { init: 'image', initImage: notAnImage },
      /^Could not read initImage \(.*notes\.txt\) as an image/,
    ],
    [
      'normalizeGradients that is not a boolean',
      { normalizeGradients: 'yes' as never },
      /^Expected a boolean for normalizeGradients but received 'yes' of type string$/,
    ],
    ['zero styleScale', { styleScale: 0 }, /^Expected a positive number for styleScale but received 0 of type number$/],
    ['negative weight', { styleWeight: -1 }, /Expected a non-negative number for styleWeight but received -1/],
    [
      'blend weights of wrong length',
      { styleBlendWeights: [1, 2] },
      /Expected an array of 1 non-negative numbers, not all zero for styleBlendWeights/,
    ],
    ['unknown option', { colour: true } as never, /Unknown option colour/],
    ['missing content file', { content: join(dir, 'absent.png') }, /content file not found: .*absent\.png/],
    ['content that is a folder', { content: dir }, /^content is not a regular file: /],
    ['empty style buffer', { style: Buffer.alloc(0) }, /Expected a non-empty Buffer for style/],
    ['output with unknown extension', { output: join(dir, 'out.xyz') }, /Expected a file path ending in .png, .jpg/],
    ['output in a missing directory', { output: join(dir, 'nope', 'out.png') }, /output directory does not exist/],
    ['output that is a directory', { output: folderNamedPng }, /output is a directory: .*folder\.png/],
    [
      'output in a folder that is a file',
      { output: join(notAnImage, 'x.png') },
      /^output names a folder that is a file: .*notes\.txt$/,
    ],
    [
      'null styleBlendWeights, which is no array',
      { styleBlendWeights: null as never },
      /^Expected an array of non-negative numbers, not all zero for styleBlendWeights but received null of type null$/,
    ],
    [
      'null imageSize',
      { imageSize: null as never },
      /^Expected a positive integer for imageSize but received null of type null$/,
    ],
    [
      'null model',
      { model: null as never },
      /^Expected a TorchScript file path or 'random' for model but received null of type null$/,
    ],
    ['content that is not an image', { content: notAnImage }, /Could not read content \(.*notes\.txt\) as an image/],
    [
      'raw pixels of a fractional width',
      { content: { width: 2.5, height: 2, data: Buffer.alloc(15) } },
      /^Expected a positive integer for content.width but received 2.5 of type number$/,
    ],
    [
      'raw pixels in an array',
      { style: { width: 1, height: 1, data: [1, 2, 3] as never } },
      /^Expected a Buffer, Uint8Array or Uint8ClampedArray for style.data but received 1,2,3 of type object$/,
    ],
    [
      'raw pixels too short for their channels',
      { content: { width: 4, height: 2, data: new Uint8Array(20), channels: 3 } },
      /^Expected 4 x 2 x 3 = 24 bytes for content.data but received a Uint8Array of 20 bytes of type object$/,
    ],
    [
      'raw pixels with five channels',
      { content: { width: 1, height: 1, data: Buffer.alloc(5), channels: 5 as never } },
      /^Expected one of 1, 2, 3, 4 for content.channels but received 5 of type number$/,
    ],
    [
      'raw pixels of no channel count',
      { initImage: { width: 4, height: 2, data: new Uint8ClampedArray(20) } },
      /^Expected 4 x 2 pixels of 1 to 4 channels: 8, 16, 24, 32 bytes for initImage.data but received a Uint8ClampedArray of 20 bytes of type object$/,
    ],
    [
      'a number as content',
      { content: 7 as never },
      /^Expected a file path, a Buffer or raw pixels for content but received 7 of type number$/,
    ],
    [
      'style bytes that are not an image',
      { style: Buffer.from('not an image') },
      /Could not read style \(a Buffer of 12 bytes\) as an image/,
    ],
  ])('%s', async (_title, extra, message) => {
    let progressed = false;
    const output = join(dir, 'out.png');
    await expect(stylize(await base({ output, ...extra, onProgress: () => (progressed = true) }))).rejects.toThrow(
      message,
    );
    expect(progressed).toBe(false);
    expect(existsSync(output)).toBe(false);
  });

  test.each([
    // Whatever the device: sharp's decoder aborts the process on such images.
    [
      'a style image too large for a Buffer',
      { styleScale: 2000, device: 'cuda' as const },
      new RegExp(
        `^styleScale 2000 makes a 80000x64000 style image, more than the ${bufferConstants.MAX_LENGTH} bytes a Buffer can hold: lower styleScale$`,
      ),
    ],
    [
      'an L-BFGS history too large for memory',
      { lbfgsHistory: 2 ** 31 - 1, device: 'cpu' as const },
      /^lbfgsHistory 2147483647 on a 40x32 image needs about \d+\.\d GB of memory on the CPU, but \d+\.\d GB is available: lower lbfgsHistory$/,
    ],
    [
      'a style image too large for memory',
      { styleScale: 500, device: 'cpu' as const },
      /^styleScale 500 makes a 20000x16000 style image, which needs about \d+\.\d GB of memory on the CPU, but \d+\.\d GB is available: lower styleScale$/,
    ],
  ])('%s is refused before decoding', async (_title, extra, message) => {
    await expect(stylize(await base(extra))).rejects.toThrow(message);
  });

  test('an imageSize too large for memory is refused before any work', async () => {
    await expect(stylize(await base({ imageSize: 30000, device: 'cpu' }))).rejects.toThrow(
      /^imageSize 30000 makes a 30000x24000 image, which needs about \d+\.\d GB of memory on the CPU, but \d+\.\d GB is available: lower imageSize$/,
    );
  });

  test.each([
    [
      'content',
      async () => ({ imageSize: 12 }),
      /^The content image is 12x10 pixels, too small for layer relu5_1, which follows 4 poolings and so needs at least 16 pixels on each side: raise imageSize or use shallower layers$/,
    ],
    [
      'style',
      async () => ({ style: [await patternPng(1), await png(pattern(80, 3, 2))] }),
      /^The style image 2 is 40x2 pixels, too small for layer relu3_1, which follows 2 poolings and so needs at least 4 pixels on each side/,
    ],
  ])('a %s image too small for the layers is refused before the first iteration', async (_input, extra, message) => {
    const output = join(dir, 'small.png');
    let progressed = false;
    await expect(
      stylize(await base({ output, ...(await extra()), onProgress: () => (progressed = true) })),
    ).rejects.toThrow(message);
    expect(progressed).toBe(false);
    expect(existsSync(output)).toBe(false);
  });

  test.each([
    [
      'weights',
      { styleWeight: 1e300 },
      /^The loss is no longer finite at iteration 1 \(content [\d.e+-]+, style inf, tv [\d.e+-]+\): lower the loss weights$/,
    ],
    [
      'steps',
      { optimizer: 'adam', learningRate: 1e30 },
      /^The loss is no longer finite at iteration 2 \(content inf, style inf, tv inf\): lower the loss weights or learningRate$/,
    ],
  ] as const)(
    'a loss that overflows float32 (too large %s) ends the run with an error, not a noise image',
    async (_cause, extra, message) => {
      const output = join(dir, 'overflow.png');
      await expect(stylize(await base({ output, ...extra }))).rejects.toThrow(message);
      expect(existsSync(output)).toBe(false);
    },
  );

  test("errors carry the caller's stack", async () => {
    const error = (await stylize(await base({ iterations: 0 })).catch((e: unknown) => e)) as Error;
    expect(error.stack).toContain('stylize.test.ts');
  });
});
