// Reads float32 tensors from a PyTorch checkpoint (a file written by torch.save) without Python.
// Two layouts exist: the zip archive torch.save writes since PyTorch 1.6, and the older "legacy"
// sequence of pickles followed by the raw storages, which the pretrained VGG-19 files of 2017
// use. The pickle is interpreted, never executed: only the few constructors a state dict of
// tensors needs are known, and anything else is refused.
import { open, type FileHandle } from 'node:fs/promises';

import { readAt, readInto } from './files';
import { readZipDirectory, verifyZipChecksums, zipEntryStart, zipSignature } from './zip';

export interface FloatTensor {
  shape: number[];
  data: Float32Array;
}

/** A storage as the pickle refers to it: its data lies elsewhere in the file. */
interface StorageReference {
  key: string;
  type: string;
  elementSize: number;
  elements: number;
}

interface TensorReference {
  storage: StorageReference;
  offset: number;
  shape: number[];
  stride: number[];
}

/** Bytes per element of torch's storage types, as pickled (`torch.FloatStorage` ...). */
const elementSizes: Record<string, number> = {
  DoubleStorage: 8,
  FloatStorage: 4,
  HalfStorage: 2,
  BFloat16Storage: 2,
  LongStorage: 8,
  IntStorage: 4,
  ShortStorage: 2,
  CharStorage: 1,
  ByteStorage: 1,
  BoolStorage: 1,
  ComplexFloatStorage: 8,
  ComplexDoubleStorage: 16,
};

// torch.serialization's marks of the legacy layout: a magic number, then the protocol version.
const legacyMagic = 0x1950a86a20f9469cfc6cn;
const legacyProtocol = 1001;

class Truncated extends Error {
  constructor() {
    super('a pickle ends before its STOP');
  }
}

class Global {
  constructor(readonly name: string) {}
}

const mark = Symbol('mark');

/**
 * Interprets one pickle (protocol 2, as torch.save writes; the opcodes of 0 to 4 a state dict can
 * use) from `bytes` at `start`. Throws Truncated when the bytes end before its STOP.
 */
