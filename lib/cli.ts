#!/usr/bin/env node
import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { extname, join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

import { nearest } from './checks';
import { OptionError, OptionNames } from './errors';
import { fromClassicFlags } from './classic-flags';
import { writeFile } from 'node:fs/promises';

import { writeAtomically } from './files';
import { writeImage } from './image';
import { DownloadLine, ProgressLine } from './progress-line';
import type { PretrainedWeights } from './models';
import {
  defaultText,
  helpGroups,
  optionTable,
  OptionTable,
  poolings,
  preprocessings,
  ProgressEvent,
  StylizeOptions,
} from './options';

const { version } = require('../package.json') as { version: string };

const list = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

/** `relu1_1:1,relu2_1:0.5` -> { relu1_1: 1, relu2_1: 0.5 }; a pair without a number stays text, for the check to name. */
function namedNumbers(value: string): Record<string, unknown> {
  return Object.fromEntries(
    list(value).map((pair) => {
      const [name, number] = pair.split(':');
      return [name.trim(), number === undefined || number.trim() === '' ? pair : Number(number)];
    }),
  );
}

/** `3` -> 3, `256,512` -> [256, 512]. */
function numberOrList(value: string): number | number[] {
  const numbers = list(value).map(Number);
  return numbers.length === 1 ? numbers[0] : numbers;
}

/** `out.png` with iteration 50 -> `out_50.png`; at the second of several scales, `out_scale2_50.png`. */
export function iterationPath(output: string, { iteration, scale, scales }: ProgressEvent): string {
  const extension = extname(output);
  const atScale = scales > 1 ? `_scale${scale}` : '';
  return `${output.slice(0, output.length - extension.length)}${atScale}_${iteration}${extension}`;
}

// The command line's own flags, beside those of the options.
const commandFlags = {
  'print-iter': {
    type: 'number',
    default: 50,
    group: 'Output',
    describe: 'Report losses every N iterations; 0 for never',
  },
  json: { type: 'boolean', default: false, group: 'Output', describe: 'Print one JSON object per line on stdout' },
} as const;

/** The yargs flags of a table's options, with the command line's own; each names its help group. */
function stylizeFlags(table: OptionTable) {
  const optionFlags = Object.values(table).flatMap((spec) => {
    if (!spec.flag) return [];
    const { name, group, type, demanded } = spec.flag;
    const flag: yargs.Options & { group: string } = {
      type: type === 'boolean' || type === 'number' ? type : 'string',
      choices: spec.check.choices,
      describe: spec.description,
      group,
      demandOption: demanded,
      defaultDescription: defaultText(spec),
    };
    return [[name, flag] as const];
  });
  return { ...Object.fromEntries(optionFlags), ...commandFlags } as Record<string, yargs.Options & { group: string }>;
}

/** The options the flags given on the command line set; those left out take the API's defaults. */
function optionsFromFlags(args: Record<string, unknown>, table: OptionTable): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [option, spec] of Object.entries(table)) {
    const value = spec.flag && args[spec.flag.name];
    if (value === undefined) continue;
    const { type } = spec.flag!;
    options[option] =
      type === 'list'
        ? list(String(value))
        : type === 'numbers'
          ? list(String(value)).map(Number)
          : type === 'weights'
            ? namedNumbers(String(value))
            : type === 'number-or-list'
              ? numberOrList(String(value))
              : value;
  }
  return options;
}

const downloadFlags = {
  weights: {
    choices: ['caffe', 'torchvision'],
    default: 'caffe',
    describe: 'caffe: the original Caffe VGG-19, which the default loss weights suit; torchvision: its own training',
  },
  url: { type: 'string', describe: 'Fetch the weights from here instead of where they are published' },
  sha256: {
    type: 'string',
    describe: "The file's SHA-256, or its first 8 or more hex digits (default: the published file's)",
  },
  output: {
    type: 'string',
    describe:
      'Where to write the model (default: vgg19.pt in the model cache, NEURAL_STYLE_HOME or ~/.cache/neural-style)',
  },
} as const;

const convertFlags = {
  weights: {
    type: 'string',
    demandOption: true,
    describe: "A VGG-19 state dict (.pth) keyed as torchvision's (0.weight …) or by layer (conv1_1.weight …)",
  },
  preprocess: { choices: preprocessings, demandOption: true, describe: 'How the weights expect their input' },
  output: downloadFlags.output,
  'normalize-on': {
    type: 'string',
    describe:
      "Store the normalised network (Gatys et al.): each filter's mean activation over these images (comma-separated, or a folder) made 1",
  },
  pooling: { choices: poolings, describe: 'The pooling the normalisation runs with (default: avg)' },
} as const;

