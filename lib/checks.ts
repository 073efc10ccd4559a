// The checks options go through: each says what it expects, in words that serve both its error
// ("Expected a positive integer for iterations but received -3 of type number") and the docs.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { OptionError } from './errors';

/** Checks `value`, given as option `name`, and returns it as the run uses it; throws if invalid. */
export interface Check<Resolved> {
  (name: string, value: unknown): Resolved;
  /** What a valid value is, as the error and the docs say it: "a positive integer". */
  readonly expected: string;
  /** The values it accepts, where they are a short list. */
  readonly choices?: readonly (string | number)[];
}

export function check<Resolved>(
  expected: string,
  resolve: (name: string, value: unknown) => Resolved,
): Check<Resolved> {
  return Object.assign(resolve, { expected });
}

function describe(value: unknown): string {
  const shown =
    typeof value === 'string'
      ? `'${value}'`
      : ArrayBuffer.isView(value)
        ? `a ${value.constructor.name} of ${value.byteLength} bytes`
        : String(value);
  return `${shown} of type ${value === null ? 'null' : typeof value}`;
}

export function invalid(name: string, expected: string, value: unknown): OptionError {
  return new OptionError(
    'ERR_INVALID_OPTION',
    (names) => `Expected ${expected} for ${names(name)} but received ${describe(value)}`,
    'TypeError',
  );
}

export const isInteger = (value: unknown): value is number => Number.isInteger(value);
export const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** Counts reach the engine as C++ ints. */
const largestCount = 2 ** 31 - 1;

export function integerFrom(smallest: 0 | 1, largest = largestCount): Check<number> {
  const expected = smallest === 1 ? 'a positive integer' : 'a non-negative integer';
  return check(expected, (name, value) => {
    if (!isInteger(value) || value < smallest) throw invalid(name, expected, value);
    if (value > largest) throw invalid(name, `${expected} up to ${largest}`, value);
    return value;
  });
}

export const positiveInteger = integerFrom(1);
export const nonNegativeInteger = integerFrom(0);

export const nonNegativeNumber = check('a non-negative number', (name, value) => {
  if (!isNumber(value) || value < 0) throw invalid(name, nonNegativeNumber.expected, value);
  return value;
});

export const positiveNumber = check('a positive number', (name, value) => {
  if (!isNumber(value) || value <= 0) throw invalid(name, positiveNumber.expected, value);
  return value;
});

export const boolean = check('a boolean', (name, value) => {
  if (typeof value !== 'boolean') throw invalid(name, boolean.expected, value);
  return value;
});

export function oneOf<T extends string | number>(choices: readonly T[]): Check<T> {
  const expected = `one of ${choices.join(', ')}`;
  const checked = check(expected, (name, value) => {
    if (!choices.includes(value as T)) throw invalid(name, expected, value);
    return value as T;
  });
  return Object.assign(checked, { choices });
}

/** `check`, or undefined when the value is. */
export function optional<T>(inner: Check<T>): Check<T | undefined> {
  return Object.assign(
    check(inner.expected, (name, value) => (value === undefined ? undefined : inner(name, value))),
    { choices: inner.choices },
  );
}

const layerName = /^(conv|relu)\d+_\d+$|^pool\d+$/;

export const layerList = check('a non-empty array of VGG layer names such as relu4_2', (name, value) => {
  const valid =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((layer) => typeof layer === 'string' && layerName.test(layer));
  if (!valid) throw invalid(name, layerList.expected, value);
  return [...value] as string[];
});

export const layerWeights = check(
  'an object of VGG layer names and non-negative numbers, such as { relu1_1: 1, relu2_1: 0.5 }',
  (name, value) => {
    const valid =
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      Object.entries(value).every(([layer, weight]) => layerName.test(layer) && isNumber(weight) && weight >= 0);
    if (!valid) throw invalid(name, layerWeights.expected, value);
    return { ...value } as Record<string, number>;
  },
);

/** A positive integer, or a non-empty array of them. */
export const integerOrIntegers = check('a positive integer or a non-empty array of them', (name, value) => {
  if (isInteger(value) && value >= 1) return value;
  if (!Array.isArray(value) || value.length === 0 || !value.every((item) => isInteger(item) && item >= 1))
    throw invalid(name, integerOrIntegers.expected, value);
  return [...value] as number[];
});

export const callback = check('a function', (name, value) => {
  if (value !== undefined && typeof value !== 'function') throw invalid(name, callback.expected, value);
  return value as ((...args: never[]) => unknown) | undefined;
});

export const abortSignal = check('an AbortSignal', (name, value) => {
  if (value !== undefined && !(value instanceof AbortSignal)) throw invalid(name, abortSignal.expected, value);
  return value as AbortSignal | undefined;
});

/** A path that names an existing regular file: a folder or a pipe would fail, or block, later. */
export function checkFile(name: string, path: string): void {
  if (!existsSync(path)) throw new OptionError('ENOENT', (names) => `${names(name)} file not found: ${path}`);
  if (!statSync(path).isFile())
    throw new OptionError('ERR_NOT_A_FILE', (names) => `${names(name)} is not a regular file: ${path}`);
}

/** A file `name` can be written to: its folder exists and is writable, and it is no folder itself. */
export function writablePath(name: string, path: string): string {
  const directory = dirname(resolve(path));
  if (!existsSync(directory)) {
    throw new OptionError('ENOENT', (names) => `${names(name)} directory does not exist: ${directory}`);
  }
  if (!statSync(directory).isDirectory()) {
    throw new OptionError('ENOTDIR', (names) => `${names(name)} names a folder that is a file: ${directory}`);
  }
  // Found now rather than after a long run.
  try {
    accessSync(directory, constants.W_OK);
  } catch {
    throw new OptionError('EACCES', (names) => `${names(name)} directory is not writable: ${directory}`);
  }
  if (existsSync(path) && statSync(path).isDirectory())
    throw new OptionError('EISDIR', (names) => `${names(name)} is a directory: ${path}`);
  return path;
}

/** Edits (insertions, deletions, substitutions) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The name among `known` that `name` most likely misspells, if any is close: for "did you mean". */
export function nearest(name: string, known: Iterable<string>): string | undefined {
  const folded = (text: string) => text.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of known) {
    const distance = editDistance(folded(name), folded(candidate));
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}
