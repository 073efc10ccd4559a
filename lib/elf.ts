// The little of a 64-bit little-endian ELF shared library that a bundle needs: its soname, its
// run path, and a run path replaced in place by a shorter one (the string table keeps its size,
// so nothing else in the file moves).

const dynamicTags = { null: 0, stringTable: 5, soname: 14, rpath: 15, runpath: 29 };

interface DynamicEntry {
  tag: number;
  value: number;
  /** Where the entry lies in the file. */
  at: number;
}

interface Dynamic {
  entries: DynamicEntry[];
  /** The string at `value` of the string table, with its offset in the file. */
  string(value: number): { text: string; at: number };
}

function readDynamic(file: Buffer, source: string): Dynamic {
  if (file.length < 64 || file.readUInt32BE(0) !== 0x7f454c46 || file[4] !== 2 || file[5] !== 1)
    throw new Error(`${source} is not a 64-bit little-endian ELF file`);
  const headers = Number(file.readBigUInt64LE(0x20));
  const headerSize = file.readUInt16LE(0x36);
  const segments = Array.from({ length: file.readUInt16LE(0x38) }, (_, i) => {
    const at = headers + i * headerSize;
    return {
      type: file.readUInt32LE(at),
      offset: Number(file.readBigUInt64LE(at + 8)),
      address: Number(file.readBigUInt64LE(at + 16)),
      size: Number(file.readBigUInt64LE(at + 32)),
    };
  });
  const dynamic = segments.find((segment) => segment.type === 2);
  if (!dynamic) throw new Error(`${source} has no dynamic section: it is not a shared library`);
  const entries: DynamicEntry[] = [];
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
    const tag = Number(file.readBigUInt64LE(at));
    if (tag === dynamicTags.null) break;
    entries.push({ tag, value: Number(file.readBigUInt64LE(at + 8)), at });
  }
  // The string table is given by its address once loaded: find where that lies in the file.
  const address = entries.find((entry) => entry.tag === dynamicTags.stringTable)?.value ?? 0;
  const loaded = segments.find((s) => s.type === 1 && address >= s.address && address < s.address + s.size);
  if (!loaded) throw new Error(`${source} has a damaged dynamic section`);
  const table = address - loaded.address + loaded.offset;
  return {
    entries,
    string: (value) => {
      const at = table + value;
      return { text: file.toString('latin1', at, file.indexOf(0, at)), at };
    },
  };
}

/** The library's soname (the name others record needing), or undefined where it has none. */
export function soname(file: Buffer, source: string): string | undefined {
  const dynamic = readDynamic(file, source);
  const entry = dynamic.entries.find(({ tag }) => tag === dynamicTags.soname);
  return entry && dynamic.string(entry.value).text;
}

/** The run path (DT_RUNPATH, else DT_RPATH), with which of the two it is. */
export function runPath(file: Buffer, source: string): { path: string; transitive: boolean } | undefined {
  const dynamic = readDynamic(file, source);
  const entry = dynamic.entries.find(({ tag }) => tag === dynamicTags.runpath || tag === dynamicTags.rpath);
  return entry && { path: dynamic.string(entry.value).text, transitive: entry.tag === dynamicTags.rpath };
}

/**
 * Replaces the run path of `file` (changed in place) with `path`, as DT_RPATH: unlike DT_RUNPATH
 * it serves the libraries those the file needs load in turn, as a bundle's LibTorch libraries do.
 */
export function setRunPath(file: Buffer, path: string, source: string): void {
  const dynamic = readDynamic(file, source);
  const entry = dynamic.entries.find(({ tag }) => tag === dynamicTags.runpath || tag === dynamicTags.rpath);
  if (!entry) throw new Error(`${source} has no run path to replace`);
  const old = dynamic.string(entry.value);
  if (Buffer.byteLength(path) > old.text.length)
    throw new Error(`${source}'s run path ${old.text} is shorter than ${path}, which cannot replace it in place`);
  file.fill(0, old.at, old.at + old.text.length);
  file.write(path, old.at, 'latin1');
  file.writeBigUInt64LE(BigInt(dynamicTags.rpath), entry.at);
}
