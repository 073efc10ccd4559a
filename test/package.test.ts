// The package as an app gets it from npm: packed, installed into another project (npm runs no
// install scripts of dependencies unasked, so nothing is built), then made ready by the command
// that require()'s error names.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { fixture, patternPng, temporaryDir } from './helpers';

const root = join(__dirname, '..');

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return result;
}

test('installed from a packed tarball, the package builds with the command its error names, then runs', async () => {
  const app = temporaryDir();
  run('npm', ['pack', '--silent', '--pack-destination', app], { cwd: root });
  const [tarball] = readdirSync(app).filter((name) => name.endsWith('.tgz'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  run('npm', ['install', '--no-audit', '--no-fund', join(app, tarball)], { cwd: app });

  // NEURAL_STYLE_ADDON would point the package at this checkout's addon: leave it out.
  const { NEURAL_STYLE_ADDON: _ignored, ...env } = process.env;
  const load = spawnSync(process.execPath, ['-e', "require('neural-style')"], { cwd: app, env, encoding: 'utf8' });
  expect(load.status).not.toBe(0);
  const [, fix] = load.stderr.match(/^Error: The neural-style native addon is missing \(.*\)\. Build it with: (.*)$/m) ?? [];
  expect(fix).toBe(`cd ${join(app, 'node_modules', 'neural-style')} && npm run setup`);
  const setup = run('sh', ['-c', fix], { env });
  // npm 11 lists dependencies whose install scripts no allowScripts entry covers: sharp's has one.
  expect(setup.stdout + setup.stderr).not.toMatch(/allowScripts/);
  // Installed, it needs no test tools: no jest, no TypeScript.
  expect(existsSync(join(app, 'node_modules', 'neural-style', 'node_modules', 'jest'))).toBe(false);

  const image = join(app, 'image.png');
  writeFileSync(image, await patternPng(0));
  const options = { content: image, style: image, model: fixture('tiny-numbered.pt'), imageSize: 40, iterations: 2, output: join(app, 'out.png') };
  const script = `require('neural-style').stylize(${JSON.stringify(options)}).then((result) => console.log(result.iterations, result.output))`;
  const stylized = run(process.execPath, ['-e', script], { cwd: app, env });
  expect(stylized.stdout.trim()).toBe(`2 ${join(app, 'out.png')}`);
  const cli = run(join(app, 'node_modules', '.bin', 'neural-style'), ['--version'], { cwd: app, env });
  expect(cli.stdout.trim()).toBe(require('../package.json').version);
}, 600000);
