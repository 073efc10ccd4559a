// The default thread count: one per core the process can use, container limits included.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';

import { cgroupCpuQuota } from '../lib/cpus';
import { fixture, pattern, png, temporaryDir } from './helpers';

function fakeRoot(files: Record<string, string>): string {
  const root = temporaryDir();
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test.each([
  ['cgroup v2 with a quota of 1.5 CPUs', { 'proc/self/cgroup': '0::/app\n', 'sys/fs/cgroup/app/cpu.max': '150000 100000\n', 'sys/fs/cgroup/cpu.max': 'max 100000\n' }, 1.5],
  ['cgroup v1, the quota on a parent', {
    'proc/self/cgroup': '4:memory:/a/b\n3:cpu,cpuacct:/a/b\n',
    'sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_quota_us': '-1\n', 'sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_period_us': '100000\n',
    'sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us': '300000\n', 'sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_period_us': '100000\n',
  }, 3],
  ['cgroup v2 without a quota', { 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': 'max 100000\n' }, Infinity],
  ['no cgroups at all', {}, Infinity],
])('%s', (_title, files, quota) => {
  expect(cgroupCpuQuota(fakeRoot(files))).toBe(quota);
});

// The real thing, where this machine lets a test make a CPU cgroup (root, a writable v1 cpu
// hierarchy, as CI has) and has more than one core to take away.
function makeCpuCgroup(): string | undefined {
  const group = `/sys/fs/cgroup/cpu/neural-style-test-${process.pid}`;
  if (process.getuid?.() !== 0 || cpus().length < 2) return undefined;
  try {
    mkdirSync(group);
  } catch {
    return undefined;
  }
  if (existsSync(join(group, 'cpu.cfs_quota_us'))) return group;
  rmdirSync(group);
  return undefined;
}

const group = makeCpuCgroup();
afterAll(() => group && rmdirSync(group));
if (!group) console.warn('Skipping the CPU quota test: it needs root, a writable cpu cgroup and two cores');

(group ? test : test.skip)('a run in a container with a quota of one CPU uses one thread', async () => {
  writeFileSync(join(group!, 'cpu.cfs_period_us'), '100000');
  writeFileSync(join(group!, 'cpu.cfs_quota_us'), '100000');
  const image = join(temporaryDir(), 'image.png');
  writeFileSync(image, await png(pattern(32, 32, 0)));
  const options = { content: image, style: image, model: fixture('tiny-numbered.pt'), imageSize: 32, iterations: 1 };
  const script = `require(${JSON.stringify(join(__dirname, '..', 'dist'))}).stylize(${JSON.stringify(options)}).then((result) => console.log(result.threads))`;
  const run = spawnSync('sh', ['-c', 'echo $$ > "$0" && exec "$@"', join(group!, 'cgroup.procs'), process.execPath, '-e', script], { encoding: 'utf8' });
  expect(run.stderr).not.toMatch(/Error/);
  expect(run.stdout.trim()).toBe('1');
});
