// The benchmark's smoke test: npm run bench at a tiny size on the tiny model, timing nothing,
// checks that it runs both implementations at each precision and reports every figure.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { fixture, temporaryDir } from './helpers';

test('npm run bench runs the addon and plain PyTorch side by side and reports each figure', () => {
  const json = join(temporaryDir(), 'bench.json');
  const args = ['--sizes', '32', '--iterations', '6', '--skip', '1', '--repeats', '1', '--matmul-size', '64'];
  const result = spawnSync(
    process.execPath,
    [join(__dirname, '..', 'bench', 'run.js'), ...args, '--model', fixture('tiny-numbered.pt'), '--json', json],
    { encoding: 'utf8' },
  );
  expect(result.stderr).not.toMatch(/bench failed/);
  expect(result.status).toBe(0);
  const report = JSON.parse(readFileSync(json, 'utf8'));
  expect(report.cpu).toMatch(/^CPU: .+; oneDNN ISA: .+; OpenBLAS core: /);
  expect(Object.keys(report.matmul.gflops)).toEqual(['float32', 'bfloat16']);
  expect(report.rows.map((row: { precision: string }) => row.precision)).toEqual(['float32', 'bfloat16']);
  for (const row of report.rows) {
    expect(row).toMatchObject({ width: 32, height: 24 });
    for (const figure of [row.addon.msPerIteration, row.pytorch.msPerIteration, row.floorMs, row.addonGflops])
      expect(figure).toBeGreaterThan(0);
    expect(row.addon.peakRssBytes).toBeGreaterThan(50 * 2 ** 20);
    expect(row.pytorch.peakRssBytes).toBeGreaterThan(50 * 2 ** 20);
  }
  // The same objective: after the same float32 iterations from the content, the same loss.
  const float32 = report.rows[0];
  expect(Math.abs(float32.addon.loss / float32.pytorch.loss - 1)).toBeLessThan(1e-3);
  // The table, with the command's figures.
  expect(result.stdout).toMatch(/^\| 32×24 \| float32 \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/m);
});
