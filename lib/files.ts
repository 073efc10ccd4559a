import { randomBytes } from 'node:crypto';
import { rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { OptionError } from './errors';

/** A hidden name beside `path`, on the same file system, so that a rename can replace `path`. */
export function temporaryPathBeside(path: string, purpose = 'tmp'): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.${purpose}`);
}

// What the system's refusals to write mean, for the error that names the file the caller gave.
const writeFailures: Record<string, string> = {
  ENOENT: 'its folder no longer exists',
  ENOTDIR: 'its folder no longer exists',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space is left on the device',
  EDQUOT: 'the disk quota is used up',
  ENAMETOOLONG: 'the name is too long',
  EISDIR: 'it is a folder',
};

/**
 * Has `write` fill a temporary file beside `path`, then renames it to `path`: the file appears
 * whole or not at all, and a failure leaves nothing behind. The system's refusal names `path`, as
 * option `name` (the temporary file is none of the caller's business).
 */
export async function writeAtomically(
  path: string,
  write: (temporary: string) => Promise<void>,
  name = 'output',
): Promise<void> {
  const temporary = temporaryPathBeside(path);
  try {
    await write(temporary);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined || (error as NodeJS.ErrnoException).syscall === undefined) throw error;
    const why = writeFailures[code] ?? code;
    throw Object.assign(new OptionError(code, (names) => `Could not write ${names(name)} ${path}: ${why}`), {
      cause: error,
    });
  }
}

/** Fills `view` from the file at `position`; a file that ends first is incomplete. */
export async function readInto<View extends NodeJS.ArrayBufferView>(
  file: FileHandle,
  view: View,
  position: number,
  source: string,
): Promise<View> {
  const { bytesRead } = await file.read(view, 0, view.byteLength, position);
  if (bytesRead < view.byteLength) throw new Error(`${source} ends early: it is incomplete or damaged`);
  return view;
}

export const readAt = (file: FileHandle, position: number, length: number, source: string) =>
  readInto(file, Buffer.alloc(length), position, source);
