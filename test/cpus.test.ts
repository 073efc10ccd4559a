// The default thread count: one per core the process can use, container limits included.
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';

import { cgroupCpuQuota, cpuBfloat16 } from '../lib/cpus';
import { fixture, makeCgroup, pattern, png, spawnInCgroup, temporaryDir } from './helpers';

function fakeRoot(files: Record<string, string>): string {
  const root = temporaryDir();
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test.each([
  [
    'cgroup v2 with a quota of 1.5 CPUs',
    {
      'proc/self/cgroup': '0::/app\n',
      'sys/fs/cgroup/app/cpu.max': '150000 100000\n',
      'sys/fs/cgroup/cpu.max': 'max 100000\n',
    },
    1.5,
  ],
  [
    'cgroup v1, the quota on a parent',
    {
      'proc/self/cgroup': '4:memory:/a/b\n3:cpu,cpuacct:/a/b\n',
      'sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_quota_us': '-1\n',
      'sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_period_us': '100000\n',
      'sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us': '300000\n',
      'sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_period_us': '100000\n',
    },
    3,
  ],
  ['cgroup v2 without a quota', { 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': 'max 100000\n' }, Infinity],
  ['no cgroups at all', {}, Infinity],
])('%s', (_title, files, quota) => {
  expect(cgroupCpuQuota(fakeRoot(files))).toBe(quota);
});

test.each([
  [
    'an x86 CPU with AVX-512 BF16',
    'processor\t: 0\nflags\t\t: fpu avx512f avx512_vnni avx512_bf16 vaes\n\nprocessor\t: 1\nflags\t\t: fpu avx512f avx512_vnni avx512_bf16 vaes\n',
    true,
  ],
  ['an x86 CPU with AMX-BF16', 'processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n', true],
  [
    'an x86 CPU with AVX-512 but no BF16',
    'processor\t: 0\nflags\t\t: fpu avx512f avx512bw avx512_vnni avx512_fp16\n',
    false,
  ],
  ['an x86 CPU with AVX2 only', 'processor\t: 0\nflags\t\t: fpu avx avx2 fma\n', false],
  ['an Arm CPU with BF16', 'processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n', true],
  ['an Arm CPU without BF16', 'processor\t: 0\nFeatures\t: fp asimd evtstrm aes\n', false],
])('bfloat16 arithmetic on %s', (_title, cpuinfo, expected) => {
  expect(cpuBfloat16(fakeRoot({ 'proc/cpuinfo': cpuinfo }))).toBe(expected);
});

test('no /proc/cpuinfo: bfloat16 arithmetic unknown', () => {
  expect(cpuBfloat16(fakeRoot({}))).toBeUndefined();
});

// The real thing, where this machine lets a test make a CPU cgroup and has cores to take away.
const cgroup = cpus().length > 1 ? makeCgroup([['/sys/fs/cgroup/cpu', 'cpu.cfs_quota_us']]) : undefined;
afterAll(() => cgroup && rmdirSync(cgroup.group));
if (!cgroup) console.warn('Skipping the CPU quota test: it needs root, a writable cpu cgroup and two cores');

(cgroup ? test : test.skip)('a run in a container with a quota of one CPU uses one thread', async () => {
  writeFileSync(join(cgroup!.group, 'cpu.cfs_period_us'), '100000');
  writeFileSync(cgroup!.controlFile, '100000');
  const image = join(temporaryDir(), 'image.png');
  writeFileSync(image, await png(pattern(32, 32, 0)));
  const options = { content: image, style: image, model: fixture('tiny-numbered.pt'), imageSize: 32, iterations: 1 };
  const script = `require(${JSON.stringify(join(__dirname, '..', 'dist'))}).stylize(${JSON.stringify(options)}).then((result) => console.log(result.threads))`;
  const run = spawnInCgroup(cgroup!.group, process.execPath, ['-e', script]);
  expect(run.stderr).not.toMatch(/Error/);
  expect(run.stdout.trim()).toBe('1');
});
