// Every way a JavaScript environment ends cancels its native runs within about an iteration and
// never crashes the process. Each case runs in a child process of its own: a run of 2000
// iterations (minutes) that the child ends after a few, printing the time it did so.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const index = join(__dirname, '..', 'dist', 'index.js');

// A run that would take minutes; `onProgress` gets the event and the time it did something.
const run = (onProgress: string) => `
  const { stylize } = require(${JSON.stringify(index)});
  const image = { width: 160, height: 128, data: Buffer.alloc(160 * 128 * 3, 90) };
  const said = (what) => process.stderr.write('ended at ' + (performance.timeOrigin + performance.now()) + ': ' + what + '\\n');
  stylize({ content: image, style: image, model: 'random', imageSize: 160, iterations: 2000, device: 'cpu', threads: 1,
    onProgress: ${onProgress} }).then(() => said('the run finished'), (error) => said('the run failed: ' + error.message));
`;
const inWorker = (script: string, then = '') => `
  const { Worker } = require('node:worker_threads');
  const worker = new Worker(${JSON.stringify(script)}, { eval: true });
  worker.on('exit', (code) => { process.stderr.write('worker exit ' + code + '\\n'); });
  ${then}
`;

/** Runs `script`; the time from its "ended at" to the process's end, its status and its output. */
function child(script: string) {
  const started = performance.timeOrigin + performance.now();
  const result = spawnSync(process.execPath, ['--no-warnings', '-e', script], { encoding: 'utf8', timeout: 120000 });
  const exited = performance.timeOrigin + performance.now();
  const endedAt = Number(/^ended at ([\d.]+)/m.exec(result.stderr)?.[1]);
  return { ...result, afterEndMs: exited - endedAt, totalMs: exited - started };
}

// An iteration at 160x128 on one thread takes a few hundred ms: a few iterations and the start
// and end of a Node process, far below the minutes the whole run would take.
const withinMs = 8000;

test('process.exit() during a run ends the process at once', () => {
  const result = child(run(`(event) => { if (event.iteration === 3) { said('exit'); process.exit(7); } }`));
  expect(result.signal).toBeNull();
  expect(result.status).toBe(7);
  expect(result.afterEndMs).toBeLessThan(withinMs);
});

test('an uncaught exception during a run ends the process at once, with the error', () => {
  const result = child(
    run(
      `(event) => { if (event.iteration === 3) { said('throw'); setTimeout(() => { throw new Error('unhandled'); }); } }`,
    ),
  );
  expect(result.signal).toBeNull();
  expect(result.status).toBe(1);
  expect(result.stderr).toContain('Error: unhandled');
  expect(result.afterEndMs).toBeLessThan(withinMs);
});

test("process.exit() inside a Worker's onProgress ends the Worker, never the process", () => {
  const result = child(
    inWorker(run(`(event) => { if (event.iteration === 3) { said('exit in worker'); process.exit(3); } }`)),
  );
  expect(result.signal).toBeNull();
  expect(result.status).toBe(0);
  expect(result.stderr).toMatch(/^worker exit 3$/m);
  expect(result.afterEndMs).toBeLessThan(withinMs);
});

test('worker.terminate() of a Worker whose run has no onProgress cancels the run', () => {
  const script = run('undefined') + `setTimeout(() => {}, 1e9);`;
  const result = child(
    inWorker(
      script,
      `setTimeout(() => { process.stderr.write('ended at ' + (performance.timeOrigin + performance.now()) + ': terminate\\n'); worker.terminate(); }, 3000);`,
    ),
  );
  expect(result.signal).toBeNull();
  expect(result.status).toBe(0);
  expect(result.stderr).toMatch(/^worker exit 1$/m);
  expect(result.afterEndMs).toBeLessThan(withinMs);
});

test('process.exit() from a timer in a Worker whose run has no onProgress cancels the run', () => {
  const script = run('undefined') + `setTimeout(() => { said('exit from a timer'); process.exit(4); }, 3000);`;
  const result = child(inWorker(script));
  expect(result.signal).toBeNull();
  expect(result.status).toBe(0);
  expect(result.stderr).toMatch(/^worker exit 4$/m);
  expect(result.afterEndMs).toBeLessThan(withinMs);
});
