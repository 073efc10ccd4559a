import { randomBytes } from 'node:crypto';
import { rename, rm, type FileHandle } from 'node:fs/promises';
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
