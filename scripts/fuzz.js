#!/usr/bin/env node
// A coverage-guided fuzzer for the package's readers of untrusted files: lib/checkpoint.ts
// (torch.save files: pickle, in a zip or the legacy layout) and lib/zip.ts (the zip checks run
// before a model loads). Jazzer.js cannot run here (its prebuilt fuzzer needs glibc 2.38, Debian 12
// has 2.36, and older releases download theirs from GitHub), so this one takes its coverage from
// V8 itself (the inspector's precise block coverage), as libFuzzer takes its from its
// instrumentation: an input that runs a block of the reader no input ran before joins the corpus,
// and new inputs are mutations of corpus entries.
//
// Every input must either be read or be refused with an Error whose message names the file; any
// other outcome (another error, a non-Error, a hang past --timeout) is a finding, saved to
// --findings. Prints the executions, the blocks covered and the findings.
//
//   node scripts/fuzz.js --target checkpoint|zip [--seconds 60] [--seed 1] [--corpus DIR]...
//     [--findings DIR] [--timeout 5000] [--json]
'use strict';

const { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { Session } = require('node:inspector/promises');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { parseArgs } = require('node:util');

const { readStateDict } = require('../dist/checkpoint');
const { verifyTorchScript } = require('../dist/zip');

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string', default: '1' },
    corpus: { type: 'string', multiple: true },
    findings: { type: 'string' },
    timeout: { type: 'string', default: '5000' },
    'max-length': { type: 'string', default: '200000' },
    json: { type: 'boolean', default: false },
  },
});

const fixtures = join(__dirname, '..', 'test', 'fixtures');
/** What each target reads, and the source files whose blocks count as its coverage. */
const targets = {
  checkpoint: {
    run: (path) => readStateDict(path),
    sources: ['checkpoint.js', 'zip.js', 'files.js'],
    seeds: /\.pth$/,
  },
  zip: {
    run: (path) => verifyTorchScript(path, path),
    sources: ['zip.js', 'files.js'],
    seeds: /\.(pt|pth)$/,
  },
};
const target = targets[values.target];
if (!target) {
  console.error(`fuzz: --target must be one of ${Object.keys(targets).join(', ')}`);
  process.exit(2);
}
const seconds = Number(values.seconds);
const timeoutMs = Number(values.timeout);
const maxLength = Number(values['max-length']);

// A small, seeded generator (mulberry32): the same seed gives the same run.
let state = Number(values.seed) >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const below = (n) => Math.floor(random() * n);

// Values that break size and count fields: the edges of each integer width.
const interesting = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x7fffffff, 0xffffffff, 0x80000000];

/** One of libFuzzer's kinds of change, at random. */
function mutate(input, corpus) {
  const data = Buffer.from(input);
  const kinds = [
    () => {
      if (data.length) data[below(data.length)] ^= 1 << below(8);
      return data;
    },
    () => {
      if (data.length) data[below(data.length)] = below(256);
      return data;
    },
    () => {
      // A little-endian 32-bit edge value, where pickle and zip keep their sizes and offsets.
      if (data.length >= 4) data.writeUInt32LE(interesting[below(interesting.length)] >>> 0, below(data.length - 3));
      return data;
    },
    () => data.subarray(0, below(data.length + 1)),
    () => {
      const at = below(data.length + 1);
      const length = 1 + below(16);
      return Buffer.concat([
        data.subarray(0, at),
        Buffer.from(Array.from({ length }, () => below(256))),
        data.subarray(at),
      ]);
    },
    () => {
      const at = below(data.length + 1);
      return Buffer.concat([data.subarray(0, at), data.subarray(Math.min(data.length, at + 1 + below(64)))]);
    },
    () => {
      // A chunk of this input or another copied over a place of this one.
      const other = corpus[below(corpus.length)];
      if (!other.length || !data.length) return data;
      const from = below(other.length);
      const length = Math.min(1 + below(256), other.length - from, data.length);
      other.copy(data, below(data.length - length + 1), from, from + length);
      return data;
    },
  ];
  let result = data;
  for (let changes = 1 + below(4); changes > 0; changes--) result = kinds[below(kinds.length)]();
  return result.subarray(0, maxLength);
}

