// The zip archives PyTorch writes: torch.save's since PyTorch 1.6, and every TorchScript file.
// LibTorch loads TorchScript without checking the CRC-32 each entry records (its zip reader is
// built with those checks off): a changed weight runs unseen, and damage that fails a load
// partway leaves the tensors read so far allocated for the life of the process. So the
// checksums are checked here first, and for the state dicts lib/checkpoint.ts reads as well.
import { createWriteStream } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createInflateRaw, crc32, inflateRaw } from 'node:zlib';

import { readAt, readInto } from './files';

export interface ZipEntry {
  /** 0: stored, as PyTorch writes data; 8: deflated, as TorchScript's code is. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeader: number;
  /** The Unix permissions the archive records (0 where it records none). */
  mode: number;
}

/** The entries of the zip archive `file`, by name, from its central directory. */
export async function readZipDirectory(file: FileHandle, size: number, source: string): Promise<Map<string, ZipEntry>> {
  const tailLength = Math.min(size, 65536 + 22);
  const tail = await readAt(file, size - tailLength, tailLength, source);
  const endRecord = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  // The end record is 22 bytes: a signature closer to the end is no end record (found by fuzzing).
  if (endRecord < 0 || endRecord + 22 > tail.length)
    throw new Error(`${source} is a zip archive without its directory: it is incomplete or damaged`);
  const count = tail.readUInt16LE(endRecord + 10);
  const directorySize = tail.readUInt32LE(endRecord + 12);
  const directoryOffset = tail.readUInt32LE(endRecord + 16);
  // Zip64 marks these fields so; a VGG-19 (0.5 GB with its classifier) never needs it.
  if (directoryOffset === 0xffffffff || count === 0xffff)
    throw new Error(`${source} is a zip64 archive (larger than 4 GB), which this reader does not read`);
  // Found by fuzzing: a directory recorded past the file's end made Node's read abort the process.
  if (directoryOffset + directorySize > size) throw new Error(`${source} has a damaged zip directory`);
  const directory = await readAt(file, directoryOffset, directorySize, source);
  const entries = new Map<string, ZipEntry>();
  for (let at = 0, i = 0; i < count; i++) {
    if (at + 46 > directory.length || directory.readUInt32LE(at) !== 0x02014b50)
      throw new Error(`${source} has a damaged zip directory`);
    const nameLength = directory.readUInt16LE(at + 28);
    const name = directory.toString('utf8', at + 46, at + 46 + nameLength);
    const entry = {
      method: directory.readUInt16LE(at + 10),
      crc32: directory.readUInt32LE(at + 16),
      compressedSize: directory.readUInt32LE(at + 20),
      size: directory.readUInt32LE(at + 24),
      localHeader: directory.readUInt32LE(at + 42),
      mode: (directory.readUInt32LE(at + 38) >>> 16) & 0o777,
    };
    // Every read of an entry stays within the file: its header and data, and a stored entry's
    // size is its data's.
    if (
      entry.localHeader + 30 + entry.compressedSize > size ||
      (entry.method === 0 && entry.size !== entry.compressedSize)
    )
      throw new Error(`${source} is damaged: its entry ${name} lies past the end of the file`);
    entries.set(name, entry);
    at += 46 + nameLength + directory.readUInt16LE(at + 30) + directory.readUInt16LE(at + 32);
  }
  return entries;
}

/** Where the data of `entry` starts: after its local header, whose name and padding vary. */
export async function zipEntryStart(file: FileHandle, entry: ZipEntry, source: string): Promise<number> {
  const header = await readAt(file, entry.localHeader, 30, source);
  return entry.localHeader + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
}

/** The first bytes of a zip archive: a local file header. */
export const zipSignature = Buffer.from('PK\x03\x04', 'latin1');

const chunkBytes = 4 << 20;
const inflate = promisify(inflateRaw);

/** The CRC-32 of the data of `entry`, read in chunks when stored, whole when deflated. */
async function entryChecksum(file: FileHandle, name: string, entry: ZipEntry, source: string): Promise<number> {
  const start = await zipEntryStart(file, entry, source);
  if (entry.method === 8) {
    // Inflating no further than the size recorded: a deflated entry cannot unpack into more.
    const data = await inflate(await readAt(file, start, entry.compressedSize, source), {
      maxOutputLength: Math.max(1, entry.size + 1),
    }).catch(() => undefined);
    if (data?.length !== entry.size)
      throw new Error(`${source} is damaged: its entry ${name} does not inflate to the size recorded for it`);
    return crc32(data);
  }
  if (entry.method !== 0)
    throw new Error(
      `${source} has its entry ${name} compressed with zip method ${entry.method}, which PyTorch cannot read`,
    );
  const chunk = Buffer.alloc(Math.min(chunkBytes, entry.size));
  let checksum = 0;
  for (let done = 0; done < entry.size; done += chunk.length) {
    checksum = crc32(
      await readInto(file, chunk.subarray(0, Math.min(chunk.length, entry.size - done)), start + done, source),
      checksum,
    );
  }
  return checksum;
}

