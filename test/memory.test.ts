// A CPU run that outgrows memory must fail with an error, never get the process killed.
import { spawnSync } from 'node:child_process';
import { existsSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { runtimeInfo, stylize, StylizeOptions } from '../lib';
import { cpuMemoryModel } from '../lib/memory';
import { fixture, makeCgroup, patternPng, spawnInCgroup, temporaryDir } from './helpers';

const GiB = 2 ** 30;
const dir = temporaryDir();

async function options(extra: Partial<StylizeOptions>): Promise<StylizeOptions> {
  return {
    content: await patternPng(0),
    style: await patternPng(1),
    model: fixture('tiny-numbered.pt'),
    device: 'cpu',
    threads: 2,
    ...extra,
  };
}

afterEach(() => jest.restoreAllMocks());

test('the check before a run counts the memory the process can have, container limits included', async () => {
  const available = jest.spyOn(process, 'availableMemory').mockReturnValue(GiB);
  let progressed = false;
  await expect(stylize(await options({ imageSize: 1500, onProgress: () => (progressed = true) }))).rejects.toThrow(
    /^imageSize 1500 makes a 1500x1200 image, which needs about \d+\.\d GB of memory on the CPU, but 1\.0 GB is available: lower imageSize$/,
  );
  expect(available).toHaveBeenCalled();
  expect(progressed).toBe(false);
});

test('on macOS, whose free-memory figure leaves out what it would reclaim, neither limit applies', async () => {
  const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
  Object.defineProperty(process, 'platform', { value: 'darwin' });
  try {
    jest.spyOn(process, 'availableMemory').mockReturnValue(2 ** 20);
    const result = await stylize(await options({ imageSize: 600, iterations: 1 }));
    expect(result.image.width).toBe(600);
  } finally {
    Object.defineProperty(process, 'platform', platform);
  }
});

test('memory taken away after that check makes the engine refuse tensors, not crash', async () => {
  // Plenty for the estimate, then 150 MiB once the run starts: less than its tensors need.
  jest
    .spyOn(process, 'availableMemory')
    .mockReturnValueOnce(8 * GiB)
    .mockReturnValueOnce(150 * 2 ** 20);
  const output = join(dir, 'never.png');
  await expect(stylize(await options({ model: 'random', imageSize: 256, iterations: 5, output }))).rejects.toThrow(
    /^Out of memory: the run holds \d\.\d\d GiB and needs more, but only 0\.\d\d GiB can be had without the system killing the process; lower imageSize \(or lbfgsHistory\), or free memory$/,
  );
  expect(existsSync(output)).toBe(false);
  expect(runtimeInfo().heldCpuBytes).toBe(0);
  // The limit ends with the run.
  const result = await stylize(await options({ model: 'random', imageSize: 256, iterations: 2 }));
  expect(result.iterations).toBe(2);
});

// The case the checks exist for: a container whose memory limit is far below the machine's.
const cgroup = makeCgroup([
  ['/sys/fs/cgroup/memory', 'memory.limit_in_bytes'],
  ['/sys/fs/cgroup', 'memory.max'],
]);
afterAll(() => cgroup && rmdirSync(cgroup.group));
if (!cgroup) console.warn('Skipping the container memory test: it needs root and a writable memory cgroup');

// The command line's inputs in the container tests.
const [content, style] = ['content.png', 'style.png'].map((name) => join(dir, name));
beforeAll(async () => {
  writeFileSync(content, await patternPng(0));
  writeFileSync(style, await patternPng(1));
});

/** The command line on random weights on the CPU, in the test's container. */
const cliInContainer = (output: string, imageSize: string, ...flags: string[]) =>
  spawnInCgroup(cgroup!.group, process.execPath, [
    ...[join(__dirname, '..', 'dist', 'cli.js'), '--content', content, '--style', style, '--output', output],
    ...['--model', 'random', '--image-size', imageSize, '--device', 'cpu', ...flags],
  ]);

(cgroup ? test : test.skip)('the CLI in a 1.5 GiB container exits with a message instead of being killed', async () => {
  writeFileSync(cgroup!.controlFile, String(1.5 * GiB));
  const output = join(dir, 'big.png');
  const run = cliInContainer(output, '1200', '--iterations', '2');
  expect(run.signal).toBeNull();
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(
    /^neural-style: --image-size 1200 makes a 1200x960 image, which needs about \d+\.\d GB of memory on the CPU, but 1\.\d GB is available: lower --image-size$/m,
  );
  expect(existsSync(output)).toBe(false);
});

(cgroup ? test : test.skip)(
  'in a 2.5 GiB container, bfloat16 layers fit an image that float32 ones do not',
  async () => {
    writeFileSync(cgroup!.controlFile, String(2.5 * GiB));
    // 1000x800: about 2.8 GiB estimated in float32 and 2.0 GiB with bfloat16 layers, which peak at
    // about 1.8 GiB; the estimate of 4.5 KB a pixel that preceded the measured one refused both.
    const run = (precision: string) => {
      const output = join(dir, `${precision}.png`);
      const result = cliInContainer(
        output,
        '1000',
        '--iterations',
        '1',
        '--lbfgs-history',
        '5',
        '--precision',
        precision,
      );
      return { ...result, written: existsSync(output) };
    };
    const single = run('float32');
    expect(single.signal).toBeNull();
    expect(single.stderr).toMatch(
      /^neural-style: --image-size 1000 makes a 1000x800 image, which needs about 2\.\d GB of memory on the CPU, but 2\.\d GB is available: lower --image-size$/m,
    );
    expect(single.written).toBe(false);
    const brain = run('bfloat16');
    expect(brain.signal).toBeNull();
    expect(brain.stderr).not.toMatch(/memory/i);
    expect(brain.status).toBe(0);
    expect(brain.written).toBe(true);
  },
);

test("the check's figures are at least what scripts/memory.js measures now, on this CPU", () => {
  const run = spawnSync(process.execPath, [join(__dirname, '..', 'scripts', 'memory.js'), '--sizes', '256,512'], {
    encoding: 'utf8',
  });
  expect(run.stderr).toBe('');
  const cpu = /^CPU: .*$/m.exec(run.stdout)?.[0];
  expect(cpu).toMatch(/; oneDNN ISA: .*; OpenBLAS core: /);
  for (const precision of ['float32', 'bfloat16'] as const) {
    const fit = new RegExp(`^${precision}: (\\d+) MB \\+ ([\\d.]+) KB a pixel$`, 'm').exec(run.stdout);
    expect(fit).not.toBeNull();
    const [baseMb, perPixelKb] = [Number(fit![1]), Number(fit![2])];
    // Failures name the CPU: the figures differ between CPU kinds.
    const measured = `${precision} on ${cpu}: ${baseMb} MB + ${perPixelKb} KB a pixel`;
    const { runBaseBytes, activationBytesPerPixel } = cpuMemoryModel;
    expect({
      measured,
      fits: baseMb * 2 ** 20 <= runBaseBytes && perPixelKb * 2 ** 10 <= activationBytesPerPixel[precision],
    }).toEqual({ measured, fits: true });
    // Not so far above it that runs which fit are refused.
    expect(perPixelKb * 2 ** 10).toBeGreaterThan(activationBytesPerPixel[precision] * 0.8);
  }
});

test('after each run, finished or aborted, the resident memory is within 50 MB of where it was before it', () => {
  // In a process of its own, so that only these runs count.
  const script = `
    const { stylize, runtimeInfo } = require(${JSON.stringify(join(__dirname, '..', 'dist', 'index.js'))});
    // LibTorch loads with the first call that needs it: before the first run is measured.
    runtimeInfo();
    const image = { width: 256, height: 192, data: Buffer.alloc(256 * 192 * 3, 90) };
    const options = { content: image, style: image, model: 'random', imageSize: 256, iterations: 5, device: 'cpu' };
    (async () => {
      const growth = [];
      for (let i = 0; i < 12; i++) {
        const before = process.memoryUsage.rss();
        const controller = new AbortController();
        // Every other run is aborted at its second progress event.
        const onProgress = i % 2 ? (event) => event.iteration === 2 && controller.abort() : undefined;
        await stylize({ ...options, signal: controller.signal, onProgress }).catch(() => {});
        growth.push(process.memoryUsage.rss() - before);
      }
      console.log(JSON.stringify(growth));
    })();
  `;
  const run = spawnSync(process.execPath, ['--no-warnings', '-e', script], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  const growth = JSON.parse(run.stdout) as number[];
  expect(growth).toHaveLength(12);
  for (const bytes of growth) expect(bytes).toBeLessThan(50 * 2 ** 20);
});
