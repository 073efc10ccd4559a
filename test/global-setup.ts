import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { fixturesDir, fixture, referencePython } from './helpers';

/** Where this run keeps its temporary files: global-teardown.ts removes it, whatever failed. */
export const runDirVariable = 'NEURAL_STYLE_TEST_RUN_DIR';

/** Whether process `pid` is still running. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export default function globalSetup(): void {
  // A run that was killed had no teardown: its folder, named after its process, goes now.
  for (const name of readdirSync(tmpdir())) {
    const pid = /^neural-style-test-run-(\d+)-/.exec(name)?.[1];
    if (pid && !running(Number(pid))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
  // Everything the run starts (tests, npm, Python, compilers) puts its temporary files here.
  const runDir = mkdtempSync(join(tmpdir(), `neural-style-test-run-${process.pid}-`));
  process.env[runDirVariable] = runDir;
  process.env.TMPDIR = runDir;
  // And its model cache: no test sees, or fills, the user's own.
  process.env.NEURAL_STYLE_HOME = join(runDir, 'model-cache');

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
