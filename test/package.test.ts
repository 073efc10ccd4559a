// The package as an app gets it from npm: packed, installed into another project (npm runs no
// install scripts of dependencies unasked, so nothing is built), then built by its own install
// script once the app approves it, as the error of the first call that needs the addon says.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { fixture, patternPng, temporaryDir } from './helpers';

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

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return result;
}

const title = 'installed from a packed tarball, the package builds once its install script is approved, then runs';
(npm.unavailable ? test.skip : test)(
  npm.unavailable ? `${title} (skipped: ${npm.unavailable})` : title,
  async () => {
    // NEURAL_STYLE_ADDON would point the package at this checkout's addon: leave it out.
    const { NEURAL_STYLE_ADDON: _ignored, ...inherited } = process.env;
    const env = { ...inherited, ...npm.env };
    const app = temporaryDir();
    run('npm', ['pack', '--silent', '--pack-destination', app], { cwd: root, env });
    const [tarball] = readdirSync(app).filter((name) => name.endsWith('.tgz'));
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    // As where no install scripts run: nothing is built.
    run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', join(app, tarball)], { cwd: app, env });

    // The tarball holds what runs and builds: no development scripts, no source maps of sources it lacks.
    const packed = join(app, 'node_modules', 'neural-style');
    expect(existsSync(join(packed, 'LICENSE'))).toBe(true);
    for (const left of ['scripts/bench.js', 'scripts/fuzz.js', 'scripts/device', 'dist/index.js.map', 'lib'])
      expect(existsSync(join(packed, left))).toBe(false);

    // Requiring it loads no addon; the first call that needs one says how to build it.
    const load = spawnSync(process.execPath, ['-e', "require('neural-style').runtimeInfo()"], {
      cwd: app,
      env,
      encoding: 'utf8',
    });
    expect(load.status).not.toBe(0);
    const [, fix] =
      load.stderr.match(/^Error: The neural-style native addon is missing \(.*\)\. Build it with: (.*)$/m) ?? [];
    expect(fix).toBe(
      'npx neural-style setup (or, in the app, npm install-scripts approve neural-style && npm rebuild neural-style)',
    );
    run(join(app, 'node_modules', '.bin', 'neural-style'), ['setup'], { cwd: app, env });
    // Built with the app's own cmake-js and node-addon-api: no nested install, nothing written but the build.
    expect(existsSync(join(packed, 'build', 'Release', 'neural_style.node'))).toBe(true);
    expect(existsSync(join(packed, 'node_modules'))).toBe(false);

    // Approved, the same script is npm's to run, on npm rebuild and every later install: the
    // package's own, not the node-gyp rebuild that npm install-scripts ls infers from binding.gyp.
    run('npm', ['install-scripts', 'approve', 'neural-style'], { cwd: app, env });
    const rebuilt = run('npm', ['rebuild', 'neural-style', '--foreground-scripts'], { cwd: app, env });
    expect(rebuilt.stdout + rebuilt.stderr).toMatch(/neural-style: built .*neural_style\.node/);
    expect(rebuilt.stdout + rebuilt.stderr).not.toMatch(/node-gyp/);

    const image = join(app, 'image.png');
    writeFileSync(image, await patternPng(0));
    const options = {
      content: image,
      style: image,
      model: fixture('tiny-numbered.pt'),
      imageSize: 40,
      iterations: 2,
      output: join(app, 'out.png'),
    };
    // As an ES module, through the exports map.
    const script = `import { stylize } from 'neural-style'; const result = await stylize(${JSON.stringify(options)}); console.log(result.iterations, result.output);`;
    const stylized = run(process.execPath, ['--input-type=module', '-e', script], { cwd: app, env });
    expect(stylized.stdout.trim()).toBe(`2 ${join(app, 'out.png')}`);
    const cli = run(join(app, 'node_modules', '.bin', 'neural-style'), ['--version'], { cwd: app, env });
    expect(cli.stdout.trim()).toBe(manifest.version);
  },
  600000,
);