function unpickle(
  bytes: Buffer,
  start: number,
  persistentLoad: (id: unknown) => unknown,
  call: (callable: Global, args: unknown[]) => unknown,
) {
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let at = start;
  const take = (count: number) => {
    if (at + count > bytes.length) throw new Truncated();
    at += count;
    return at - count;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) throw new Truncated();
    const text = bytes.toString('latin1', at, end);
    at = end + 1;
    return text;
  };
  const popToMark = () => {
    const index = stack.lastIndexOf(mark);
    if (index < 0) throw new Error('a pickle without its MARK');
    const items = stack.splice(index);
    items.shift();
    return items;
  };
  const top = () => stack[stack.length - 1];
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) throw new Error('items set on something other than a dict');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  };

  for (;;) {
    const opcode = bytes[take(1)];
    switch (opcode) {
      case 0x80:
        take(1);
        break; // PROTO
      case 0x95:
        take(8);
        break; // FRAME
      case 0x2e:
        return { value: stack.pop(), end: at }; // STOP
      case 0x28:
        stack.push(mark);
        break; // MARK
      case 0x63:
        stack.push(new Global(`${line()}.${line()}`));
        break; // GLOBAL
      case 0x7d:
        stack.push(new Map());
        break; // EMPTY_DICT
      case 0x5d:
      case 0x29:
        stack.push([]);
        break; // EMPTY_LIST, EMPTY_TUPLE
      case 0x74:
      case 0x6c:
        stack.push(popToMark());
        break; // TUPLE, LIST
      case 0x64: {
        const dict = new Map();
        setItems(dict, popToMark());
        stack.push(dict);
        break;
      } // DICT
      case 0x85:
        stack.push(stack.splice(-1));
        break; // TUPLE1
      case 0x86:
        stack.push(stack.splice(-2));
        break; // TUPLE2
      case 0x87:
        stack.push(stack.splice(-3));
        break; // TUPLE3
      case 0x71:
        memo.set(bytes[take(1)], top());
        break; // BINPUT
      case 0x72:
        memo.set(bytes.readUInt32LE(take(4)), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
        stack.push(memo.get(bytes[take(1)]));
        break; // BINGET
      case 0x6a:
        stack.push(memo.get(bytes.readUInt32LE(take(4))));
        break; // LONG_BINGET
      case 0x4a:
        stack.push(bytes.readInt32LE(take(4)));
        break; // BININT
      case 0x4b:
        stack.push(bytes[take(1)]);
        break; // BININT1
      case 0x4d:
        stack.push(bytes.readUInt16LE(take(2)));
        break; // BININT2
      case 0x8a: {
        // LONG1: a little-endian two's complement integer of n bytes
        const length = bytes[take(1)];
        const from = take(length);
        let value = 0n;
        for (let i = length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[from + i]);
        if (length > 0 && bytes[from + length - 1] & 0x80) value -= 1n << BigInt(8 * length);
        stack.push(Number.isSafeInteger(Number(value)) ? Number(value) : value);
        break;
      }
      case 0x47:
        stack.push(bytes.readDoubleBE(take(8)));
        break; // BINFLOAT
      case 0x58: {
        const length = bytes.readUInt32LE(take(4));
        stack.push(bytes.toString('utf8', take(length), at));
        break;
      } // BINUNICODE
      case 0x8c: {
        const length = bytes[take(1)];
        stack.push(bytes.toString('utf8', take(length), at));
        break;
      } // SHORT_BINUNICODE
      case 0x55: {
        const length = bytes[take(1)];
        stack.push(bytes.toString('latin1', take(length), at));
        break;
      } // SHORT_BINSTRING
      case 0x54: {
        const length = bytes.readInt32LE(take(4));
        stack.push(bytes.toString('latin1', take(length), at));
        break;
      } // BINSTRING
      case 0x43: {
        const length = bytes[take(1)];
        stack.push(bytes.subarray(take(length), at));
        break;
      } // SHORT_BINBYTES
      case 0x42: {
        const length = bytes.readUInt32LE(take(4));
        stack.push(bytes.subarray(take(length), at));
        break;
      } // BINBYTES
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x51:
        stack.push(persistentLoad(stack.pop()));
        break; // BINPERSID
      case 0x52:
      case 0x81: {
        // REDUCE, NEWOBJ
        const args = stack.pop();
        const callable = stack.pop();
        if (!(callable instanceof Global) || !Array.isArray(args))
          throw new Error('a call of something other than a known function');
        stack.push(call(callable, args));
        break;
      }
      // BUILD sets an object's attributes: for a state dict, its `_metadata`, which is not needed.
      case 0x62:
        stack.pop();
        break;
      case 0x73: {
        const value = stack.pop();
        const key = stack.pop();
        setItems(top(), [key, value]);
        break;
      } // SETITEM
      case 0x75: {
        const items = popToMark();
        setItems(top(), items);
        break;
      } // SETITEMS
      case 0x61: {
        const value = stack.pop();
        (top() as unknown[]).push(value);
        break;
      } // APPEND
      case 0x65: {
        const items = popToMark();
        (top() as unknown[]).push(...items);
        break;
      } // APPENDS
      default:
        throw new Error(`pickle opcode 0x${opcode.toString(16)} at byte ${at - 1} is not one a state dict uses`);
    }
  }
}

/** The constructors a pickled state dict calls; `source` names the file in errors. */
function stateDictConstructors(source: string) {
  return (callable: Global, args: unknown[]): unknown => {
    switch (callable.name) {
      case 'collections.OrderedDict':
        return new Map();
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, shape, stride] = args as [StorageReference, number, number[], number[]];
        return { storage, offset, shape, stride } satisfies TensorReference;
      }
      case 'torch._utils._rebuild_parameter':
        return args[0];
      default:
        throw new Error(
          `${source} holds a Python object (${callable.name}), not only tensors: save model.state_dict() instead`,
        );
    }
  };
}

function storageReference(id: unknown, source: string): StorageReference {
  const [kind, type, key, , elements, view] = id as [string, Global, string, string, number, unknown];
  // A tensor saved from a GPU names torch.cuda's storage type; its bytes are the same.
  const typeName = type instanceof Global ? type.name.replace(/^torch\.(cuda\.)?/, '') : '';
  if (kind !== 'storage' || !(typeName in elementSizes) || typeof elements !== 'number') {
    throw new Error(`${source} refers to data that is not a tensor storage`);
  }
  if (view !== undefined && view !== null)
    throw new Error(`${source} holds storage views, which PyTorch no longer writes`);
  return { key: String(key), type: typeName, elementSize: elementSizes[typeName], elements };
}

