import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A hidden name beside `path`, on the same file system, so that a rename can replace `path`. */
export function temporaryPathBeside(path: string, purpose = 'tmp'): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.${purpose}`);
}

/**
 * Has `write` fill a temporary file beside `path`, then renames it to `path`: the file appears
 * whole or not at all, and a failure leaves nothing behind.
 */
export async function writeAtomically(path: string, write: (temporary: string) => Promise<void>): Promise<void> {
  const temporary = temporaryPathBeside(path);
  try {
    await write(temporary);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
