import { rmSync } from 'node:fs';

import { runDirVariable } from './global-setup';

export default function globalTeardown(): void {
  const runDir = process.env[runDirVariable];
  if (runDir) rmSync(runDir, { recursive: true, force: true });
}
