// `neural-style doctor`, in child processes: with and without a model, with and without the addon.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import type { DoctorReport } from '../lib/doctor';
import { fixture, temporaryDir } from './helpers';

const cli = join(__dirname, '..', 'dist', 'cli.js');

function doctor(env: Record<string, string | undefined>, json = true) {
  const { NEURAL_STYLE_MODEL: _model, ...inherited } = process.env;
  const result = spawnSync(process.execPath, [cli, 'doctor', ...(json ? ['--json'] : [])], {
    encoding: 'utf8',
    env: { ...inherited, NEURAL_STYLE_HOME: temporaryDir(), ...env },
  });
  return { ...result, report: json ? (JSON.parse(result.stdout) as DoctorReport) : undefined };
}

test('with the addon and a model: what each part is and where it came from, and no problems', () => {
  const { status, report } = doctor({ NEURAL_STYLE_MODEL: fixture('tiny-numbered.pt') });
  expect(report!.problems).toEqual([]);
  expect(status).toBe(0);
  expect(report).toMatchObject({
    addon: { loaded: true },
    libtorch: { version: expect.stringMatching(/^\d+\.\d+/), cxx11Abi: expect.any(Boolean) },
    model: { path: fixture('tiny-numbered.pt'), from: 'NEURAL_STYLE_MODEL' },
    modelCache: { writable: true },
    threads: { count: expect.any(Number), why: expect.stringContaining('affinity') },
  });
  expect(report!.libtorch!.library).toMatch(/libtorch_cpu\.so/);
  // Told by where it lies: the system's folder here, another LibTorch's in npm run test:libtorch2.
  expect(report!.libtorch!.source).toBe(
    report!.libtorch!.library!.startsWith('/usr/lib/') ? "the system's libtorch-dev" : 'LIBTORCH or Torch_DIR',
  );
  // oneDNN tells its instruction set from a run in a child process.
  expect(report!.cpu.onednnIsa).toBeDefined();
});

test('without a model: the problem, and the command that downloads one; the exit status says so', () => {
  const home = temporaryDir();
  const { status, report } = doctor({ NEURAL_STYLE_HOME: home });
  expect(status).toBe(1);
  expect(report!.model).toEqual({ from: 'none' });
  expect(report!.problems).toEqual([
    { problem: expect.stringContaining(join(home, 'vgg19.pt')), fix: 'npx neural-style download-model' },
  ]);
});

test('without the addon: the problem and the set-up command; the rest is still reported', () => {
  const { status, report } = doctor({
    NEURAL_STYLE_MODEL: fixture('tiny-numbered.pt'),
    NEURAL_STYLE_ADDON: join(temporaryDir(), 'neural_style.node'),
  });
  expect(status).toBe(1);
  expect(report!.addon).toMatchObject({ loaded: false, error: expect.stringMatching(/native addon is missing/) });
  expect(report!.libtorch).toBeUndefined();
  expect(report!.problems).toEqual([
    { problem: expect.stringMatching(/native addon is missing/), fix: expect.stringMatching(/&& npm run setup$/) },
  ]);
  expect(report!.threads.count).toBeGreaterThan(0);
});

test('on a terminal: one line a part, each problem with its fix', () => {
  const { stdout } = doctor({ NEURAL_STYLE_MODEL: join(temporaryDir(), 'gone.pt') }, false);
  expect(stdout).toMatch(/^package: +neural-style /m);
  expect(stdout).toMatch(/^libtorch: +\S+ from .*libtorch_cpu/m);
  expect(stdout).toMatch(
    /^problem: +NEURAL_STYLE_MODEL names .*gone\.pt, which does not exist\n {2}fix: +unset NEURAL_STYLE_MODEL/m,
  );
});