/** Where each storage's bytes start, by key. */
type StorageOffsets = Map<string, number>;

interface Parsed {
  object: unknown;
  offsets: StorageOffsets;
}

/** The zip layout: `<name>/data.pkl` and one stored (uncompressed) entry per storage, `<name>/data/<key>`. */
async function parseZip(file: FileHandle, size: number, source: string): Promise<Parsed> {
  const records = await readZipDirectory(file, size, source);
  if ([...records.values()].some((record) => record.method !== 0))
    throw new Error(`${source} has compressed entries, which torch.save never writes`);
  await verifyZipChecksums(file, records, source);
  const dataStart = (name: string) => zipEntryStart(file, records.get(name)!, source);

  const pickleName = [...records.keys()].find((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (!pickleName) throw new Error(`${source} is a zip archive but not a PyTorch checkpoint (no data.pkl)`);
  const prefix = pickleName.slice(0, -'data.pkl'.length);
  const byteOrder = records.get(`${prefix}byteorder`);
  if (
    byteOrder &&
    (await readAt(file, await dataStart(`${prefix}byteorder`), byteOrder.size, source)).toString() !== 'little'
  ) {
    throw new Error(`${source} was written on a big-endian machine, which is not supported`);
  }
  const pickle = await readAt(file, await dataStart(pickleName), records.get(pickleName)!.size, source);
  const storages: StorageReference[] = [];
  const { value } = unpickle(
    pickle,
    0,
    (id) => {
      const storage = storageReference(id, source);
      storages.push(storage);
      return storage;
    },
    stateDictConstructors(source),
  );

  const offsets: StorageOffsets = new Map();
  for (const storage of storages) {
    const name = `${prefix}data/${storage.key}`;
    const record = records.get(name);
    if (!record || record.size < storage.elements * storage.elementSize)
      throw new Error(`${source} lacks the data of storage ${storage.key}`);
    if (!offsets.has(storage.key)) offsets.set(storage.key, await dataStart(name));
  }
  return { object: value, offsets };
}

/**
 * The legacy layout: pickles of the magic number, the protocol version, the system's byte order
 * and type sizes, the object, and the storage keys in the order the storages follow, each as an
 * int64 element count and its raw bytes.
 */
async function parseLegacy(file: FileHandle, size: number, source: string): Promise<Parsed> {
  // The pickles are small and come first; read more only when they run past what was read.
  for (let length = Math.min(size, 1 << 20); ; length = Math.min(size, length * 4)) {
    const head = await readAt(file, 0, length, source);
    const storages = new Map<string, StorageReference>();
    const constructors = stateDictConstructors(source);
    const plain = (at: number) =>
      unpickle(
        head,
        at,
        () => {
          throw new Error(`${source} is not a PyTorch checkpoint`);
        },
        constructors,
      );
    try {
      const magic = plain(0);
      if (magic.value !== legacyMagic) throw new Error(`${source} is not a PyTorch checkpoint`);
      const protocol = plain(magic.end);
      if (protocol.value !== legacyProtocol)
        throw new Error(`${source} uses checkpoint protocol ${protocol.value}, expected ${legacyProtocol}`);
      const system = plain(protocol.end);
      const littleEndian = system.value instanceof Map ? system.value.get('little_endian') : undefined;
      if (littleEndian === false)
        throw new Error(`${source} was written on a big-endian machine, which is not supported`);
      if (littleEndian !== true) throw new Error(`${source} is damaged: its system description is unreadable`);
      const object = unpickle(
        head,
        system.end,
        (id) => {
          const storage = storageReference(id, source);
          storages.set(storage.key, storages.get(storage.key) ?? storage);
          return storages.get(storage.key);
        },
        constructors,
      );
      const keys = plain(object.end);
      const offsets: StorageOffsets = new Map();
      let at = keys.end;
      for (const key of keys.value as unknown[]) {
        const storage = storages.get(String(key));
        const count = Number((await readAt(file, at, 8, source)).readBigInt64LE(0));
        if (!storage || count !== storage.elements)
          throw new Error(`${source} is damaged: storage ${key} does not match its description`);
        offsets.set(storage.key, at + 8);
        at += 8 + count * storage.elementSize;
      }
      if (at > size) throw new Error(`${source} ends early: it is incomplete or damaged`);
      return { object: object.value, offsets };
    } catch (error) {
      if (!(error instanceof Truncated)) throw error;
      if (length === size) throw new Error(`${source} ends early: it is incomplete or damaged`);
    }
  }
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

async function materialize(
  file: FileHandle,
  fileSize: number,
  tensor: TensorReference,
  offsets: StorageOffsets,
  name: string,
  source: string,
): Promise<FloatTensor> {
  const { storage, offset, shape, stride } = tensor;
  // The pickle says what each tensor is: in a damaged file, anything (fuzzing gave a shape of bytes).
  const sizes = (value: unknown): value is number[] =>
    Array.isArray(value) && value.every((item) => Number.isSafeInteger(item) && item >= 0);
  if (!sizes(shape) || !sizes(stride) || shape.length !== stride.length || !sizes([offset]))
    throw new Error(`${source} is damaged: ${name} has no valid shape, strides and offset`);
  const start = offsets.get(storage.key);
  if (start === undefined) throw new Error(`${source} is damaged: the storage of ${name} is missing`);
  if (storage.type !== 'FloatStorage')
    throw new Error(`${source}: ${name} holds ${storage.type.replace('Storage', '')} values, expected float32`);
  const count = shape.reduce((product, side) => product * side, 1);
  // The furthest element the tensor reaches, to check it lies within its storage.
  const extent = count === 0 ? 0 : shape.reduce((furthest, side, i) => furthest + (side - 1) * stride[i], 1);
  if (offset + extent > storage.elements) throw new Error(`${source} is damaged: ${name} reaches past its storage`);
  // Nor past the file: a storage the pickle says is larger than the file is never allocated.
  if (start + (offset + extent) * 4 > fileSize) throw new Error(`${source} is damaged: ${name} reaches past its end`);
  const span = await readInto(file, new Float32Array(extent), start + offset * 4, source);
  // A contiguous tensor is its whole span; any other is gathered from it by its strides.
  if (isContiguous(shape, stride)) return { shape, data: span };
  const data = new Float32Array(count);
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < count; i++) {
    data[i] = span[index.reduce((position, value, axis) => position + value * stride[axis], 0)];
    for (let axis = shape.length - 1; axis >= 0 && ++index[axis] === shape[axis]; axis--) index[axis] = 0;
  }
  return { shape, data };
}

/**
 * The tensors of the state dict saved at `path` whose names `wanted` accepts, as float32. Tensors
 * it does not want are never read, so the classifier of a whole VGG costs nothing.
 */
export async function readStateDict(
  path: string,
  wanted: (name: string) => boolean = () => true,
): Promise<Map<string, FloatTensor>> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (error) {
    throw new Error(`Cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const { size } = await file.stat();
    const signature = await readAt(file, 0, Math.min(size, 4), path);
    let parsed: Parsed;
    try {
      if (signature.equals(zipSignature)) {
        parsed = await parseZip(file, size, path);
      } else if (signature[0] === 0x80) {
        parsed = await parseLegacy(file, size, path);
      } else {
        throw new Error(`${path} is not a PyTorch checkpoint (a file written by torch.save)`);
      }
    } catch (error) {
      // Ours name the file; anything else is a structure read where it cannot be.
      const message = (error as Error).message;
      throw message.includes(path) ? error : new Error(`${path} is damaged, or not a PyTorch checkpoint: ${message}`);
    }
    const { object, offsets } = parsed;
    const isTensor = (value: unknown): value is TensorReference =>
      typeof value === 'object' && value !== null && 'storage' in value;
    if (!(object instanceof Map) || ![...object.values()].every(isTensor)) {
      throw new Error(
        `${path} holds ${object instanceof Map ? 'a dict of more than tensors' : Array.isArray(object) ? 'a list' : 'a single object'}, not a state dict of tensors`,
      );
    }
    const tensors = new Map<string, FloatTensor>();
    for (const [name, tensor] of object as Map<string, TensorReference>) {
      if (wanted(name)) tensors.set(name, await materialize(file, size, tensor, offsets, name, path));
    }
    return tensors;
  } finally {
    await file.close();
  }
}
