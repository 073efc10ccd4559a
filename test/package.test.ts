// The package as an app gets it from npm, installed by a user who is not root, on a machine
// where it fetches LibTorch: packed, installed into a new app (npm runs no install scripts of
// dependencies unasked, so nothing is built), then built by its own install script once the app
// approves it, against the official LibTorch archive from a mirror on 127.0.0.1. That archive is
// packed here from the system's LibTorch in the official layout (libtorch/lib, include,
// share/cmake), so the test runs offline; only its libraries may be loaded.
import { spawn, spawnSync } from 'node:child_process';
import {
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';

import { fixture, patternPng, temporaryDir, zipArchive } from './helpers';

const root = join(__dirname, '..');
const manifest = require('../package.json') as { version: string; dependencies: Record<string, string> };

/**
 * How every npm command of the test reaches the registry, as npm_config_* variables, which the
 * npm that the package's own set-up runs inherits. npm's defaults would retry a registry that
 * does not answer for many minutes: here a stalled request fails within a bounded time.
 * Registry reachable: the cache first, the network for what it lacks. Unreachable: the cache
 * alone, which serves when it holds every dependency (as after one online run).
 */
function npmSettings(): { env: Record<string, string>; unavailable?: string } {
  const bounded = {
    npm_config_fetch_timeout: '30000',
    npm_config_fetch_retries: '1',
    npm_config_fetch_retry_maxtimeout: '5000',
  };
  const ping = spawnSync('npm', ['ping'], {
    env: { ...process.env, ...bounded, npm_config_fetch_timeout: '10000', npm_config_fetch_retries: '0' },
    timeout: 30000,
  });
  if (ping.status === 0) return { env: { ...bounded, npm_config_prefer_offline: 'true' } };
  const offline = { ...bounded, npm_config_offline: 'true' };
  // Whether the cache can resolve the package's dependencies, asked without installing them.
  const probe = temporaryDir();
  writeFileSync(
    join(probe, 'package.json'),
    JSON.stringify({ name: 'probe', version: '1.0.0', private: true, dependencies: manifest.dependencies }),
  );
  const dryRun = spawnSync('npm', ['install', '--dry-run', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: probe,
    env: { ...process.env, ...offline },
    timeout: 120000,
  });
  if (dryRun.status === 0) return { env: offline };
  return {
    env: offline,
    unavailable: "the npm registry is unreachable and npm's cache lacks the package's dependencies",
  };
}

const npm = npmSettings();

const { probeLibtorch } = require('../scripts/libtorch-flags') as {
  probeLibtorch: () => { settings: { lib_dir: string } | null };
};
const systemLibtorch = probeLibtorch().settings?.lib_dir;

/** Every file under `folder`, as [path inside it, contents]. */
function filesUnder(folder: string): [string, Buffer][] {
  return (readdirSync(folder, { recursive: true }) as string[])
    .filter((name) => statSync(join(folder, name)).isFile())
    .map((name) => [name, readFileSync(join(folder, name))]);
}

/**
 * The system's LibTorch (Debian's libtorch-dev: lib/x86_64-linux-gnu, include, and CMake files
 * under lib/x86_64-linux-gnu/cmake) as the official archive lays it out. Each library is stored
 * under its soname, and the CMake files' paths are moved to the new places.
 */
function officialLayoutArchive(libDir: string): Buffer {
  const entries: { name: string; data: Buffer; mode?: number }[] = [];
  const sonames = new Map<string, string>();
  for (const library of ['torch', 'torch_cpu', 'c10']) {
    const soname = readlinkSync(join(libDir, `lib${library}.so`));
    const file = realpathSync(join(libDir, soname));
    sonames.set(relative(join(libDir, '..'), file), soname);
    entries.push({ name: `libtorch/lib/${soname}`, data: readFileSync(file), mode: 0o755 });
  }
  for (const headers of ['ATen', 'c10', 'caffe2', 'torch'])
    for (const [name, data] of filesUnder(join(libDir, '..', '..', 'include', headers)))
      entries.push({ name: `libtorch/include/${headers}/${name}`, data });
  for (const part of ['Torch', 'Caffe2', 'ATen'])
    for (const [name, data] of filesUnder(join(libDir, 'cmake', part))) {
      let text = data
        .toString('latin1')
        // Debian's prefix is four folders above its CMake files; the archive's is three.
        .replaceAll('/../../../../', '/../../../')
        .replaceAll('${_IMPORT_PREFIX}/../include', '${_IMPORT_PREFIX}/include');
      for (const [from, soname] of sonames)
        text = text.replaceAll(`\${_IMPORT_PREFIX}/${from}`, `\${_IMPORT_PREFIX}/lib/${soname}`);
      entries.push({ name: `libtorch/share/cmake/${part}/${name}`, data: Buffer.from(text, 'latin1') });
    }
  return zipArchive(entries);
}

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` as the user `uid` without blocking this process, whose server must answer meanwhile. */
function runAs(uid: number, command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
  return new Promise<Ran>((done, failed) => {
    const child = spawn(command, args, { ...options, uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', failed);
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

const nobody = 65534;
const title =
  'a user who is not root installs the packed package into a new app, approves its install script, which ' +
  'fetches LibTorch and builds against it, and a run uses only that LibTorch';
const skipped = npm.unavailable ?? (systemLibtorch ? undefined : 'no system LibTorch to pack an archive from');
(skipped ? test.skip : test)(
  skipped ? `${title} (skipped: ${skipped})` : title,
  async () => {
    // Folders the user owns: their home, with a copy of npm's cache (which serves offline), and the app.
    // Not in the run's own temporary folder, which only root may enter.
    const base = mkdtempSync('/tmp/neural-style-unprivileged-');
    try {
      const home = join(base, 'home');
      const app = join(base, 'app');
      mkdirSync(app, { recursive: true });
      const cache = spawnSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).stdout.trim();
      if (existsSync(join(cache, '_cacache')))
        cpSync(join(cache, '_cacache'), join(home, '.npm', '_cacache'), { recursive: true });
      const pack = spawnSync('npm', ['pack', '--silent', '--pack-destination', app], { cwd: root, encoding: 'utf8' });
      expect(pack.status).toBe(0);
      const [tarball] = readdirSync(app).filter((name) => name.endsWith('.tgz'));
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
      writeFileSync(join(app, 'image.png'), await patternPng(0));
      cpSync(fixture('tiny-numbered.pt'), join(app, 'model.pt'));
      for (const name of ['', ...(readdirSync(base, { recursive: true }) as string[])])
        chownSync(join(base, name), nobody, nobody);

      const archive = officialLayoutArchive(systemLibtorch!);
      const requests: string[] = [];
      const server = createServer((request, response) => {
        requests.push(request.url!);
        if (request.url !== '/cpu/libtorch-cxx11-abi-shared-with-deps-1.13.1%2Bcpu.zip')
          return response.writeHead(404).end();
        response.writeHead(200, { 'content-length': archive.length }).end(archive);
      });
      await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
      try {
        // The user's own environment: no test settings (NEURAL_STYLE_HOME, NEURAL_STYLE_ADDON) and
        // the cache in their home, as on their machine.
        const env: NodeJS.ProcessEnv = {
          PATH: process.env.PATH,
          HOME: home,
          npm_config_cache: join(home, '.npm'),
          ...npm.env,
          NEURAL_STYLE_LIBTORCH: 'cpu',
          NEURAL_STYLE_LIBTORCH_VERSION: '1.13.1',
          NEURAL_STYLE_LIBTORCH_MIRROR: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        };
        const run = async (command: string, args: string[]) => {
          const result = await runAs(nobody, command, args, { cwd: app, env });
          if (result.status !== 0)
            throw new Error(`${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
          return result;
        };
        const output = async (command: string, args: string[]) => {
          const { stdout, stderr } = await run(command, args);
          return stdout + stderr;
        };
        const bin = join(app, 'node_modules', '.bin', 'neural-style');
        const packed = join(app, 'node_modules', 'neural-style');
        const libtorch = join(home, '.cache', 'neural-style', 'libtorch', '1.13.1+cpu', 'libtorch');
        const addon = join(packed, 'build', 'Release', 'neural_style.node');

        // As where no install scripts run: nothing is built.
        await run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', join(app, tarball)]);
        // The tarball holds what runs and builds: no development scripts, no source maps of sources it lacks.
        expect(existsSync(join(packed, 'LICENSE'))).toBe(true);
        for (const left of ['bench', 'scripts/fuzz.js', 'scripts/device', 'dist/index.js.map', 'lib'])
          expect(existsSync(join(packed, left))).toBe(false);

        // Requiring it loads no addon; the first call that needs one says how to build it.
        const load = await runAs(nobody, process.execPath, ['-e', "require('neural-style').runtimeInfo()"], {
          cwd: app,
          env,
        });
        expect(load.status).not.toBe(0);
        const [, fix] =
          load.stderr.match(/^Error: The neural-style native addon is missing \(.*\)\. Build it with: (.*)$/m) ?? [];
        expect(fix).toBe(
          'npx neural-style setup (or, in the app, npm install-scripts approve neural-style && npm rebuild neural-style)',
        );

        // setup fetches LibTorch into the user's cache and builds against it, with the app's own
        // cmake-js and node-addon-api: no nested install, nothing written but the build.
        const setup = await output(bin, ['setup']);
        expect(setup).toContain(`neural-style: LibTorch unpacked in ${libtorch}`);
        expect(setup).toMatch(/neural-style: built .*neural_style\.node against LibTorch 1\.13\.\d/);
        expect(requests).toEqual(['/cpu/libtorch-cxx11-abi-shared-with-deps-1.13.1%2Bcpu.zip']);
        expect(existsSync(join(packed, 'node_modules'))).toBe(false);
        const linked = spawnSync('ldd', [addon], { encoding: 'utf8' }).stdout;
        const torchLines = linked.split('\n').filter((line) => /lib(torch|torch_cpu|c10)\.so/.test(line));
        expect(torchLines).toHaveLength(3);
        for (const line of torchLines) expect(line).toContain(`=> ${join(libtorch, 'lib')}/`);

        // Approved, the same script is npm's to run, on npm rebuild and every later install: the
        // package's own, not the node-gyp rebuild that npm install-scripts ls infers from
        // binding.gyp. It reuses the addon it keeps in the cache, as it does after npm ci.
        await run('npm', ['install-scripts', 'approve', 'neural-style']);
        const rebuilt = await output('npm', ['rebuild', 'neural-style', '--foreground-scripts']);
        expect(rebuilt).toMatch(/neural-style: reused the addon built before for LibTorch 1\.13\.\d/);
        expect(rebuilt).not.toMatch(/node-gyp/);
        rmSync(join(app, 'node_modules'), { recursive: true });
        const reinstalled = await output('npm', ['ci', '--no-audit', '--no-fund', '--foreground-scripts']);
        expect(reinstalled).toMatch(/neural-style: reused the addon built before/);
        expect(requests).toHaveLength(1);

        // As an ES module, through the exports map; the process maps LibTorch's libraries from the fetched one alone.
        const options = {
          content: 'image.png',
          style: 'image.png',
          model: 'model.pt',
          imageSize: 40,
          iterations: 2,
          output: 'out.png',
        };
        const script =
          `import { stylize } from 'neural-style'; import { readFileSync } from 'node:fs';` +
          `const result = await stylize(${JSON.stringify(options)});` +
          `const maps = readFileSync('/proc/self/maps', 'utf8').split('\\n').map((line) => line.split(/\\s+/)[5]);` +
          `console.log(JSON.stringify({ iterations: result.iterations, torch: [...new Set(maps.filter((path) => /\\/lib(torch|torch_cpu|c10)\\.so/.test(path ?? '')))] }));`;
        const stylized = JSON.parse((await run(process.execPath, ['--input-type=module', '-e', script])).stdout);
        expect(stylized.iterations).toBe(2);
        expect(stylized.torch.sort()).toEqual(
          readdirSync(join(libtorch, 'lib'))
            .map((name) => join(libtorch, 'lib', name))
            .sort(),
        );
        expect(existsSync(join(app, 'out.png'))).toBe(true);
        expect((await run(bin, ['--version'])).stdout.trim()).toBe(manifest.version);
        // doctor tells where that LibTorch came from (and, with no model in the cache, exits 1 naming the fix).
        const report = JSON.parse((await runAs(nobody, bin, ['doctor', '--json'], { cwd: app, env })).stdout);
        expect(report.libtorch).toMatchObject({
          library: expect.stringContaining(libtorch),
          source: 'the official archive fetched into the cache',
        });
        expect(report.problems).toEqual([expect.objectContaining({ fix: 'npx neural-style download-model' })]);
      } finally {
        server.closeAllConnections();
        server.close();
      }
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
  900000,
);
