import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import sharp from 'sharp';

import type { RgbImage } from '../lib/options';

export const fixturesDir = join(__dirname, 'fixtures');
export const fixture = (name: string) => join(fixturesDir, name);
/** Debian's python3 with python3-torch; the first python3 on PATH may lack torch. */
export const referencePython = process.env.NEURAL_STYLE_TEST_PYTHON ?? '/usr/bin/python3';

const madeDirs: string[] = [];

/**
 * A new folder, removed after the test file's last test however it ended (test/cleanup.ts). It
 * lies in the run's own temporary folder, which global-setup.ts makes and teardown removes.
 */
export function temporaryDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'neural-style-test-'));
  madeDirs.push(dir);
  return dir;
}

export function removeTemporaryDirs(): void {
  for (const dir of madeDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * Records what happens in `dir` until stop(): each event as [kind, file name], kinds as fs.watch
 * (inotify) reports them: 'rename' when a name appears or goes, 'change' when a file is written.
 * Repeats of an event in a row are kept once, since how many writes a file takes is no concern.
 */
export function watchFolder(dir: string): { stop(): Promise<Array<[string, string]>> } {
  const events: Array<[string, string]> = [];
  const watcher = watch(dir, (kind, name) => {
    const last = events.at(-1);
    if (!(last && last[0] === kind && last[1] === name)) events.push([kind, String(name)]);
  });
  return {
    async stop() {
      // inotify's events come through the event loop: give the last ones time to arrive.
      await new Promise((resolve) => setTimeout(resolve, 200));
      watcher.close();
      return events;
    },
  };
}

/**
 * The events of a file written whole to a hidden temporary name beside `name`, then renamed to
 * it: `name` itself is never written to, so no reader ever sees part of it.
 */
export function atomicWriteOf(name: string) {
  const temporary = expect.stringMatching(new RegExp(`^\\.${name.replace(/\./g, '\\.')}\\.[0-9a-f]{12}\\.tmp$`));
  return [
    ['rename', temporary],
    ['change', temporary],
    ['rename', temporary],
    ['rename', name],
  ];
}

/** A deterministic RGB test pattern: smooth gradients plus a per-seed stripe texture. */
export function pattern(width: number, height: number, seed: number): RgbImage {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const wave = Math.sin((x * (seed + 1) + y * (c + 2)) / (3 + seed)) * 60;
        data[(y * width + x) * 3 + c] = Math.max(
          0,
          Math.min(255, Math.round(((x + y * c) * 255) / (width + height * 2) + wave + 60)),
        );
      }
    }
  }
  return { width, height, data };
}

/** An RGB image encoded as PNG. */
export function png(image: RgbImage): Promise<Buffer> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png()
    .toBuffer();
}

/** A 40x32 pattern encoded as PNG: the tests' usual small content (seed 0) and style (seed 1). */
export const patternPng = (seed: number) => png(pattern(40, 32, seed));

/** The largest difference between two RGB images' bytes. */
export function largestDifference(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) throw new Error(`Images of ${a.length} and ${b.length} bytes`);
  let largest = 0;
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i] - b[i]));
  return largest;
}

/** BT.601's Y of the RGB pixel that starts at byte `i`. */
export const luma = (data: Buffer, i: number) => 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];

/** How far each pixel's colour (R - Y, B - Y) is from the other image's, on average. */
export function colourDistance(a: Buffer, b: Buffer): number {
  const chroma = (data: Buffer, i: number) => {
    const y = luma(data, i);
    return [data[i] - y, data[i + 2] - y];
  };
  let sum = 0;
  for (let i = 0; i < a.length; i += 3) {
    const [first, second] = [chroma(a, i), chroma(b, i)];
    sum += Math.abs(first[0] - second[0]) + Math.abs(first[1] - second[1]);
  }
  return sum / (a.length / 3);
}

/** The same pattern as planar floats in 0..1. */
export function planar(image: RgbImage): Float32Array {
  const plane = image.width * image.height;
  const values = new Float32Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) values[c * plane + i] = image.data[i * 3 + c] / 255;
  }
  return values;
}