/**
 * Refuses an archive any of whose entries differs from the CRC-32 recorded for it. PyTorch records
 * 0 when asked not to compute them (torch.serialization.set_crc32_options): those go unchecked.
 */
export async function verifyZipChecksums(
  file: FileHandle,
  entries: Map<string, ZipEntry>,
  source: string,
): Promise<void> {
  for (const [name, entry] of entries) {
    if (entry.crc32 === 0) continue;
    if ((await entryChecksum(file, name, entry, source)) !== entry.crc32) {
      throw new Error(`${source} is damaged: its entry ${name} does not match the checksum recorded for it`);
    }
  }
}

/** Checks the file at `path` as above when it is a zip archive; other formats are left to their readers. */
export async function verifyZipFile(path: string, source: string): Promise<string[]> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const signature = await readAt(file, 0, Math.min(size, 4), source);
    if (!signature.equals(zipSignature)) return [];
    const entries = await readZipDirectory(file, size, source);
    await verifyZipChecksums(file, entries, source);
    return [...entries.keys()];
  } finally {
    await file.close();
  }
}

/**
 * Refuses a zip archive that is no TorchScript model, before LibTorch's reader, which says so in
 * its own internal terms: torch.jit.save keeps the code and constants in one folder.
 */
export async function verifyTorchScript(path: string, source: string): Promise<void> {
  const entries = await verifyZipFile(path, source);
  if (entries.length > 0 && !entries.some((name) => /^[^/]+\/(constants\.pkl|code\/)/.test(name))) {
    const stateDict = entries.some((name) => /^[^/]+\/data\.pkl$/.test(name));
    throw new Error(
      `${source} is a zip archive but not a TorchScript model` +
        (stateDict ? ': it holds a state dict, which convert-model turns into one' : ': save one with torch.jit.save'),
    );
  }
}

/** A file's CRC-32 and size as it streams past, refusing more than `limit` bytes. */
class Checksummer extends Transform {
  checksum = 0;
  bytes = 0;
  constructor(
    private readonly limit: number,
    private readonly tooLong: () => Error,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: string, done: (error?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) return done(this.tooLong());
    this.checksum = crc32(chunk, this.checksum);
    done(null, chunk);
  }
}

/**
 * Unpacks the zip archive at `path` into the folder `destination` (which it makes), streaming
 * each entry and checking its size and CRC-32 against the directory's. Refuses names that would
 * land outside `destination`. The caller removes `destination` when this fails.
 */
export async function extractZip(path: string, destination: string, source: string): Promise<number> {
  const file = await open(path, 'r');
  try {
    const entries = await readZipDirectory(file, (await file.stat()).size, source);
    for (const [name, entry] of entries) {
      const parts = name.split('/');
      if (name.startsWith('/') || name.includes('\\') || parts.some((part) => part === '..'))
        throw new Error(`${source} has an entry named ${JSON.stringify(name)}, which would unpack outside its folder`);
      const target = join(destination, ...parts);
      if (name.endsWith('/')) {
        await mkdir(target, { recursive: true });
        continue;
      }
      if (entry.method !== 0 && entry.method !== 8)
        throw new Error(
          `${source} has its entry ${name} compressed with zip method ${entry.method}, which is not deflate`,
        );
      await mkdir(dirname(target), { recursive: true });
      const start = await zipEntryStart(file, entry, source);
      const damaged = () =>
        new Error(`${source} is damaged: its entry ${name} does not match the size or checksum recorded for it`);
      const checked = new Checksummer(entry.size, damaged);
      const stages: NodeJS.ReadableStream[] = [];
      if (entry.compressedSize > 0)
        stages.push(file.createReadStream({ start, end: start + entry.compressedSize - 1, autoClose: false }));
      else stages.push(Readable.from([]));
      if (entry.method === 8) stages.push(createInflateRaw());
      await pipeline([...stages, checked, createWriteStream(target, { mode: entry.mode || 0o644 })]).catch((error) => {
        throw (error as NodeJS.ErrnoException).code?.startsWith('Z_') ? damaged() : error;
      });
      if (checked.bytes !== entry.size || checked.checksum !== entry.crc32) throw damaged();
    }
    return entries.size;
  } finally {
    await file.close();
  }
}
