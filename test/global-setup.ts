import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

import { fixturesDir, fixture, referencePython } from './helpers';

// Builds the TorchScript fixtures once per change of their generator.
export default function globalSetup(): void {
  const generator = `${__dirname}/python/make_models.py`;
  const stamp = fixture('vgg19-full.pt');
  if (existsSync(stamp) && statSync(stamp).mtimeMs > statSync(generator).mtimeMs) return;
  const result = spawnSync(referencePython, [generator, fixturesDir, '--full'], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${referencePython} ${generator} failed (is python3-torch installed? npm test installs it):\n${result.stderr}`);
  }
}
