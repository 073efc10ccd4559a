import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { fixturesDir, fixture, referencePython } from './helpers';

/** Where this run keeps its temporary files: global-teardown.ts removes it, whatever failed. */
export const runDirVariable = 'NEURAL_STYLE_TEST_RUN_DIR';

export default function globalSetup(): void {
  // Everything the run starts (tests, npm, Python, compilers) puts its temporary files here.
  const runDir = mkdtempSync(join(tmpdir(), 'neural-style-test-run-'));
  process.env[runDirVariable] = runDir;
  process.env.TMPDIR = runDir;

  // Builds the TorchScript fixtures once per change of their generator.
  const generator = `${__dirname}/python/make_models.py`;
  const stamp = fixture('vgg19-full.pt');
  if (existsSync(stamp) && statSync(stamp).mtimeMs > statSync(generator).mtimeMs) return;
  const result = spawnSync(referencePython, [generator, fixturesDir, '--full'], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(
      `${referencePython} ${generator} failed (is python3-torch installed? npm test installs it):\n${result.stderr}`,
    );
  }
}