const plotFlags = {
  output: { type: 'string', describe: 'Where to write the SVG (default: the record with .svg for .json)' },
} as const;

type Arguments<Flags extends Record<string, yargs.Options>> = yargs.ArgumentsCamelCase<
  yargs.InferredOptionTypes<Flags>
>;

const print = (line: unknown) => process.stdout.write(`${typeof line === 'string' ? line : JSON.stringify(line)}\n`);

const commands = ['download-model', 'convert-model', 'model', 'plot', 'doctor', 'setup', 'bundle'];

/** yargs's "Unknown argument(s): a, b" as this command line says it, with the nearest of `known`. */
function unknownArguments(message: string, known: string[]): Error | undefined {
  const [, names] = /^Unknown arguments?: (.*)$/.exec(message) ?? [];
  if (names === undefined) return undefined;
  // yargs names each unknown flag twice, as given and in camelCase.
  const given = names
    .split(', ')
    .filter(
      (name) => !/[A-Z]/.test(name) || !names.includes(name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)),
    );
  const descriptions = given.map((name) => {
    const flag = name.length > 1 ? `--${name}` : `-${name}`;
    const suggestion = nearest(name, known);
    return `${flag}${suggestion ? ` (did you mean --${suggestion}?)` : ''}`;
  });
  return new Error(`Unknown flag${descriptions.length > 1 ? 's' : ''} ${descriptions.join(', ')}`);
}

/** yargs's "Invalid values: Argument: x, Given: …, Choices: …" as the API says such an error. */
function invalidChoice(message: string): Error | undefined {
  const [, flag, given, choices] = /Argument: (\S+), Given: "(.*)", Choices: (.*)$/m.exec(message) ?? [];
  if (flag === undefined) return undefined;
  return new Error(`Expected one of ${choices.replace(/"/g, '')} for --${flag} but received '${given}'`);
}

/** Runs the command line on `argv`; `table` is the options' (a test gives one with more). */
export async function main(
  argv: string[],
  signal?: AbortSignal,
  table: OptionTable = optionTable as OptionTable,
): Promise<void> {
  const flags = stylizeFlags(table);
  // A word where a command would be is one, misspelt or not; yargs would first ask for --content.
  const [first] = argv;
  if (first !== undefined && !first.startsWith('-') && !commands.includes(first)) {
    const suggestion = nearest(first, commands);
    throw new Error(
      `Unknown command ${first}: ${suggestion ? `did you mean ${suggestion}? ` : ''}the commands are ${commands.join(', ')}, or none to stylize`,
    );
  }
  const parser = yargs(argv.length === 0 ? ['--help'] : fromClassicFlags(argv, table));
  await parser
    .scriptName('neural-style')
    // A repeated flag takes its last value, as most command lines do.
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .usage('$0 --content C --style S --output O [options]\n\nNeural style transfer (Gatys et al.) on LibTorch.')
    .command(
      '$0',
      'Stylize the content image with the style image(s)',
      (command) =>
        helpGroups
          .reduce(
            (grouped, group) =>
              grouped.group(
                Object.keys(flags).filter((name) => flags[name].group === group),
                `${group}:`,
              ),
            command,
          )
          .options(Object.fromEntries(Object.entries(flags).map(([name, { group: _group, ...flag }]) => [name, flag])))
          .check((args) => {
            const value = args['print-iter'] as number;
            if (!Number.isInteger(value) || value < 0)
              throw new Error(`Expected a non-negative integer for --print-iter but received ${value}`);
            return true;
          }),
      (args) => stylizeCommand(args, table, signal),
    )
    .command(
      'download-model',
      'Download pretrained VGG-19 weights and convert them into the model runs use',
      (command) => command.options(downloadFlags),
      (args) => downloadCommand(args, signal),
    )
    .command(
      'convert-model',
      'Convert a VGG-19 state dict (.pth) into the model runs use',
      (command) => command.options(convertFlags),
      (args) => convertCommand(args),
    )
    .command(
      'plot <record>',
      'Draw the losses of a run recorded with --record as an SVG, on a log scale',
      (command) =>
        command
          .positional('record', { type: 'string', describe: 'The OUTPUT.record.json of a run' })
          .options(plotFlags),
      (args) => plotCommand(args as Arguments<typeof plotFlags> & { record: string }),
    )
    .command('model <command>', 'Look into a model file', (command) =>
      command
        .command(
          'info <file>',
          'A model file: its layers, preprocessing, parameters, size, SHA-256 and source',
          (info) =>
            info
              .positional('file', { type: 'string', describe: 'A TorchScript VGG-19' })
              .options({ json: { type: 'boolean', default: false, describe: 'Print it as JSON' } }),
          (args) => modelInfoCommand(args.file as string, args.json as boolean),
        )
        .demandCommand(1),
    )
    .command(
      'setup',
      "Build the native addon against the LibTorch found: the package's install script, for installs that run none",
      (command) => command,
      () => setupCommand(),
    )
    .command(
      'bundle <folder>',
      'Write the addon and the LibTorch libraries it loads into one folder that runs wherever it is moved (NEURAL_STYLE_ADDON=FOLDER/neural_style.node)',
      (command) => command.positional('folder', { type: 'string', describe: 'A new or empty folder' }),
      (args) => bundleCommand(args.folder as string),
    )
    .command(
      'doctor',
      'Say what this installation has (addon, LibTorch, BLAS, CPU, threads, model) and how to fix what is wrong',
      (command) => command.options({ json: { type: 'boolean', default: false, describe: 'Print the report as JSON' } }),
      (args) => doctorCommand(args.json as boolean),
    )
    .example('$0 --content photo.jpg --style painting.jpg --output out.png', 'Stylize at 512 px with the default model')
    .example(
      '$0 --content photo.jpg --style a.jpg,b.jpg --style-blend-weights 3,1 --output out.png',
      'Blend two styles, 3 to 1',
    )
    .example(
      '$0 --content photo.jpg --style painting.jpg --output big.png --image-size 1024 --init-image out.png --iterations 200',
      'Refine a result at a larger size',
    )
    .example(
      '$0 -content_image photo.jpg -style_image painting.jpg -gpu -1',
      "jcjohnson/neural-style's spelling, on the CPU",
    )
    .example('$0 download-model', 'Fetch the pretrained VGG-19 that runs use')
    .version(version)
    .strict()
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, parser.terminalWidth()))
    .fail((message, error) => {
      // yargs's own messages can run over several lines ("Invalid values:\n  Argument: …").
      throw (
        error ??
        unknownArguments(message, Object.keys(flags)) ??
        invalidChoice(message) ??
        new Error(message.replace(/\s*\n\s*/g, ' '))
      );
    })
    .parseAsync();
}

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

