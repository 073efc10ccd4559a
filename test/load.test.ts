import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { temporaryDir } from './helpers';

const packageRoot = join(__dirname, '..');

function requirePackage(addon: string) {
  return spawnSync(process.execPath, ['-e', "require('./dist')"], {
    cwd: packageRoot,
    encoding: 'utf8',
    env: { ...process.env, NEURAL_STYLE_ADDON: addon },
  });
}

test('a missing addon makes require() throw an error naming the file and the fix', () => {
  const result = requirePackage(join(temporaryDir(), 'neural_style.node'));
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(/The neural-style native addon is missing \(.*neural_style\.node\)\. Build it with: cd .* && npm run setup/);
});

test('an addon that cannot be loaded makes require() say so and how to rebuild', () => {
  const broken = join(temporaryDir(), 'neural_style.node');
  writeFileSync(broken, 'not a shared object');
  const result = requirePackage(broken);
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(/The neural-style native addon failed to load \(.*\)\. Rebuild it with: cd .* && npm run setup/);
});
