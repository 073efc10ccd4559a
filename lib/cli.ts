#!/usr/bin/env node
import { constants } from 'node:os';
import { extname } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

import { writeImage } from './image';
import type { PretrainedWeights } from './models';
import { defaults, Device, Init, Optimizer, Pooling, precisions, preprocessings, ProgressEvent } from './options';

const { version } = require('../package.json') as { version: string };

const list = (value: string) => value.split(',').map((item) => item.trim()).filter(Boolean);

/** `out.png` with iteration 50 -> `out_50.png`. */
export function iterationPath(output: string, iteration: number): string {
  const extension = extname(output);
  return `${output.slice(0, output.length - extension.length)}_${iteration}${extension}`;
}

const flags = {
  content: { type: 'string', demandOption: true, describe: 'Content image' },
  style: { type: 'string', demandOption: true, describe: 'Style image, or several separated by commas' },
  output: { type: 'string', demandOption: true, describe: 'Output image; the format follows the extension' },
  'style-blend-weights': { type: 'string', describe: 'Comma-separated weights of the style images' },
  'image-size': { type: 'number', default: defaults.imageSize, describe: 'Longest side of the output, in pixels' },
  'style-scale': { type: 'number', default: defaults.styleScale, describe: 'Longest side of the style images, as a multiple of --image-size' },
  iterations: { type: 'number', default: defaults.iterations },
  'content-weight': { type: 'number', default: defaults.contentWeight },
  'style-weight': { type: 'number', default: defaults.styleWeight },
  'tv-weight': { type: 'number', default: defaults.tvWeight },
  'content-layers': { type: 'string', default: defaults.contentLayers.join(','), describe: 'Comma-separated VGG layers' },
  'style-layers': { type: 'string', default: defaults.styleLayers.join(','), describe: 'Comma-separated VGG layers' },
  'normalize-gradients': { type: 'boolean', default: defaults.normalizeGradients, describe: "Scale each layer's gradient to unit L1 norm" },
  optimizer: { choices: ['lbfgs', 'adam'], default: defaults.optimizer },
  'learning-rate': { type: 'number', default: defaults.learningRate, describe: "Adam's step size" },
  'lbfgs-history': { type: 'number', default: defaults.lbfgsHistory, describe: 'Corrections L-BFGS keeps' },
  init: { choices: ['random', 'image'], describe: `Start from noise or from an image (default ${defaults.init}; image with --init-image)` },
  'init-image': { type: 'string', describe: 'Image to start from instead of the content' },
  seed: { type: 'number', default: defaults.seed },
  pooling: { choices: ['avg', 'max'], default: defaults.pooling },
  precision: { choices: precisions, default: defaults.precision, describe: "The network's arithmetic; bfloat16 is faster on hardware with bf16 units" },
  'original-colors': { type: 'boolean', default: defaults.originalColors, describe: "Keep the content's colours; stylize luminance only" },
  model: { type: 'string', describe: "TorchScript VGG-19 file, or 'random' (default: $NEURAL_STYLE_MODEL, else models/vgg19.pt)" },
  preprocess: { choices: preprocessings, describe: 'Input normalisation, for models without metadata (default torchvision)' },
  device: { type: 'string', default: defaults.device, describe: 'auto, cpu, cuda or cuda:N' },
  threads: { type: 'number', default: defaults.threads, describe: 'CPU threads; 0 for one per core this process can use' },
  'print-iter': { type: 'number', default: 50, describe: 'Report losses every N iterations; 0 for never' },
  'save-iter': { type: 'number', default: 0, describe: 'Also write OUTPUT_N.ext every N iterations; 0 for never' },
  json: { type: 'boolean', default: false, describe: 'Print one JSON object per line on stdout' },
} as const;

