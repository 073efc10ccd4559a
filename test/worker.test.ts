import { Worker } from 'node:worker_threads';

import { fixture } from './helpers';

// A worker thread that runs `iterations` of style transfer on a `size`-pixel square and
// posts { progress } for each, then { done, width }.
function stylizeInWorker(model: string, size: number, iterations: number): Worker {
  const script = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { addon, nativeStylizeOptions } = require(workerData.native);
    const { resolveOptions } = require(workerData.options);
    const { size, iterations } = workerData;
    const image = (seed) => ({ width: size, height: size, data: Buffer.alloc(size * size * 3, seed) });
    const images = { content: image(40), styles: [image(200)] };
    const options = resolveOptions({
      content: images.content, style: images.styles, model: workerData.model, styleLayers: ['relu1_1', 'relu2_1'], iterations,
      device: 'cpu', threads: 1, previewInterval: 1,
    });
    const job = addon().stylize(nativeStylizeOptions(options, images, 0), (event) => parentPort.postMessage({ progress: event.iteration }));
    job.promise.then((result) => parentPort.postMessage({ done: result.iterations, width: result.image.width }));
  `;
  return new Worker(script, {
    eval: true,
    workerData: {
      native: require.resolve('../dist/native.js'),
      options: require.resolve('../dist/options.js'),
      model,
      size,
      iterations,
    },
  });
}

// The addon is context-aware: it loads and runs inside a worker thread as on the main thread.
test('the addon loads and runs inside a worker_threads Worker', async () => {
  const worker = stylizeInWorker(fixture('tiny-numbered.pt'), 40, 3);
  const messages: Array<Record<string, number>> = [];
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (message) => {
      messages.push(message);
      if ('done' in message) resolve();
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`worker exited with code ${code} before finishing`)));
  });
  await worker.terminate();
  expect(messages).toEqual([{ progress: 1 }, { progress: 2 }, { progress: 3 }, { done: 3, width: 40 }]);
});

test('terminating a worker in the middle of a run cancels it, and the process lives on', async () => {
  const worker = stylizeInWorker('random', 128, 1000);
  await new Promise<void>((resolve) => worker.on('message', (message) => message.progress === 2 && resolve()));
  const started = Date.now();
  await worker.terminate();
  // 1000 iterations would take minutes; the run stops within about one.
  expect(Date.now() - started).toBeLessThan(5000);
  // The process is still here, and the addon still runs.
  const again = stylizeInWorker(fixture('tiny-numbered.pt'), 40, 1);
  const done = await new Promise((resolve) => again.on('message', (message) => 'done' in message && resolve(message)));
  await again.terminate();
  expect(done).toEqual({ done: 1, width: 40 });
});