async function downloadCommand(args: Arguments<typeof downloadFlags>, signal?: AbortSignal): Promise<void> {
  const { downloadModel } = await import('./models');
  const line = new DownloadLine(process.stdout);
  const result = await downloadModel({
    weights: args.weights as PretrainedWeights,
    url: args.url,
    sha256: args.sha256,
    output: args.output,
    signal,
    onProgress: (event) => line.update(event),
  }).finally(() => line.finish());
  print(`Wrote ${result.output} (${result.preprocess} preprocessing) from ${result.url}, SHA-256 ${result.sha256}`);
}

async function convertCommand(args: Arguments<typeof convertFlags>): Promise<void> {
  const { convertModel } = await import('./models');
  const normalizeOn = args.normalizeOn === undefined ? undefined : list(args.normalizeOn);
  const result = await convertModel({
    weights: args.weights,
    preprocess: args.preprocess,
    output: args.output,
    normalizeOn,
    pooling: args.pooling,
  });
  print(`Wrote ${result.output} (${result.preprocess} preprocessing${normalizeOn ? ', normalised' : ''})`);
}

async function modelInfoCommand(file: string, json: boolean): Promise<void> {
  const { modelInfo } = await import('./models');
  const info = await modelInfo(file);
  if (json) {
    print(info);
    return;
  }
  const convolutions = info.layers.filter((layer) => layer.outChannels !== undefined);
  print(
    [
      `file:          ${info.path} (${megabytes(info.bytes)}, SHA-256 ${info.sha256})`,
      `source:        ${info.source}`,
      `preprocessing: ${info.preprocessing}`,
      `parameters:    ${info.parameters} in ${convolutions.length} convolutions`,
      `layers:        ${info.layers.map((layer) => (layer.outChannels ? `${layer.name}(${layer.inChannels}→${layer.outChannels})` : layer.name)).join(' ')}`,
    ].join('\n'),
  );
}

function setupCommand(): void {
  const install = spawnSync(process.execPath, [join(__dirname, '..', 'scripts', 'install.js')], { stdio: 'inherit' });
  if (install.status !== 0) throw new Error('setup failed: see the messages above');
}

