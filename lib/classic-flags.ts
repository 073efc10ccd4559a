// The command lines of jcjohnson/neural-style and neural-style-pt (-content_image c.jpg -gpu -1 …),
// read with their own spelling and meaning and rewritten into this command line's flags, so that
// one pasted from their READMEs runs.
import { randomInt } from 'node:crypto';
import { extname } from 'node:path';

import { nearest } from './checks';
import type { OptionTable } from './options';

/** What to do with the value of a classic flag that is not one of the table's own. */
type Translation = (value: string, context: { deviceGiven: boolean }) => string[];

const ignored: Translation = () => [];

/** The classic flags whose meaning is not simply one of the table's flags. */
const special: Record<string, Translation | 'switch'> = {
  // -1 (jcjohnson) or c (neural-style-pt) for the CPU, N for GPU N.
  gpu: (value) => {
    if (value === '-1' || value === 'c') return ['--device', 'cpu'];
    if (/^\d+$/.test(value)) return ['--device', `cuda:${value}`];
    if (value.includes(','))
      throw new Error(`-gpu ${value} asks for several devices, and neural-style runs on one: give one, such as -gpu 0`);
    throw new Error(`Expected a GPU number, -1 or c for -gpu but received ${value}`);
  },
  // Their backends choose convolution libraries; LibTorch chooses its own. cuDNN means a GPU.
  backend: (value, { deviceGiven }) => {
    const backends = ['nn', 'cudnn', 'clnn', 'mkl', 'openmp', 'mkldnn'];
    if (!value.split(',').every((backend) => backends.includes(backend))) {
      throw new Error(`Expected one of ${backends.join(', ')} for -backend but received ${value}`);
    }
    return value.includes('cudnn') && !deviceGiven ? ['--device', 'cuda'] : [];
  },
  cudnn_autotune: 'switch',
  // The layer layout comes with the TorchScript model.
  proto_file: ignored,
  model_file: (value) => {
    const extension = extname(value).toLowerCase();
    if (extension === '.caffemodel' || extension === '.pth') {
      throw new Error(
        `-model_file ${value} is a ${extension === '.pth' ? 'PyTorch state dict' : 'Caffe model'}, which runs do not read: ` +
          (extension === '.pth'
            ? `convert it once with neural-style convert-model --weights ${value} --preprocess caffe, then give the result`
            : 'neural-style download-model fetches and converts the same VGG-19'),
      );
    }
    return ['--model', value];
  },
  // -1 draws one, which is printed so that the run can be repeated.
  seed: (value) => {
    if (value !== '-1') return ['--seed', value];
    const seed = randomInt(2 ** 31);
    process.stderr.write(`neural-style: seed ${seed}\n`);
    return ['--seed', String(seed)];
  },
  // 0 is their default: the optimiser's own history.
  lbfgs_num_correction: (value) => (value === '0' ? [] : ['--lbfgs-history', value]),
  original_colors: (value) => {
    if (value !== '0' && value !== '1') throw new Error(`Expected 0 or 1 for -original_colors but received ${value}`);
    return [value === '1' ? '--original-colors' : '--no-original-colors'];
  },
  print_iter: (value) => ['--print-iter', value],
  multidevice_strategy: () => {
    throw new Error(
      '-multidevice_strategy splits the network over several devices, and neural-style runs on one: leave it out',
    );
  },
};

const classicName = /^-([a-z][a-z0-9]*(?:_[a-z0-9]+)+|[a-z]{3,})$/;

/**
 * `argv` with the classic flags rewritten into this command line's; unchanged when it has none.
 * A classic command line that names no output writes out.png, as theirs do.
 */
export function fromClassicFlags(argv: string[], table: OptionTable): string[] {
  const tabled = new Map(
    Object.values(table).flatMap((spec) => (spec.flag?.classic ? [[spec.flag.classic, spec.flag] as const] : [])),
  );
  if (!argv.some((arg) => classicName.test(arg) && (tabled.has(arg.slice(1)) || arg.slice(1) in special))) return argv;
  const deviceGiven = argv.includes('-gpu');
  const rewritten: string[] = [];
  let outputGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const match = classicName.exec(argv[i]);
    if (!match) {
      rewritten.push(argv[i]);
      continue;
    }
    const name = match[1];
    const flag = tabled.get(name);
    const translation = special[name];
    if (!flag && !translation) {
      const suggestion = nearest(name, [...tabled.keys(), ...Object.keys(special)]);
      throw new Error(`Unknown flag -${name}${suggestion ? `: did you mean -${suggestion}?` : ''}`);
    }
    if (flag?.type === 'boolean' || translation === 'switch') {
      if (flag) rewritten.push(`--${flag.name}`);
      continue;
    }
    // A value may start with a dash (-gpu -1): the next argument is the value, whatever it is.
    const value = argv[++i];
    if (value === undefined) throw new Error(`-${name} needs a value`);
    if (flag) {
      outputGiven ||= flag.name === 'output';
      rewritten.push(`--${flag.name}`, value);
    } else {
      rewritten.push(...(translation as Translation)(value, { deviceGiven }));
    }
  }
  return outputGiven || argv.includes('--output') ? rewritten : [...rewritten, '--output', 'out.png'];
}
