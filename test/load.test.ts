import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { addonPath } from '../lib/native';
import { temporaryDir } from './helpers';

const packageRoot = join(__dirname, '..');

/** Requires the package and calls what needs the addon. */
function requirePackage(addon: string, script = "require('./dist').runtimeInfo()") {
  return spawnSync(process.execPath, ['-e', script], {
    cwd: packageRoot,
    encoding: 'utf8',
    env: { ...process.env, NEURAL_STYLE_ADDON: addon },
  });
}

test('requiring the package loads no LibTorch; the first function that needs the addon loads it', () => {
  // By file name: the folders of another LibTorch's run (build-libtorch2/) name it too.
  const libtorchLoaded = "/\\/lib(torch|c10)[^/]*\\.so/.test(require('fs').readFileSync('/proc/self/maps', 'utf8'))";
  const script = `
    const neuralStyle = require('./dist');
    const before = ${libtorchLoaded};
    const { resolveOptions } = require('./dist/options');
    resolveOptions({ content: Buffer.from('x'), style: Buffer.from('y'), model: 'random' });
    neuralStyle.runtimeInfo();
    console.log(JSON.stringify({ before, after: ${libtorchLoaded} }));`;
  // The addon this suite runs with (NEURAL_STYLE_ADDON's, against another LibTorch, included).
  const result = requirePackage(addonPath, script);
  expect(result.stderr).toBe('');
  expect(JSON.parse(result.stdout)).toMatchObject({ before: false, after: true });
});

test('without the addon, the package loads, checks options, and its runs reject naming the file and the fix', () => {
  const missing = join(temporaryDir(), 'neural_style.node');
  const result = requirePackage(
    missing,
    `const { stylize } = require('./dist');
     stylize({ content: Buffer.from('x'), style: Buffer.from('y'), model: 'random', imageSize: -1 })
       .catch((error) => { console.log(error.message); return stylize({ content: Buffer.from('x'), style: Buffer.from('y'), model: 'random' }); })
       .catch((error) => console.log(error.message));`,
  );
  expect(result.status).toBe(0);
  const [checked, missingAddon] = result.stdout.trim().split('\n');
  expect(checked).toMatch(/^Expected a positive integer for imageSize but received -1/);
  expect(missingAddon).toMatch(/^The neural-style native addon is missing/);
});

test('a missing addon makes the first call that needs it throw an error naming the file and the fix', () => {
  const result = requirePackage(join(temporaryDir(), 'neural_style.node'));
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(
    /The neural-style native addon is missing \(.*neural_style\.node\)\. Build it with: cd .* && npm run setup/,
  );
});

test('an addon that cannot be loaded makes that call say so and how to rebuild', () => {
  const broken = join(temporaryDir(), 'neural_style.node');
  writeFileSync(broken, 'not a shared object');
  const result = requirePackage(broken);
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(
    /The neural-style native addon failed to load \(.*\)\. Rebuild it with: cd .* && npm run setup/,
  );
});

test('an addon whose LibTorch libraries are gone makes that call name the library and the apt line', () => {
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
    /The neural-style native addon cannot find LibTorch \(libc10\.so\.0\.0: cannot open shared object file.*\)\. Rebuild it with: cd .* && npm run setup, which finds LibTorch or gets one/,
  );
});