/** Runs test/python/reference.py on `request`, with images written to `dir`. */
export function reference<T>(request: Record<string, unknown>): T {
  const result = spawnSync(referencePython, [join(__dirname, 'python', 'reference.py')], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (result.status !== 0) throw new Error(`reference.py failed:\n${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

export function writeRaw(dir: string, name: string, data: Buffer | Float32Array): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return path;
}

export function relativeError(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-12);
}

/**
 * Makes a cgroup for this test process in the first of `hierarchies` (a folder, and the control
 * file it must offer) where that works; undefined without root or a writable one.
 */
export function makeCgroup(hierarchies: Array<[string, string]>): { group: string; controlFile: string } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const [hierarchy, controlFile] of hierarchies) {
    const group = join(hierarchy, `neural-style-test-${process.pid}`);
    try {
      mkdirSync(group);
    } catch {
      continue;
    }
    if (existsSync(join(group, controlFile))) return { group, controlFile: join(group, controlFile) };
    rmdirSync(group);
  }
  return undefined;
}

/** Runs `command` inside the cgroup `group`: a shell moves itself in, then becomes the command. */
export function spawnInCgroup(group: string, command: string, args: string[]) {
  return spawnSync('sh', ['-c', 'echo $$ > "$0" && exec "$@"', join(group, 'cgroup.procs'), command, ...args], {
    encoding: 'utf8',
  });
}

// Zip archives taken apart by their signatures, apart from lib/zip.ts, to damage them on purpose.
const localHeaders = (archive: Buffer) => {
  const found: number[] = [];
  for (
    let at = archive.indexOf('PK\x03\x04', 0, 'latin1');
    at >= 0;
    at = archive.indexOf('PK\x03\x04', at + 4, 'latin1')
  )
    found.push(at);
  return found;
};

/** A copy of `archive` with the first byte of the data of the entry ending in `suffix` changed. */
export function changeZipEntry(archive: Buffer, suffix: string): Buffer {
  const copy = Buffer.from(archive);
  const header = localHeaders(copy).find((at) =>
    copy.toString('utf8', at + 30, at + 30 + copy.readUInt16LE(at + 26)).endsWith(suffix),
  );
  if (header === undefined) throw new Error(`no entry ending in ${suffix}`);
  copy[header + 30 + copy.readUInt16LE(header + 26) + copy.readUInt16LE(header + 28)] ^= 1;
  return copy;
}

/** A copy of `archive` with every CRC-32 recorded as 0, as PyTorch writes when told not to compute them. */
export function withoutZipChecksums(archive: Buffer): Buffer {
  const copy = Buffer.from(archive);
  for (const at of localHeaders(copy)) copy.writeUInt32LE(0, at + 14);
  for (let at = copy.indexOf('PK\x01\x02', 0, 'latin1'); at >= 0; at = copy.indexOf('PK\x01\x02', at + 4, 'latin1'))
    copy.writeUInt32LE(0, at + 16);
  return copy;
}

/** A command line that stylizes `image` with itself, with random weights, at `imageSize` for `iterations`. */
export const randomRunFlags = (image: string, imageSize: number, iterations: number) => [
  ...['--content', image, '--style', image, '--model', 'random'],
  ...['--image-size', String(imageSize), '--iterations', String(iterations)],
];

/** A zip archive of `entries`, deflated, with Unix permissions: as the LibTorch archives are made. */
export function zipArchive(entries: { name: string; data: Buffer; mode?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const { name, data, mode = 0o644 } of entries) {
    const packed = deflateRawSync(data, { level: 1 });
    const fields = Buffer.alloc(26);
    fields.writeUInt16LE(20, 0); // version needed
    fields.writeUInt16LE(8, 4); // deflate
    fields.writeUInt32LE(crc32(data), 10);
    fields.writeUInt32LE(packed.length, 14);
    fields.writeUInt32LE(data.length, 18);
    fields.writeUInt16LE(Buffer.byteLength(name), 22);
    const nameBytes = Buffer.from(name);
    const local = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), fields, nameBytes, packed]);
    const record = Buffer.alloc(46);
    record.write('PK\x01\x02', 0, 'latin1');
    record.writeUInt16LE(0x031e, 4); // made by Unix
    fields.copy(record, 6, 0, 26);
    record.writeUInt32LE(((0o100000 | mode) << 16) >>> 0, 38);
    record.writeUInt32LE(offset, 42);
    central.push(record, nameBytes);
    locals.push(local);
    offset += local.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.write('PK\x05\x06', 0, 'latin1');
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A port on 127.0.0.1 that nothing listens on: one just given up by a server, so connections to it are refused. */
export async function refusedPort(): Promise<number> {
  const closed = createServer();
  await new Promise<void>((listening) => closed.listen(0, '127.0.0.1', listening));
  const { port } = closed.address() as AddressInfo;
  await new Promise((closing) => closed.close(closing));
  return port;
}