async function bundleCommand(folder: string): Promise<void> {
  const { bundle } = await import('./bundle');
  const written = await bundle({ output: folder });
  print(`Wrote ${written.addon} with ${written.libraries.join(', ')}`);
  print(`Point the package at it with NEURAL_STYLE_ADDON=${written.addon}`);
}

async function doctorCommand(json: boolean): Promise<void> {
  const { doctor, doctorLines } = await import('./doctor');
  const report = doctor();
  print(json ? report : doctorLines(report).join('\n'));
  // Scripts can tell a sound installation from one that needs the fixes printed.
  if (report.problems.length > 0) process.exitCode = 1;
}

async function plotCommand(args: Arguments<typeof plotFlags> & { record: string }): Promise<void> {
  const { readRecord } = await import('./record');
  const { lossPlot } = await import('./plot');
  const record = await readRecord(args.record);
  const output = args.output ?? args.record.replace(/(\.json)?$/i, '.svg');
  await writeAtomically(output, (temporary) => writeFile(temporary, lossPlot(record)));
  print(`Wrote ${output} (${record.iterations.length} iterations)`);
}

async function stylizeCommand(args: yargs.ArgumentsCamelCase, table: OptionTable, signal?: AbortSignal): Promise<void> {
  // Imported only now, so that --help and usage errors work even without the native addon.
  const { stylize } = await import('./stylize');
  const printIter = args['print-iter'] as number;
  const output = args.output as string;
  const snapshots: Promise<void>[] = [];

  // --json prints objects; otherwise a terminal gets a live line, a file or pipe plain lines.
  const line = args.json ? undefined : new ProgressLine(process.stdout, printIter);
  const onProgress = (event: ProgressEvent) => {
    if (event.preview) snapshots.push(writeImage(event.preview, iterationPath(output, event)));
    if (line) return line.update(event);
    if (printIter === 0 || event.iteration % printIter !== 0) return;
    const { iteration, iterations, scale, scales, loss, content, style, tv, elapsedMs } = event;
    print({ event: 'progress', iteration, iterations, scale, scales, loss, content, style, tv, elapsedMs });
  };

  line?.started();
  const running = stylize({
    ...(optionsFromFlags(args, table) as StylizeOptions),
    // A live line hears of every iteration; otherwise only those due a report, and the last.
    progressInterval: line?.live ? 1 : printIter || 2 ** 31 - 1,
    onProgress,
    signal,
  });
  // Let every snapshot write settle before reporting either the run's or a write's failure.
  try {
    await Promise.allSettled([running, ...snapshots]);
  } finally {
    line?.finish();
  }
  const result = await running;
  await Promise.all(snapshots);

  if (args.json) {
    print({
      event: 'done',
      output: result.output,
      iterations: result.iterations,
      loss: result.loss,
      elapsedMs: result.elapsedMs,
    });
  } else {
    print(
      `Wrote ${result.output} (${result.iterations} iterations on ${result.device} in ${(result.elapsedMs / 1000).toFixed(1)} s)`,
    );
  }
}

/** The command line's names for options: their flags (--image-size for imageSize, and its paths). */
export const flagNames: OptionNames = (path) => {
  const [, option, rest] = /^(\w+)(.*)$/.exec(path) ?? [path, path, ''];
  const tabled = (optionTable as OptionTable)[option]?.flag?.name;
  const flag = tabled ?? option.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
  return tabled || flag in commandFlags || flag in downloadFlags || flag in convertFlags ? `--${flag}${rest}` : path;
};

if (require.main === module) {
  // Warnings (such as untrained weights) as one plain line each, without Node's hints.
  process.removeAllListeners('warning');
  process.on('warning', (warning) => process.stderr.write(`neural-style: warning: ${warning.message}\n`));
  // Ctrl-C (or a TERM) stops the run within an iteration and leaves no partial files; a second
  // one finds no handler and ends the process at once.
  const interruption = new AbortController();
  for (const name of ['SIGINT', 'SIGTERM'] as const) process.once(name, () => interruption.abort(name));
  // A reader that goes away (`neural-style --json | head -1`) ends the run, quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    interruption.abort('EPIPE');
  });
  main(hideBin(process.argv), interruption.signal).catch((error: Error) => {
    if (interruption.signal.reason === 'EPIPE') return;
    if (error.name === 'AbortError') {
      process.stderr.write(`neural-style: interrupted\n`);
      process.exitCode = 128 + constants.signals[interruption.signal.reason as 'SIGINT' | 'SIGTERM'];
      return;
    }
    const message = error instanceof OptionError ? error.toldWith(flagNames) : error.message;
    process.stderr.write(`neural-style: ${message.split('\n')[0]}\n`);
    process.exitCode = 1;
  });
}
