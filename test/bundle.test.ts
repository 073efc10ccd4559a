// bundle(): the addon and its LibTorch libraries in one folder that runs after it is moved, on a
// machine whose own LibTorch is hidden. Hidden in a mount namespace (root only): a folder of links
// to every file of LibTorch's library folder but LibTorch's is mounted over that folder.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { bundle } from '../lib/bundle';
import { runPath } from '../lib/elf';
import { addonPath } from '../lib/native';
import { fixture, patternPng, temporaryDir } from './helpers';

const cli = join(__dirname, '..', 'dist', 'cli.js');
const libtorchLibrary = /^lib(torch|c10|shm)[\w-]*\.so/;

const namespaces =
  process.getuid?.() === 0 &&
  spawnSync('unshare', ['-m', 'mount', '--bind', '/tmp', '/tmp'], { stdio: 'ignore' }).status === 0;

test('the bundle holds the addon, pointed at its own folder, and the LibTorch libraries it loads', async () => {
  const written = await bundle({ output: join(temporaryDir(), 'bundle') });
  expect(readdirSync(dirname(written.addon)).sort()).toEqual(['neural_style.node', ...written.libraries].sort());
  // The two every addon needs (an as-needed link, as node-gyp's, leaves out the empty libtorch.so).
  for (const library of ['libtorch_cpu.so', 'libc10.so'])
    expect(written.libraries.some((name) => name.startsWith(library))).toBe(true);
  expect(runPath(readFileSync(written.addon), written.addon)).toEqual({ path: '$ORIGIN', transitive: true });
  // The addon in use is left as it was.
  expect(runPath(readFileSync(addonPath), addonPath)?.path).not.toBe('$ORIGIN');
});

const title = 'moved, the bundle runs where the LibTorch it was built against is hidden, and only its libraries load';
(namespaces ? test : test.skip)(
  namespaces ? title : `${title} (skipped: needs root and mount namespaces)`,
  async () => {
    const dir = temporaryDir();
    const made = await bundle({ output: join(dir, 'made') });
    const moved = join(dir, 'moved');
    renameSync(dirname(made.addon), moved);

    const libraries = runPath(readFileSync(addonPath), addonPath)!.path;
    const original = join(dir, 'original');
    const links = join(dir, 'links');
    mkdirSync(original);
    mkdirSync(links);
    for (const name of readdirSync(libraries))
      if (!libtorchLibrary.test(name)) symlinkSync(join(original, name), join(links, name));
    writeFileSync(join(dir, 'image.png'), await patternPng(0));
    const script = `
    const { stylize } = require(${JSON.stringify(join(__dirname, '..', 'dist', 'index.js'))});
    stylize({ content: 'image.png', style: 'image.png', model: ${JSON.stringify(fixture('tiny-numbered.pt'))}, imageSize: 40, iterations: 2 })
      .then((result) => {
        const maps = require('node:fs').readFileSync('/proc/self/maps', 'utf8').split('\\n').map((line) => line.split(/\\s+/)[5]);
        console.log(JSON.stringify({ iterations: result.iterations, libtorch: [...new Set(maps.filter((path) => /\\/lib(torch|c10)/.test(path ?? '')))] }));
      });`;
    const hidden = (addon: string) =>
      spawnSync(
        'unshare',
        [
          '-m',
          'sh',
          '-c',
          'mount --bind "$1" "$2" && mount --bind "$3" "$1" && exec "$4" -e "$5"',
          'sh',
          libraries,
          original,
          links,
          process.execPath,
          script,
        ],
        { cwd: dir, encoding: 'utf8', env: { ...process.env, NEURAL_STYLE_ADDON: addon } },
      );

    const bundled = hidden(join(moved, 'neural_style.node'));
    expect(bundled.stderr).toBe('');
    const report = JSON.parse(bundled.stdout);
    expect(report.iterations).toBe(2);
    expect(report.libtorch.sort()).toEqual(made.libraries.map((name) => join(moved, name)).sort());
    // The same without the bundle fails: the LibTorch is hidden indeed.
    const unbundled = hidden(addonPath);
    expect(unbundled.status).not.toBe(0);
    expect(unbundled.stderr).toMatch(/lib(torch|c10)\S*\.so\S*: cannot open shared object file/);
  },
);

test('the command line writes one and says how to use it', () => {
  const output = join(temporaryDir(), 'bundle');
  const result = spawnSync(process.execPath, [cli, 'bundle', output], { encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.stdout).toMatch(
    new RegExp(
      `^Wrote ${output}/neural_style\\.node with (lib\\S+, )*libtorch_cpu\\S*.*\nPoint the package at it with NEURAL_STYLE_ADDON=${output}/neural_style\\.node\n$`,
    ),
  );
});

test.each([
  [
    'a folder with files in it',
    () => dirname(fixture('tiny-numbered.pt')),
    /^output \S+fixtures is not empty: give a new or an empty folder$/,
  ],
  [
    'a folder inside one that does not exist',
    () => '/nonexistent/bundle',
    /^output's folder does not exist: \/nonexistent$/,
  ],
  [
    'no folder',
    () => undefined,
    /^Expected the path of a folder to write for output but received undefined of type undefined$/,
  ],
])('output: %s', async (_title, output, message) => {
  await expect(bundle({ output: output() as string })).rejects.toThrow(message);
});
