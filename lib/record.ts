// The record of a run (`record: true`): everything needed to run it again and to look at how it
// went. Same inputs, options, seed, device and threads give the same output bytes on the CPU.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';

import { writeAtomically } from './files';
import type { CheckedImageInput } from './image-input';
import type { NativeResult } from './native';
import type { ProgressEvent, ResolvedOptions } from './options';

const { name: packageName, version: packageVersion } = require('../package.json') as {
  name: string;
  version: string;
};

/** One iteration's losses, as the record keeps them. */
export interface RecordedIteration {
  scale: number;
  iteration: number;
  loss: number;
  content: number;
  style: number;
  tv: number;
  elapsedMs: number;
}

/** An input as the record names it: where it came from and the SHA-256 of its bytes. */
export interface RecordedInput {
  source: string;
  sha256: string;
}

export interface RunRecord {
  format: 'neural-style-record';
  version: 1;
  package: string;
  libtorch: string;
  node: string;
  /** Every option after defaults, images named by source; callbacks left out. */
  options: Record<string, unknown>;
  model: RecordedInput | { source: 'random'; seed: number };
  inputs: {
    content: RecordedInput;
    styles: RecordedInput[];
    styleMasks?: RecordedInput[];
    calibrationImages?: RecordedInput[];
    initImage?: RecordedInput;
  };
  device: string;
  threads: number;
  scales: Array<{ size: number; width: number; height: number; iterations: number; elapsedMs: number }>;
  /** From the start of stylize() to the result, decoding and loading included. */
  totalMs: number;
  iterations: RecordedIteration[];
  output?: RecordedInput;
}

export async function sha256Of(input: CheckedImageInput | string): Promise<string> {
  const hash = createHash('sha256');
  if (typeof input === 'string') {
    for await (const chunk of createReadStream(input)) hash.update(chunk as Buffer);
  } else {
    hash.update(Buffer.isBuffer(input) ? input : input.data);
  }
  return hash.digest('hex');
}

async function recordedInput(input: CheckedImageInput): Promise<RecordedInput> {
  const source =
    typeof input === 'string'
      ? input
      : Buffer.isBuffer(input)
        ? `a Buffer of ${input.length} bytes`
        : `${input.width}x${input.height} raw pixels, ${input.channels} channels`;
  return { source, sha256: await sha256Of(input) };
}

/** Where the record of a run writing `output` goes: out.png -> out.record.json. */
export const recordPathOf = (output: string) =>
  `${output.slice(0, output.length - extname(output).length)}.record.json`;

/** Collects a run's iterations, then writes its record. */
export class RunRecorder {
  private readonly started = performance.now();
  private readonly iterations: RecordedIteration[] = [];
  private readonly scales: RunRecord['scales'] = [];

  constructor(private readonly o: ResolvedOptions) {}

  add(event: ProgressEvent): void {
    const { scale, iteration, loss, content, style, tv, elapsedMs } = event;
    this.iterations.push({ scale, iteration, loss, content, style, tv, elapsedMs });
  }

  scaleDone(size: number, result: NativeResult): void {
    const { width, height } = result.image;
    this.scales.push({ size, width, height, iterations: result.iterations, elapsedMs: result.elapsedMs });
  }

  async finish(libtorch: string, device: string): Promise<RunRecord> {
    const { o } = this;
    const {
      onProgress: _onProgress,
      signal: _signal,
      content,
      style,
      initImage,
      styleMasks,
      calibrationImages,
      ...rest
    } = o;
    const [contentInput, styles, masks, calibration, init, model] = await Promise.all([
      recordedInput(content),
      Promise.all(style.map(recordedInput)),
      styleMasks === undefined ? undefined : Promise.all(styleMasks.map(recordedInput)),
      calibrationImages === undefined ? undefined : Promise.all(calibrationImages.map(recordedInput)),
      initImage === undefined ? undefined : recordedInput(initImage),
      o.model === 'random'
        ? { source: 'random' as const, seed: o.seed }
        : sha256Of(o.model).then((sha256) => ({ source: o.model, sha256 })),
    ]);
    const inputs = {
      content: contentInput,
      styles,
      ...(masks ? { styleMasks: masks } : {}),
      ...(calibration ? { calibrationImages: calibration } : {}),
      ...(init ? { initImage: init } : {}),
    };
    const options = JSON.parse(
      JSON.stringify({
        ...rest,
        content: contentInput.source,
        style: styles.map((recorded) => recorded.source),
        styleMasks: masks?.map((recorded) => recorded.source),
        calibrationImages: calibration?.map((recorded) => recorded.source),
        initImage: init?.source,
      }),
    ) as Record<string, unknown>;
    return {
      format: 'neural-style-record',
      version: 1,
      package: `${packageName}@${packageVersion}`,
      libtorch,
      node: process.version,
      options,
      model,
      inputs,
      device,
      threads: o.threads,
      scales: this.scales,
      totalMs: performance.now() - this.started,
      iterations: this.iterations,
    };
  }
}

/** Reads a record written by a run, refusing a file that is not one, by name. */
export async function readRecord(path: string): Promise<RunRecord> {
  let record: Partial<RunRecord>;
  try {
    record = JSON.parse(await readFile(path, 'utf8')) as Partial<RunRecord>;
  } catch (error) {
    throw new Error(`Could not read record ${path}: ${(error as Error).message}`);
  }
  if (record?.format !== 'neural-style-record' || !Array.isArray(record.iterations))
    throw new Error(`Record ${path} is not a neural-style record (written by a run with --record)`);
  return record as RunRecord;
}

/** Writes `record` beside `output`, whole or not at all, with the output's SHA-256. */
export async function writeRecord(record: RunRecord, output: string): Promise<string> {
  record.output = { source: output, sha256: await sha256Of(output) };
  const path = recordPathOf(output);
  await writeAtomically(path, (temporary) => writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`), 'record');
  return path;
}
