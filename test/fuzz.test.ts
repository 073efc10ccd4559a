// The readers of untrusted files, fuzzed (scripts/fuzz.js, coverage-guided by V8's block
// coverage): a short run of each in every npm test, with a fixed seed, must find nothing and
// reach blocks the seed files alone do not; every input a run once found stays a test here.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { readStateDict } from '../lib/checkpoint';
import { verifyTorchScript } from '../lib/zip';
import { fixture, temporaryDir } from './helpers';

const fuzzer = join(__dirname, '..', 'scripts', 'fuzz.js');

test.each(['checkpoint', 'zip'])('fuzzing the %s reader for 10 s finds nothing', (target) => {
  const run = spawnSync(process.execPath, [fuzzer, '--target', target, '--seconds', '10', '--seed', '1', '--json'], {
    encoding: 'utf8',
    timeout: 120000,
  });
  expect(run.status).toBe(0);
  const report = JSON.parse(run.stdout) as Record<string, number | string[]>;
  expect(report.findings).toEqual([]);
  expect(report.executions).toBeGreaterThan(500);
  // The coverage guides: mutations reach blocks that the seed inputs did not.
  expect(report.blocksCovered).toBeGreaterThan(report.blocksBySeeds as number);
});

describe('what fuzzing found, each refused by name', () => {
  const dir = temporaryDir();
  const found = readdirSync(join(__dirname, 'fuzz-findings')).map((name) => join(__dirname, 'fuzz-findings', name));
  // A signature of the end record in the last 21 bytes, too close to the end to be one: read
  // past the buffer's end, a RangeError that named nothing.
  const endRecordAtTheEnd = join(dir, 'end-record-at-the-end.pt');
  writeFileSync(
    endRecordAtTheEnd,
    Buffer.concat([readFileSync(fixture('tiny-numbered.pt')), Buffer.from('PK\x05\x06\x00\x00\x01\x00', 'latin1')]),
  );

  // zip-directory-past-end.pt: a directory recorded 3.4 GB long, 4 GB in: Node's read aborted the
  // process. checkpoint-shape-of-bytes.pth: a legacy file whose pickle gave a tensor a bytes object
  // for its shape: a TypeError that named nothing.
  test.each([...found, endRecordAtTheEnd])('%s', async (path) => {
    await expect(readStateDict(path)).rejects.toThrow(path);
    if (readFileSync(path).subarray(0, 2).toString('latin1') === 'PK')
      await expect(verifyTorchScript(path, `Model ${path}`)).rejects.toThrow(path);
  });
});
