import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** CPUs' worth of time a cgroup directory's quota allows (cgroup v2 or v1); Infinity for none. */
function quotaOf(directory: string): number {
  const v2 = read(join(directory, 'cpu.max'))?.trim().split(/\s+/);
  if (v2 && v2[0] !== 'max') return Number(v2[0]) / Number(v2[1]);
  const quota = Number(read(join(directory, 'cpu.cfs_quota_us')));
  const period = Number(read(join(directory, 'cpu.cfs_period_us')));
  return quota > 0 && period > 0 ? quota / period : Infinity;
}

/**
 * The CPU quota of this process's cgroup and its ancestors, the smallest, in CPUs; Infinity when
 * none is set. `root` is where the file system starts (tests point it at a made-up one).
 */
export function cgroupCpuQuota(root = '/'): number {
  const memberships = read(join(root, 'proc/self/cgroup'));
  if (memberships === undefined) return Infinity;
  let smallest = Infinity;
  for (const line of memberships.trim().split('\n')) {
    // "0::/path" for cgroup v2; "4:cpu,cpuacct:/path" for a v1 hierarchy with the cpu controller.
    const [, controllers, path] = line.match(/^\d+:([^:]*):(.*)$/) ?? [];
    if (path === undefined) continue;
    const mounts =
      controllers === ''
        ? ['sys/fs/cgroup', 'sys/fs/cgroup/unified']
        : controllers.split(',').includes('cpu')
          ? [...new Set([`sys/fs/cgroup/${controllers}`, 'sys/fs/cgroup/cpu'])]
          : [];
    for (const mount of mounts) {
      for (let directory = path; ; directory = join(directory, '..')) {
        smallest = Math.min(smallest, quotaOf(join(root, mount, directory)));
        if (directory === '/' || directory === '') break;
      }
    }
  }
  return smallest;
}

/**
 * The CPUs this process can use: those its affinity allows (taskset, a container's cpuset), and
 * no more than its cgroup's CPU quota (a container's --cpus, a Kubernetes limit) has time for.
 * More threads than that only wait for one another.
 */
export function usableCpus(): number {
  const quota = process.platform === 'linux' ? cgroupCpuQuota() : Infinity;
  return Math.max(1, Math.min(availableParallelism(), Math.floor(quota)));
}

const bfloat16ByRoot = new Map<string, boolean | undefined>();

/**
 * Whether this CPU computes in bfloat16 (x86's AVX-512 BF16 or AMX-BF16, Arm's BF16), from the
 * flags Linux lists in /proc/cpuinfo; undefined where that file cannot be read. Without it,
 * bfloat16 layers run slower than float32 ones (README.md, Performance). `root` is where the file
 * system starts (tests point it at a made-up one).
 */
export function cpuBfloat16(root = '/'): boolean | undefined {
  // Read once: an app may poll runtimeInfo(), and a CPU's features do not change.
  if (!bfloat16ByRoot.has(root)) {
    const cpuinfo = read(join(root, 'proc/cpuinfo'));
    // x86 lists them under "flags", aarch64 under "Features"; the first processor speaks for all.
    const features =
      cpuinfo
        ?.match(/^(?:flags|Features)\s*:(.*)$/m)?.[1]
        .trim()
        .split(/\s+/) ?? [];
    const bfloat16 = features.some((feature) => ['avx512_bf16', 'amx_bf16', 'bf16'].includes(feature));
    bfloat16ByRoot.set(root, cpuinfo === undefined ? undefined : bfloat16);
  }
  return bfloat16ByRoot.get(root);
}
