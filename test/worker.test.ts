import { Worker } from 'node:worker_threads';

import { fixture } from './helpers';

// The addon is context-aware: it loads and runs inside a worker thread as on the main thread.
test('the addon loads and runs inside a worker_threads Worker', async () => {
  const script = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { addon } = require(workerData.native);
    const width = 40, height = 32;
    const image = (seed) => ({ width, height, data: Buffer.alloc(width * height * 3, seed) });
    const job = addon.stylize({
      model: workerData.model, modelSeed: 0, pooling: 'avg', contentLayers: ['relu4_2'],
      styleLayers: ['relu1_1', 'relu2_1'], contentWeight: 5, styleWeight: 100, tvWeight: 1e-3,
      styleBlendWeights: [], content: image(40), styles: [image(200)], iterations: 3, optimizer: 'lbfgs',
      learningRate: 10, lbfgsHistory: 100, init: 'random', seed: 0, device: 'cpu', threads: 1,
      progressInterval: 1, previewInterval: 0,
    }, (event) => parentPort.postMessage({ progress: event.iteration }));
    job.promise.then((result) => parentPort.postMessage({ done: result.iterations, width: result.image.width }));
  `;
  const worker = new Worker(script, {
    eval: true,
    workerData: { native: require.resolve('../dist/native.js'), model: fixture('tiny-numbered.pt') },
  });
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
