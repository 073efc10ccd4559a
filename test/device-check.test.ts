import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// The GPU machine runs scripts/device/cuda-check.js; running it here on the CPU keeps it working
// between the rare sessions that have a GPU.
test('the CUDA check script passes all its checks when pointed at the CPU', () => {
  const result = spawnSync(
    process.execPath,
    [
      join(__dirname, '..', 'scripts', 'device', 'cuda-check.js'),
      '--device',
      'cpu',
      '--size',
      '64',
      '--iterations',
      '3',
    ],
    { encoding: 'utf8' },
  );
  const checks = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { check: string; passed: boolean });
  expect(result.stderr).toBe('');
  expect(checks.map((check) => check.check)).toContain('losses match the CPU');
  expect(checks.filter((check) => !check.passed)).toEqual([]);
  expect(result.status).toBe(0);
});
