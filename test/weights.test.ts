import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { readStateDict } from '../lib/checkpoint';
import type { DownloadProgress } from '../lib/download';
import { convertModel, downloadModel } from '../lib/models';
import { stylize } from '../lib/stylize';
import {
  atomicWriteOf,
  changeZipEntry,
  fixture,
  patternPng,
  referencePython,
  refusedPort,
  temporaryDir,
  watchFolder,
} from './helpers';

/** The total loss of one evaluation of the usual small pattern pair under `model`. */
async function firstLoss(model: string, extra: Record<string, unknown> = {}): Promise<number> {
  const result = await stylize({
    content: await patternPng(0),
    style: await patternPng(1),
    model,
    iterations: 1,
    imageSize: 40,
    threads: 2,
    ...extra,
  });
  return result.loss;
}

/** The files a failed conversion or download might have left in `dir`. */
const leftovers = (dir: string) => readdirSync(dir).filter((name) => name.startsWith('.') || name.endsWith('.pt'));

describe('readStateDict reads torch.save files of both layouts without Python', () => {
  test('the zip layout and the legacy one (with pre-0.4 tensors) give the same tensors', async () => {
    const zip = await readStateDict(fixture('tiny-features.pth'));
    const legacy = await readStateDict(fixture('tiny-whole-legacy.pth'), (name) => name.startsWith('features.'));
    expect(zip.size).toBe(32);
    expect([...legacy.keys()]).toEqual([...zip.keys()].map((name) => `features.${name}`));
    for (const [name, tensor] of zip) {
      expect(legacy.get(`features.${name}`)).toEqual(tensor);
    }
    expect(zip.get('0.weight')!.shape).toEqual([4, 3, 3, 3]);
  });

  test('tensors saved from a GPU read as those saved from the CPU', async () => {
    const cpu = await readStateDict(fixture('tiny-whole-legacy.pth'));
    const cuda = await readStateDict(fixture('tiny-cuda-legacy.pth'));
    expect(readFileSync(fixture('tiny-cuda-legacy.pth')).includes('torch.cuda\nFloatStorage')).toBe(true);
    expect(cuda).toEqual(cpu);
  });

  test('non-contiguous tensors come out in logical order, and Parameters as tensors', async () => {
    const plain = await readStateDict(fixture('tiny-features.pth'));
    const strided = await readStateDict(fixture('tiny-noncontiguous.pth'));
    for (const [name, tensor] of plain) expect(strided.get(name)).toEqual(tensor);
  });

  test('the values are those PyTorch reads', async () => {
    const read = spawnSync(
      referencePython,
      [
        '-c',
        'import sys, torch; print(torch.load(sys.argv[1])["features.10.weight"].flatten()[[0, 7, 100]].tolist())',
        fixture('tiny-whole-legacy.pth'),
      ],
      { encoding: 'utf8' },
    );
    const expected = JSON.parse(read.stdout) as number[];
    const data = (await readStateDict(fixture('tiny-whole-legacy.pth'))).get('features.10.weight')!.data;
    expect([data[0], data[7], data[100]]).toEqual(expected.map(Math.fround));
  });
  test('damaged files are refused with an error that names them, never a crash or a hang', async () => {
    const dir = temporaryDir();
    const damaged = join(dir, 'damaged.pth');
    // A fixed sequence of damage (no Math.random: a failure must recur), over the parts a
    // reader interprets: the pickles, the zip directory, and where files end.
    // Each file's sequence starts afresh, so that one file's length does not move the other's.
    let state = 7;
    const next = (below: number) => (state = (state * 1103515245 + 12345) % 2 ** 31) % below;
    const refused: Record<string, number> = {};
    for (const name of ['tiny-whole-legacy.pth', 'tiny-features.pth']) {
      state = 7;
      refused[name] = 0;
      const original = readFileSync(fixture(name));
      for (let trial = 0; trial < 150; trial++) {
        const bytes = Buffer.from(original);
        if (trial % 3 === 0) {
          writeFileSync(damaged, bytes.subarray(0, next(bytes.length)));
        } else {
          // The first 2 KB hold the legacy pickles and the zip's data.pkl; the last 3 KB, its directory.
          const region = trial % 3 === 1 ? next(2048) : bytes.length - 1 - next(3072);
          bytes[region] = next(256);
          writeFileSync(damaged, bytes);
        }
        try {
          await readStateDict(damaged);
        } catch (error) {
          expect((error as Error).message).toContain(damaged);
          refused[name]++;
        }
      }
    }
    // Most damage must be caught: in the legacy layout, which records no checksums, a byte inside
    // a string or a number can pass unseen; in the zip layout, only one in a header that no
    // reader uses. The legacy file differs from one generation to the next (PyTorch names its
    // storages by their memory addresses): 79 or 91 of its 150 were refused over seven of them;
    // the zip file is the same each time, and 117 of its 150 are refused.
    expect(refused['tiny-whole-legacy.pth']).toBeGreaterThanOrEqual(78);
    expect(refused['tiny-features.pth']).toBeGreaterThanOrEqual(115);
  });
});