const downloadFlags = {
  weights: { choices: ['caffe', 'torchvision'], default: 'caffe', describe: 'caffe: the original Caffe VGG-19, which the default loss weights suit; torchvision: its own training' },
  url: { type: 'string', describe: 'Fetch the weights from here instead of where they are published' },
  sha256: { type: 'string', describe: "The file's SHA-256, or its first 8 or more hex digits (default: the published file's)" },
  output: { type: 'string', describe: 'Where to write the model (default: models/vgg19.pt in this package)' },
} as const;

const convertFlags = {
  weights: { type: 'string', demandOption: true, describe: "A VGG-19 state dict (.pth) keyed as torchvision's" },
  preprocess: { choices: preprocessings, demandOption: true, describe: 'How the weights expect their input' },
  output: downloadFlags.output,
} as const;

type Arguments<Flags extends Record<string, yargs.Options>> = yargs.ArgumentsCamelCase<yargs.InferredOptionTypes<Flags>>;

const print = (line: unknown) => process.stdout.write(`${typeof line === 'string' ? line : JSON.stringify(line)}\n`);

export async function main(argv: string[], signal?: AbortSignal): Promise<void> {
  await yargs(argv)
    .scriptName('neural-style')
    // A repeated flag takes its last value, as most command lines do.
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .usage('$0 --content C --style S --output O [options]\n\nNeural style transfer (Gatys et al.) on LibTorch.')
    .command('$0', 'Stylize the content image with the style image(s)', (command) =>
      command.options(flags).check((args) => {
        for (const name of ['print-iter', 'save-iter'] as const) {
          const value = args[name];
          if (!Number.isInteger(value) || value < 0) {
            throw new Error(`Expected a non-negative integer for --${name} but received ${value}`);
          }
        }
        return true;
      }), (args) => stylizeCommand(args, signal))
    .command('download-model', 'Download pretrained VGG-19 weights and convert them into the model runs use', (command) =>
      command.options(downloadFlags), (args) => downloadCommand(args, signal))
    .command('convert-model', 'Convert a VGG-19 state dict (.pth) into the model runs use', (command) =>
      command.options(convertFlags), (args) => convertCommand(args))
    .version(version)
    .strict()
    .help()
    .fail((message, error) => {
      throw error ?? new Error(message);
    })
    .parseAsync();
}

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

async function downloadCommand(args: Arguments<typeof downloadFlags>, signal?: AbortSignal): Promise<void> {
  const { downloadModel } = await import('./models');
  // A line at each tenth of the file: enough to see it move, few enough for a log.
  let reported = -1;
  const result = await downloadModel({
    weights: args.weights as PretrainedWeights,
    url: args.url,
    sha256: args.sha256,
    output: args.output,
    signal,
    onProgress: ({ receivedBytes, totalBytes }) => {
      const tenth = totalBytes ? Math.floor((receivedBytes / totalBytes) * 10) : Math.floor(receivedBytes / 50e6);
      if (tenth === reported) return;
      reported = tenth;
      print(`Downloaded ${megabytes(receivedBytes)}${totalBytes ? ` of ${megabytes(totalBytes)}` : ''}`);
    },
  });
  print(`Wrote ${result.output} (${result.preprocess} preprocessing) from ${result.url}, SHA-256 ${result.sha256}`);
}

async function convertCommand(args: Arguments<typeof convertFlags>): Promise<void> {
  const { convertModel } = await import('./models');
  const result = await convertModel({ weights: args.weights, preprocess: args.preprocess, output: args.output });
  print(`Wrote ${result.output} (${result.preprocess} preprocessing)`);
}