/** The corpus: the fixtures the target reads (under --max-length), or the folders given. */
function seedCorpus() {
  const folders = values.corpus ?? [fixtures];
  const files = folders.flatMap((folder) =>
    readdirSync(folder)
      .filter((name) => (values.corpus ? true : target.seeds.test(name)))
      .map((name) => join(folder, name)),
  );
  return files
    .filter((path) => statSync(path).isFile() && statSync(path).size <= maxLength)
    .map((path) => readFileSync(path));
}

async function main() {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  const sources = target.sources.map((name) => resolve(__dirname, '..', 'dist', name));
  const blocks = new Set();
  const covered = new Set();
  /** The blocks of the target's sources that ran since the last call. */
  async function ranBlocks() {
    const { result } = await session.post('Profiler.takePreciseCoverage');
    const ran = [];
    for (const script of result) {
      const path = script.url.replace(/^file:\/\//, '');
      if (!sources.includes(path)) continue;
      for (const fn of script.functions) {
        for (const range of fn.ranges) {
          const key = `${path}:${range.startOffset}-${range.endOffset}`;
          blocks.add(key);
          if (range.count > 0) ran.push(key);
        }
      }
    }
    return ran;
  }

  const scratch = join(tmpdir(), `neural-style-fuzz-${process.pid}`);
  mkdirSync(scratch, { recursive: true });
  const path = join(scratch, `input.${values.target === 'checkpoint' ? 'pth' : 'pt'}`);
  const findings = [];
  // A crash ends the process before any report: the input it crashed on is the one left here.
  process.stderr.write(`fuzz: each input is written to ${path}; after a crash it holds the one that crashed\n`);

  /** Runs one input: undefined when it was read or refused by name, else what went wrong. */
  async function execute(input) {
    writeFileSync(path, input);
    let timer;
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(() => resolve({ hang: true }), timeoutMs);
    });
    try {
      const outcome = await Promise.race([target.run(path).then(() => ({})), timedOut]);
      if (outcome.hang) return `no answer within ${timeoutMs} ms`;
      return undefined;
    } catch (error) {
      if (error instanceof Error && error.message.includes(path)) return undefined;
      return error instanceof Error ? `${error.name}: ${error.message}` : `threw ${String(error)}`;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs an input, keeps it when it ran a new block, and records a finding. */
  async function tryInput(input, corpus) {
    const problem = await execute(input);
    const fresh = (await ranBlocks()).filter((key) => !covered.has(key));
    for (const key of fresh) covered.add(key);
    if (fresh.length > 0) corpus.push(input);
    // One finding for each kind of problem: the same message but for its numbers.
    const kind = problem?.replace(/\d+/g, 'N');
    if (problem && !findings.some((finding) => finding.kind === kind)) {
      findings.push({ problem, kind, input });
      if (values.findings) {
        mkdirSync(values.findings, { recursive: true });
        writeFileSync(join(values.findings, `${values.target}-${findings.length}.bin`), input);
      }
    }
  }

  const corpus = [];
  const seeds = seedCorpus();
  if (seeds.length === 0) throw new Error('fuzz: no seed inputs');
  for (const seed of seeds) await tryInput(seed, corpus);
  const seedBlocks = covered.size;
  const started = performance.now();
  let executions = seeds.length;
  while (performance.now() - started < seconds * 1000) {
    const parent = corpus.length ? corpus[below(corpus.length)] : seeds[below(seeds.length)];
    await tryInput(mutate(parent, corpus.length ? corpus : seeds), corpus);
    executions++;
  }
  rmSync(scratch, { recursive: true, force: true });
  const report = {
    target: values.target,
    seed: Number(values.seed),
    seconds,
    executions,
    executionsPerSecond: Math.round(executions / seconds),
    seedInputs: seeds.length,
    corpus: corpus.length,
    blocksBySeeds: seedBlocks,
    blocksCovered: covered.size,
    blocksSeen: blocks.size,
    findings: findings.map(({ problem }) => problem),
  };
  if (values.json) {
    console.log(JSON.stringify(report));
  } else {
    console.log(
      `${report.target}: ${executions} executions in ${seconds} s (${report.executionsPerSecond}/s), ` +
        `blocks covered ${report.blocksCovered} of ${report.blocksSeen} (the seeds alone ${seedBlocks}), ` +
        `corpus ${report.corpus}, findings ${findings.length}`,
    );
    for (const { problem } of findings) console.log(`  finding: ${problem}`);
  }
  process.exitCode = findings.length > 0 ? 1 : 0;
}

main().catch((error) => {
  console.error(`fuzz failed: ${error.stack}`);
  process.exitCode = 2;
});
