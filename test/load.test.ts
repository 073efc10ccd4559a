import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
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
  expect(result.stderr).toMatch(
    /The neural-style native addon is missing \(.*neural_style\.node\)\. Build it with: cd .* && npm run setup/,
  );
});

test('an addon that cannot be loaded makes require() say so and how to rebuild', () => {
  const broken = join(temporaryDir(), 'neural_style.node');
  writeFileSync(broken, 'not a shared object');
  const result = requirePackage(broken);
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(
    /The neural-style native addon failed to load \(.*\)\. Rebuild it with: cd .* && npm run setup/,
  );
});

test('an addon whose LibTorch libraries are gone makes require() name the library and the apt line', () => {
  // A stand-in addon linked against a library that is deleted afterwards: what a machine sees
  // when libtorch-dev was removed after the build.
  const dir = temporaryDir();
  const compile = (...args: string[]) => {
    const result = spawnSync('g++', ['-shared', '-fPIC', ...args], { cwd: dir, encoding: 'utf8' });
    expect(result.stderr).toBe('');
  };
  writeFileSync(join(dir, 'stub.cpp'), 'int neural_style_stub() { return 0; }\n');
  // A version no installed LibTorch has, so that the system's own copy cannot stand in.
  compile('-o', 'libc10.so.0.0', '-Wl,-soname,libc10.so.0.0', 'stub.cpp');
  compile('-o', 'neural_style.node', 'stub.cpp', '-Wl,--no-as-needed', '-L.', '-l:libc10.so.0.0');
  rmSync(join(dir, 'libc10.so.0.0'));

  const result = requirePackage(join(dir, 'neural_style.node'));
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(
    /The neural-style native addon cannot find LibTorch \(libc10\.so\.0\.0: cannot open shared object file.*\)\. Install it with: sudo apt-get install libtorch-dev, then rebuild with: cd .* && npm run setup/,
  );
});