async function stylizeCommand(args: Arguments<typeof flags>, signal?: AbortSignal): Promise<void> {
  // Imported only now, so that --help and usage errors work even without the native addon.
  const { stylize } = await import('./stylize');
  const printIter = args['print-iter'];
  const saveIter = args['save-iter'];
  const snapshots: Promise<void>[] = [];

  const onProgress = (event: ProgressEvent) => {
    if (event.preview) snapshots.push(writeImage(event.preview, iterationPath(args.output, event.iteration)));
    if (printIter === 0 || event.iteration % printIter !== 0) return;
    if (args.json) {
      const { iteration, iterations, loss, content, style, tv, elapsedMs } = event;
      print({ event: 'progress', iteration, iterations, loss, content, style, tv, elapsedMs });
    } else {
      print(
        `Iteration ${event.iteration} / ${event.iterations}: loss ${event.loss.toExponential(4)} ` +
          `(content ${event.content.toExponential(4)}, style ${event.style.toExponential(4)}, tv ${event.tv.toExponential(4)})`,
      );
    }
  };

  const styles = list(args.style);
  const running = stylize({
    content: args.content,
    style: styles.length === 1 ? styles[0] : styles,
    styleBlendWeights: args['style-blend-weights'] === undefined ? undefined : list(args['style-blend-weights']).map(Number),
    output: args.output,
    imageSize: args['image-size'],
    styleScale: args['style-scale'],
    iterations: args.iterations,
    contentWeight: args['content-weight'],
    styleWeight: args['style-weight'],
    tvWeight: args['tv-weight'],
    contentLayers: list(args['content-layers']),
    styleLayers: list(args['style-layers']),
    normalizeGradients: args['normalize-gradients'],
    optimizer: args.optimizer as Optimizer,
    learningRate: args['learning-rate'],
    lbfgsHistory: args['lbfgs-history'],
    init: args.init as Init | undefined,
    initImage: args['init-image'],
    seed: args.seed,
    pooling: args.pooling as Pooling,
    precision: args.precision,
    originalColors: args['original-colors'],
    model: args.model,
    preprocess: args.preprocess,
    device: args.device as Device,
    threads: args.threads,
    progressInterval: printIter || args.iterations,
    previewInterval: saveIter,
    onProgress,
    signal,
  });
  // Let every snapshot write settle before reporting either the run's or a write's failure.
  await Promise.allSettled([running, ...snapshots]);
  const result = await running;
  await Promise.all(snapshots);

  if (args.json) {
    print({ event: 'done', output: result.output, iterations: result.iterations, loss: result.loss, elapsedMs: result.elapsedMs });
  } else {
    print(`Wrote ${result.output} (${result.iterations} iterations on ${result.device} in ${(result.elapsedMs / 1000).toFixed(1)} s)`);
  }
}

/** Messages name options as the API does (imageSize); here they are flags (--image-size). */
export function asFlag(message: string): string {
  const flagFor = (name: string) => {
    const flag = name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
    return flag in flags || flag in downloadFlags || flag in convertFlags ? `--${flag}` : name;
  };
  return message
    .replace(/^(Expected .* for )(\w+)( but received )/, (_whole, before: string, name: string, after: string) => before + flagFor(name) + after)
    .replace(/\b[a-z]+(?:[A-Z][a-z]*)+\b/g, flagFor);
}

if (require.main === module) {
  // Warnings (such as untrained weights) as one plain line each, without Node's hints.
  process.removeAllListeners('warning');
  process.on('warning', (warning) => process.stderr.write(`neural-style: warning: ${warning.message}\n`));
  // Ctrl-C (or a TERM) stops the run within an iteration and leaves no partial files; a second
  // one finds no handler and ends the process at once.
  const interruption = new AbortController();
  for (const name of ['SIGINT', 'SIGTERM'] as const) process.once(name, () => interruption.abort(name));
  main(hideBin(process.argv), interruption.signal).catch((error: Error) => {
    if (error.name === 'AbortError') {
      process.stderr.write(`neural-style: interrupted\n`);
      process.exitCode = 128 + constants.signals[interruption.signal.reason as 'SIGINT' | 'SIGTERM'];
      return;
    }
    process.stderr.write(`neural-style: ${asFlag(error.message.split('\n')[0])}\n`);
    process.exitCode = 1;
  });
}