describe('convertModel turns a VGG-19 state dict into the TorchScript model the engine runs', () => {
  const dir = temporaryDir();
  const path = (name: string) => join(dir, name);

  test('a features state dict: the same losses as a TorchScript export of the same weights; written atomically', async () => {
    const writes = watchFolder(dir);
    const converted = await convertModel({
      weights: fixture('tiny-features.pth'),
      preprocess: 'caffe',
      output: path('caffe.pt'),
    });
    expect(await writes.stop()).toEqual(atomicWriteOf('caffe.pt'));
    expect(converted).toEqual({ output: path('caffe.pt'), preprocess: 'caffe' });
    expect(await firstLoss(path('caffe.pt'))).toBe(
      await firstLoss(fixture('tiny-numbered.pt'), { preprocess: 'caffe' }),
    );
    // The preprocessing is recorded in the file.
    await expect(firstLoss(path('caffe.pt'), { preprocess: 'torchvision' })).rejects.toThrow(
      /was exported for caffe preprocessing/,
    );
  });

  test('a whole network in the legacy layout, classifier and all, with torchvision preprocessing', async () => {
    await convertModel({
      weights: fixture('tiny-whole-legacy.pth'),
      preprocess: 'torchvision',
      output: path('torchvision.pt'),
    });
    const loss = await firstLoss(path('torchvision.pt'));
    expect(loss).toBe(await firstLoss(fixture('tiny-numbered.pt'), { preprocess: 'torchvision' }));
    expect(loss).not.toBe(await firstLoss(fixture('tiny-numbered.pt'), { preprocess: 'caffe' }));
  });

  test("a full-size VGG-19: PyTorch loads the result and computes what torchvision's network does", async () => {
    await convertModel({ weights: fixture('vgg19-full-legacy.pth'), preprocess: 'caffe', output: path('full.pt') });
    const compared = spawnSync(
      referencePython,
      [
        '-c',
        `
import sys, torch
converted, original = torch.jit.load(sys.argv[1]), torch.jit.load(sys.argv[2])
x = torch.rand(1, 3, 64, 48)
print([name for name, _ in converted.named_children()][:3], (converted(x) - original(x)).abs().max().item())
`,
        path('full.pt'),
        fixture('vgg19-full.pt'),
      ],
      { encoding: 'utf8' },
    );
    expect(compared.stdout.trim()).toBe("['conv1_1', 'relu1_1', 'conv1_2'] 0.0");
    expect(await firstLoss(path('full.pt'), { imageSize: 32 })).toBe(
      await firstLoss(fixture('vgg19-full.pt'), { preprocess: 'caffe', imageSize: 32 }),
    );
  });

  const garbage = path('garbage.pth');
  const truncated = path('truncated.pth');
  const changed = path('changed.pth');
  beforeAll(() => {
    writeFileSync(garbage, 'not a checkpoint');
    const whole = readFileSync(fixture('tiny-whole-legacy.pth'));
    writeFileSync(truncated, whole.subarray(0, whole.length - 1000));
    writeFileSync(changed, changeZipEntry(readFileSync(fixture('tiny-features.pth')), '/data/0'));
  });

  test.each([
    [
      'a state dict that is not VGG-19',
      fixture('not-vgg.pth'),
      /not-vgg\.pth is not a VGG-19 state dict: it lacks 0\.weight, 0\.bias, 2\.weight and 29 more$/,
    ],
    [
      'a misshapen layer',
      fixture('tiny-misshapen.pth'),
      /tiny-misshapen\.pth does not fit VGG-19: 5\.weight has shape \[6, 4, 5, 5\], expected \[6, 4, 3, 3\]$/,
    ],
    [
      'weights that are not float32',
      fixture('tiny-double.pth'),
      /tiny-double\.pth: 0\.weight holds Double values, expected float32$/,
    ],
    ['weights that are not finite', fixture('tiny-nan.pth'), /^The weights of conv3_3 are not all finite numbers$/],
    ['a list, not a state dict', fixture('list.pth'), /list\.pth holds a list, not a state dict of tensors$/],
    [
      'a whole pickled module',
      fixture('module.pth'),
      /module\.pth holds a Python object \(.*\), not only tensors: save model\.state_dict\(\) instead$/,
    ],
    [
      'a file that is no checkpoint',
      garbage,
      /garbage\.pth is not a PyTorch checkpoint \(a file written by torch\.save\)$/,
    ],
    ['a file cut short', truncated, /truncated\.pth ends early: it is incomplete or damaged$/],
    [
      'a weight changed by one bit',
      changed,
      /changed\.pth is damaged: its entry tiny-features\/data\/0 does not match the checksum recorded for it$/,
    ],
    ['a missing file', path('absent.pth'), /^weights file not found: .*absent\.pth$/],
  ])('%s: a clear error, and no file', async (_title, weights, message) => {
    await expect(convertModel({ weights, preprocess: 'caffe', output: path('failed.pt') })).rejects.toThrow(message);
    expect(existsSync(path('failed.pt'))).toBe(false);
    expect(readdirSync(dir).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  test.each([
    [
      'no preprocess',
      { weights: fixture('tiny-features.pth') },
      /^Expected one of torchvision, caffe for preprocess but received undefined of type undefined$/,
    ],
    [
      'an output folder that does not exist',
      { weights: fixture('tiny-features.pth'), preprocess: 'caffe', output: path('absent/vgg19.pt') },
      /^output directory does not exist: .*absent$/,
    ],
    ['no weights', { preprocess: 'caffe' }, /^Expected the path of a \.pth file for weights but received undefined/],
  ])('options: %s', async (_title, options, message) => {
    await expect(convertModel(options as never)).rejects.toThrow(message);
  });
});

describe('downloadModel fetches weights, checks their SHA-256 and converts them', () => {
  const dir = temporaryDir();
  const weights = readFileSync(fixture('tiny-whole-legacy.pth'));
  const sha256 = createHash('sha256').update(weights).digest('hex');
  let server: Server;
  let base: string;
  const requests: string[] = [];
  const routes: Record<string, (response: ServerResponse) => void> = {
    '/vgg19.pth': (response) => response.writeHead(200, { 'content-length': weights.length }).end(weights),
    '/moved': (response) => response.writeHead(302, { location: '/vgg19.pth' }).end(),
    '/missing': (response) => response.writeHead(404).end(),
    // Says it sends the whole file, sends half, and hangs up.
    '/cut': (response) => {
      response.writeHead(200, { 'content-length': weights.length });
      response.write(weights.subarray(0, weights.length / 2), () => response.destroy());
    },
    // Sends a first part, then nothing more.
    '/stalls': (response) => {
      response.writeHead(200, { 'content-length': weights.length });
      response.write(weights.subarray(0, 1000));
    },
  };

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests.push(request.url!);
      (routes[request.url!] ?? routes['/missing'])(response);
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const download = (url: string, extra: Record<string, unknown> = {}) =>
    downloadModel({
      weights: 'caffe',
      url: `${base}${url}`,
      sha256: sha256.slice(0, 8),
      output: join(dir, 'vgg19.pt'),
      ...extra,
    });

  test('from a mirror, following a redirect: progress, the model, and nothing else left', async () => {
    const events: DownloadProgress[] = [];
    const result = await download('/moved', { onProgress: (event: DownloadProgress) => events.push(event) });
    expect(result).toEqual({ output: join(dir, 'vgg19.pt'), preprocess: 'caffe', url: `${base}/moved`, sha256 });
    expect(events.length).toBeGreaterThan(0);
    expect(events.at(-1)).toEqual({ receivedBytes: weights.length, totalBytes: weights.length });
    expect(events.every((event, i) => i === 0 || event.receivedBytes > events[i - 1].receivedBytes)).toBe(true);
    expect(await firstLoss(result.output)).toBe(await firstLoss(fixture('tiny-numbered.pt'), { preprocess: 'caffe' }));
    expect(readdirSync(dir)).toEqual(['vgg19.pt']);
  });

  test('without output, into the model cache, where a run without a model finds it', async () => {
    const home = join(temporaryDir(), 'cache', 'neural-style');
    const saved = process.env.NEURAL_STYLE_HOME;
    process.env.NEURAL_STYLE_HOME = home;
    try {
      const result = await download('/vgg19.pth', { output: undefined });
      expect(result.output).toBe(join(home, 'vgg19.pt'));
      expect(readdirSync(home)).toEqual(['vgg19.pt']);
      const run = await stylize({
        content: await patternPng(0),
        style: await patternPng(1),
        iterations: 1,
        imageSize: 40,
      });
      expect(run.iterations).toBe(1);
      // A cache that cannot be made is refused before anything is fetched, naming the folder.
      requests.length = 0;
      process.env.NEURAL_STYLE_HOME = '/etc/hostname/neural-style';
      await expect(download('/vgg19.pth', { output: undefined })).rejects.toThrow(
        /^Cannot make the model folder \/etc\/hostname\/neural-style \(ENOTDIR\): set NEURAL_STYLE_HOME to a folder you can write, or give output$/,
      );
      expect(requests).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.NEURAL_STYLE_HOME;
      else process.env.NEURAL_STYLE_HOME = saved;
    }
  });

  describe('failures leave no file', () => {
    const failing = temporaryDir();
    const attempt = (url: string, extra: Record<string, unknown> = {}) =>
      download(url, { output: join(failing, 'vgg19.pt'), ...extra });
    afterEach(() => expect(leftovers(failing)).toEqual([]));

    test.each([
      [
        'a file other than the one expected',
        '/vgg19.pth',
        { sha256: '00000000' },
        new RegExp(`has SHA-256 ${sha256}, expected one beginning 00000000: it is not the file expected`),
      ],
      ['HTTP 404', '/missing', {}, /^Downloading http:\/\/127\.0\.0\.1:\d+\/missing failed: HTTP 404 Not Found$/],
      ['a connection cut short', '/cut', {}, /^Downloading .*\/cut failed: /],
      [
        'a server that stops sending',
        '/stalls',
        { timeoutMs: 300 },
        /^Downloading .*\/stalls failed: no data arrived for 0\.3 s$/,
      ],
    ])('%s', async (_title, url, extra, message) => {
      await expect(attempt(url, extra)).rejects.toThrow(message);
    });

    test('a server that is not there', async () => {
      const port = await refusedPort();
      await expect(
        downloadModel({ url: `http://127.0.0.1:${port}/vgg19.pth`, output: join(failing, 'vgg19.pt') }),
      ).rejects.toThrow(/failed: connect ECONNREFUSED/);
    });

    test('an AbortSignal stops it with an AbortError', async () => {
      const controller = new AbortController();
      const stopped = attempt('/stalls', { signal: controller.signal, onProgress: () => controller.abort() });
      await expect(stopped).rejects.toMatchObject({ name: 'AbortError' });
    });
  });

  test('the command line downloads the same way, reporting progress', async () => {
    const output = join(temporaryDir(), 'vgg19.pt');
    const cli = join(__dirname, '..', 'dist', 'cli.js');
    // Asynchronously: this process's server must answer meanwhile.
    const child = spawn(
      process.execPath,
      [cli, 'download-model', '--url', `${base}/vgg19.pth`, '--sha256', sha256, '--output', output],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const status = await new Promise((exited) => child.on('exit', exited));
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const megabytes = (weights.length / 1e6).toFixed(1);
    expect(stdout).toMatch(
      new RegExp(
        `^(Downloaded .* MB of ${megabytes} MB\n)*Downloaded ${megabytes} MB of ${megabytes} MB\nWrote ${output} \\(caffe preprocessing\\) from ${base}/vgg19\\.pth, SHA-256 ${sha256}\n$`,
      ),
    );
    expect(existsSync(output)).toBe(true);
  });

  test.each([
    [
      'unknown weights',
      { weights: 'vgg16' },
      /^Expected one of caffe, torchvision for weights but received 'vgg16' of type string$/,
    ],
    [
      'a URL that is not http',
      { url: 'ftp://example.com/vgg19.pth' },
      /^Expected an http or https URL for url but received 'ftp/,
    ],
    [
      'a hash too short',
      { sha256: 'd01e' },
      /^Expected a SHA-256 in hex, or its first 8 or more hex digits for sha256 but received 'd01e'/,
    ],
  ])('options: %s', async (_title, options, message) => {
    await expect(downloadModel({ output: join(dir, 'other.pt'), ...options } as never)).rejects.toThrow(message);
  });
});
