/**
 * Raw payloads after entries: what crit calls "extra".
 *
 * Some image types follow each entry with data that is not a protobuf entry; its size comes from
 * fields of the entry just read (CRIU 4.2 writers: pipes.c, sk-queue.c, sk-tcp.c, files-reg.c,
 * ipc_ns.c, bpfmap.c):
 *
 *   PIPES_DATA, FIFO_DATA  pipe_data_entry    `bytes` bytes
 *   SK_QUEUES              sk_packet_entry    `length` bytes
 *   TCP_STREAM             tcp_stream_entry   `inq_len` bytes, then `outq_len` bytes
 *   BPFMAP_DATA            bpfmap_data_entry  `keys_bytes` + `values_bytes` bytes
 *   IPCNS_SHM              ipc_shm_entry      `size` bytes, zero-padded to 4; none when
 *                                             `in_pagemaps` (CRIU 4.2 keeps the contents in
 *                                             pagemap/pages images instead)
 *   IPCNS_SEM              ipc_sem_entry      `nsems` u16 values, zero-padded to 8
 *   IPCNS_MSG              ipc_msg_entry      `qnum` messages, each a u32 length + ipc_msg, then
 *                                             `msize` bytes zero-padded to 8
 *   GHOST_FILE             ghost_file_entry   without `chunks`: the rest of the file; with
 *                                             `chunks`: no data, and every later entry is a
 *                                             ghost_chunk_entry followed by `len` bytes
 *
 * crit's JSON puts the payload in the entry as `"extra"`: base64 text in Python's `encodebytes`
 * layout; `{"inq": ..., "outq": ...}` for TCP streams; a list of numbers for semaphores; a list
 * alternating ipc_msg objects and base64 text for message queues. crit drops padding on decode and
 * writes zeros: padding that is not all zero (CRIU writes zeros) is kept here, in memory as `pad`
 * and in JSON as `"_pad": "<hex>"` next to the data it follows, so decode | encode gives the
 * original bytes whatever they were.
 *
 * Every size is checked against the bytes that are there before anything is allocated: a hostile
 * size is an ImageFormatError naming the offset where the data should start. On encode, the data
 * must have exactly the size the entry says (crit writes what it is given; CRIU would misread it).
 */

import { ImageFormatError, ImageJsonError } from '../errors.js';
import { decodeBytesPython, encodeBytesPython, messageFromJson, messageToJson } from './crit-json.js';
import type { JsonValue } from './jsontext.js';
import { decodeMessage, encodeMessage, type Message } from './schema.js';
import { ipcMsg } from './schemas/ipc.js';
import { putU32le, u32le } from './wire.js';

/** A payload in memory; `pad` is only there when the padding after the data is not all zero. */
export type Extra =
  | { kind: 'bytes'; data: Uint8Array; pad?: Uint8Array }
  | { kind: 'tcp'; inq: Uint8Array; outq: Uint8Array }
  | { kind: 'sem'; values: number[]; pad?: Uint8Array }
  | { kind: 'msgs'; messages: IpcMessage[] };

/** One message of a SysV message queue (IPCNS_MSG). */
export interface IpcMessage {
  /** ipc_msg: mtype, msize */
  msg: Message;
  data: Uint8Array;
  pad?: Uint8Array;
}

export interface ExtraCodec {
  /** Reads the payload after entry `i` (the last of `entries`) from `off`; returns it and its end. */
  read(buf: Uint8Array, off: number, entries: readonly Message[], i: number): { extra?: Extra; end: number };
  /** The bytes of entry `i`'s payload, checked against the entry. */
  write(extra: Extra | undefined, entries: readonly Message[], i: number): Uint8Array[];
  /** Adds `"extra"` (and `"_pad"`) to entry `i`'s JSON object. */
  toJson(json: JsonValue, extra: Extra | undefined): JsonValue;
  /** Entry JSON without the payload keys, for the message parser. */
  withoutExtra(json: JsonValue): JsonValue;
  /** The payloads of JSON entries (their sizes are checked on encode). */
  fromJson(json: readonly JsonValue[]): (Extra | undefined)[];
}

// ---------------------------------------------------------------------------------------------
// sizes from entries

/** A size field that is missing or unusable; turned into the right error by the caller. */
class SizeError extends Error {}

function u32Field(entry: Message, name: string): number {
  const v = entry[name];
  if (typeof v !== 'number') throw new SizeError(`no '${name}' field (the size of the data after the entry)`);
  return v;
}

function u64Field(entry: Message, name: string): bigint {
  const v = entry[name];
  if (typeof v !== 'bigint') throw new SizeError(`no '${name}' field (the size of the data after the entry)`);
  return v;
}

/** Bytes after entry `i`: a count, 'rest' (up to EOF), or null (no payload at all). */
type Size = bigint | 'rest' | null;

interface BytesLayout {
  readonly kind: 'bytes';
  /** What the data is, for messages. */
  readonly what: string;
  /** What the entry says the size is, for messages ("'bytes' = 5"). */
  readonly expected: (entries: readonly Message[], i: number, size: bigint) => string;
  readonly size: (entries: readonly Message[], i: number) => Size;
  /** Data is zero-padded to a multiple of this. */
  readonly align: number;
}

function bytesLayout(what: string, field: string, align = 1): BytesLayout {
  return {
    kind: 'bytes',
    what,
    expected: (_e, _i, size) => `'${field}' = ${size}`,
    size: (entries, i) => BigInt(u32Field(entries[i]!, field)),
    align,
  };
}

const ghostLayout: BytesLayout = {
  kind: 'bytes',
  what: 'ghost file data',
  expected: (_e, _i, size) => `chunk 'len' = ${size}`,
  size: (entries, i) => {
    const chunked = entries[0]!['chunks'] === true;
    if (i === 0) return chunked ? null : 'rest';
    if (!chunked) throw new SizeError('a ghost file without chunks has one entry, its data follows it');
    return u64Field(entries[i]!, 'len');
  },
  align: 1,
};

const shmLayout: BytesLayout = {
  kind: 'bytes',
  what: 'shared memory contents',
  expected: (entries, i, size) =>
    entries[i]!['in_pagemaps'] === true
      ? "'in_pagemaps' is set: none follow the entry (the contents are in pagemap images)"
      : `'size' = ${size}`,
  // in_pagemaps: the contents are in pagemap/pages images, nothing follows the entry
  size: (entries, i) => (entries[i]!['in_pagemaps'] === true ? 0n : u64Field(entries[i]!, 'size')),
  align: 4,
};

type Layout = BytesLayout | { readonly kind: 'tcp' } | { readonly kind: 'sem' } | { readonly kind: 'msgs' };

const LAYOUTS: Readonly<Record<string, Layout>> = {
  PIPES_DATA: bytesLayout('pipe data', 'bytes'),
  FIFO_DATA: bytesLayout('fifo data', 'bytes'),
  SK_QUEUES: bytesLayout('socket queue packet', 'length'),
  BPFMAP_DATA: {
    kind: 'bytes',
    what: 'BPF map keys and values',
    expected: (_e, _i, size) => `'keys_bytes' + 'values_bytes' = ${size}`,
    size: (entries, i) =>
      BigInt(u32Field(entries[i]!, 'keys_bytes')) + BigInt(u32Field(entries[i]!, 'values_bytes')),
    align: 1,
  },
  GHOST_FILE: ghostLayout,
  IPCNS_SHM: shmLayout,
  TCP_STREAM: { kind: 'tcp' },
  IPCNS_SEM: { kind: 'sem' },
  IPCNS_MSG: { kind: 'msgs' },
};

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

// ---------------------------------------------------------------------------------------------
// reading

function formatError(e: unknown, i: number, at: number): never {
  if (e instanceof SizeError) throw new ImageFormatError(`entry ${i}: ${e.message}`, at);
  throw e;
}

/** A u32 size field of entry `i`, read from an image (a missing one is an ImageFormatError at `at`). */
function sizeAt(entry: Message, name: string, i: number, at: number): number {
  try {
    return u32Field(entry, name);
  } catch (e) {
    return formatError(e, i, at);
  }
}

/** `n` bytes at `off`, or an error naming what was expected there. */
function take(buf: Uint8Array, off: number, n: bigint | number, what: string, i: number): Uint8Array {
  const left = buf.length - off;
  if (BigInt(n) > BigInt(left)) {
    throw new ImageFormatError(
      `entry ${i}: expected ${n} bytes of ${what} after the entry, only ${left} remain in the file`,
      off,
    );
  }
  return buf.slice(off, off + Number(n));
}

/** The padding after data, kept only when it is not all zero. */
function takePad(buf: Uint8Array, off: number, n: number, what: string, i: number): Uint8Array | undefined {
  if (n === 0) return undefined;
  const pad = take(buf, off, n, `padding after the ${what}`, i);
  return pad.some((b) => b !== 0) ? pad : undefined;
}

function readBytes(
  layout: BytesLayout,
  buf: Uint8Array,
  off: number,
  entries: readonly Message[],
  i: number,
) {
  let size: Size;
  try {
    size = layout.size(entries, i);
  } catch (e) {
    formatError(e, i, off);
  }
  if (size === null) return { end: off };
  if (size === 'rest') return { extra: { kind: 'bytes', data: buf.slice(off) } as Extra, end: buf.length };
  const data = take(buf, off, size, layout.what, i);
  const padLen = roundUp(data.length, layout.align) - data.length;
  const pad = takePad(buf, off + data.length, padLen, layout.what, i);
  const extra: Extra = pad ? { kind: 'bytes', data, pad } : { kind: 'bytes', data };
  return { extra, end: off + data.length + padLen };
}

function readTcp(buf: Uint8Array, off: number, entry: Message, i: number) {
  const inLen = sizeAt(entry, 'inq_len', i, off);
  const outLen = sizeAt(entry, 'outq_len', i, off);
  const inq = take(buf, off, inLen, `TCP receive queue ('inq_len' = ${inLen})`, i);
  const outq = take(buf, off + inLen, outLen, `TCP send queue ('outq_len' = ${outLen})`, i);
  return { extra: { kind: 'tcp', inq, outq } as Extra, end: off + inLen + outLen };
}

function readSem(buf: Uint8Array, off: number, entry: Message, i: number) {
  const nsems = sizeAt(entry, 'nsems', i, off);
  const what = `semaphore values ('nsems' = ${nsems})`;
  const raw = take(buf, off, 2 * nsems, what, i);
  const values = new Array<number>(nsems);
  for (let k = 0; k < nsems; k++) values[k] = raw[2 * k]! | (raw[2 * k + 1]! << 8);
  const padLen = roundUp(raw.length, 8) - raw.length;
  const pad = takePad(buf, off + raw.length, padLen, 'semaphore values', i);
  const extra: Extra = pad ? { kind: 'sem', values, pad } : { kind: 'sem', values };
  return { extra, end: off + raw.length + padLen };
}

function readMsgs(buf: Uint8Array, off: number, entry: Message, i: number) {
  const qnum = sizeAt(entry, 'qnum', i, off);
  const messages: IpcMessage[] = [];
  for (let k = 0; k < qnum; k++) {
    const what = `message ${k} of ${qnum} ('qnum')`;
    if (buf.length - off < 4) {
      throw new ImageFormatError(
        `entry ${i}: ${what}: expected a 4-byte length, only ${buf.length - off} bytes remain in the file`,
        off,
      );
    }
    const len = u32le(buf, off);
    if (len > buf.length - off - 4) {
      throw new ImageFormatError(
        `entry ${i}: ${what} claims ${len} bytes but only ${buf.length - off - 4} remain in the file`,
        off,
      );
    }
    const msg = decodeMessage(ipcMsg, buf, off + 4, off + 4 + len, 0);
    off += 4 + len;
    const msize = msg['msize'];
    if (typeof msize !== 'number') {
      throw new ImageFormatError(`entry ${i}: ${what} has no 'msize' (the size of its text)`, off);
    }
    const data = take(buf, off, msize, `text of ${what}, 'msize' = ${msize}`, i);
    const padLen = roundUp(msize, 8) - msize;
    const pad = takePad(buf, off + msize, padLen, `text of ${what}`, i);
    messages.push(pad ? { msg, data, pad } : { msg, data });
    off += msize + padLen;
  }
  return { extra: { kind: 'msgs', messages } as Extra, end: off };
}

// ---------------------------------------------------------------------------------------------
// writing

function jsonError(e: unknown, i: number): never {
  if (e instanceof SizeError) throw new ImageJsonError(e.message, `$.entries[${i}]`);
  throw e;
}

/** A u32 size field of entry `i`, from JSON (a missing one is an ImageJsonError). */
function sizeIn(entry: Message, name: string, i: number): number {
  try {
    return u32Field(entry, name);
  } catch (e) {
    return jsonError(e, i);
  }
}

function wrongKind(extra: Extra, want: string, i: number): never {
  throw new ImageJsonError(`expected ${want}, got a '${extra.kind}' payload`, `$.entries[${i}].extra`);
}

/** The padding to write: `pad` when given (it must have the right length), zeros otherwise. */
function padFor(pad: Uint8Array | undefined, n: number, padPath: string): Uint8Array[] {
  if (pad && pad.length !== n) {
    throw new ImageJsonError(`padding of ${pad.length} bytes, expected ${n}`, padPath);
  }
  if (n === 0) return [];
  return [pad ?? new Uint8Array(n)];
}

function writeBytes(layout: BytesLayout, extra: Extra | undefined, entries: readonly Message[], i: number) {
  const path = `$.entries[${i}].extra`;
  let size: Size;
  try {
    size = layout.size(entries, i);
  } catch (e) {
    jsonError(e, i);
  }
  if (extra && extra.kind !== 'bytes') wrongKind(extra, `${layout.what} as base64 text`, i);
  const data = extra?.data ?? new Uint8Array(0);
  if (size === null) {
    if (data.length > 0 || extra?.pad) {
      throw new ImageJsonError(
        'no data may follow a ghost file entry with chunks (it is in the chunks)',
        path,
      );
    }
    return [];
  }
  if (size === 'rest') return [data];
  if (BigInt(data.length) !== size) {
    throw new ImageJsonError(
      `${data.length} bytes of ${layout.what}, but ${layout.expected(entries, i, size)}`,
      path,
    );
  }
  const padLen = roundUp(data.length, layout.align) - data.length;
  return [data, ...padFor(extra?.pad, padLen, `$.entries[${i}]._pad`)];
}

function writeTcp(extra: Extra | undefined, entry: Message, i: number): Uint8Array[] {
  const path = `$.entries[${i}].extra`;
  const inLen = sizeIn(entry, 'inq_len', i);
  const outLen = sizeIn(entry, 'outq_len', i);
  if (extra && extra.kind !== 'tcp') wrongKind(extra, '{"inq": ..., "outq": ...}', i);
  const inq = extra?.inq ?? new Uint8Array(0);
  const outq = extra?.outq ?? new Uint8Array(0);
  if (inq.length !== inLen) {
    throw new ImageJsonError(
      `${inq.length} bytes in the receive queue, but 'inq_len' = ${inLen}`,
      `${path}.inq`,
    );
  }
  if (outq.length !== outLen) {
    throw new ImageJsonError(
      `${outq.length} bytes in the send queue, but 'outq_len' = ${outLen}`,
      `${path}.outq`,
    );
  }
  return [inq, outq];
}

function writeSem(extra: Extra | undefined, entry: Message, i: number): Uint8Array[] {
  const path = `$.entries[${i}].extra`;
  const nsems = sizeIn(entry, 'nsems', i);
  if (extra && extra.kind !== 'sem') wrongKind(extra, 'a list of semaphore values', i);
  const values = extra?.values ?? [];
  if (values.length !== nsems) {
    throw new ImageJsonError(`${values.length} semaphore values, but 'nsems' = ${nsems}`, path);
  }
  const raw = new Uint8Array(2 * nsems);
  values.forEach((v, k) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) {
      throw new ImageJsonError(`semaphore value ${v} is not a u16`, `${path}[${k}]`);
    }
    raw[2 * k] = v & 0xff;
    raw[2 * k + 1] = v >> 8;
  });
  return [raw, ...padFor(extra?.pad, roundUp(raw.length, 8) - raw.length, `$.entries[${i}]._pad`)];
}

function writeMsgs(extra: Extra | undefined, entry: Message, i: number): Uint8Array[] {
  const path = `$.entries[${i}].extra`;
  const qnum = sizeIn(entry, 'qnum', i);
  if (extra && extra.kind !== 'msgs') wrongKind(extra, 'a list of messages and their texts', i);
  const messages = extra?.messages ?? [];
  if (messages.length !== qnum) {
    throw new ImageJsonError(`${messages.length} messages, but 'qnum' = ${qnum}`, path);
  }
  const out: Uint8Array[] = [];
  messages.forEach((m, k) => {
    const at = `${path}[${2 * k}]`;
    const msize = m.msg['msize'];
    if (typeof msize !== 'number') throw new ImageJsonError(`message ${k} has no 'msize'`, at);
    if (m.data.length !== msize) {
      throw new ImageJsonError(
        `${m.data.length} bytes of message text, but 'msize' = ${msize}`,
        `${path}[${2 * k + 1}]`,
      );
    }
    const body = encodeMessage(ipcMsg, m.msg);
    const len = new Uint8Array(4);
    putU32le(len, 0, body.length);
    out.push(len, body, m.data, ...padFor(m.pad, roundUp(msize, 8) - msize, `${at}._pad`));
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON

function isObject(v: JsonValue | undefined): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof v !== 'bigint';
}

function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function padFromJson(v: JsonValue | undefined, path: string): Uint8Array | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(v)) {
    throw new ImageJsonError('expected the padding as hex bytes', path);
  }
  const out = new Uint8Array(v.length / 2);
  for (let k = 0; k < out.length; k++) out[k] = Number.parseInt(v.slice(2 * k, 2 * k + 2), 16);
  return out;
}

function base64FromJson(v: JsonValue | undefined, what: string, path: string): Uint8Array {
  if (typeof v !== 'string') throw new ImageJsonError(`expected ${what} as base64 text`, path);
  return decodeBytesPython(v, path);
}

function extraToJson(extra: Extra): JsonValue {
  switch (extra.kind) {
    case 'bytes':
      return encodeBytesPython(extra.data);
    case 'tcp':
      return { inq: encodeBytesPython(extra.inq), outq: encodeBytesPython(extra.outq) };
    case 'sem':
      return [...extra.values];
    case 'msgs':
      return extra.messages.flatMap((m) => {
        const msg = messageToJson(ipcMsg, m.msg, false) as { [key: string]: JsonValue };
        if (m.pad) msg['_pad'] = toHex(m.pad);
        return [msg, encodeBytesPython(m.data)];
      });
  }
}

function extraFromJson(layout: Layout, v: JsonValue, path: string, pad: Uint8Array | undefined): Extra {
  switch (layout.kind) {
    case 'bytes': {
      const data = base64FromJson(v, layout.what, path);
      return pad ? { kind: 'bytes', data, pad } : { kind: 'bytes', data };
    }
    case 'tcp':
      if (!isObject(v)) throw new ImageJsonError('expected {"inq": "<base64>", "outq": "<base64>"}', path);
      for (const k of Object.keys(v)) {
        if (k !== 'inq' && k !== 'outq') throw new ImageJsonError(`unexpected key '${k}'`, `${path}.${k}`);
      }
      return {
        kind: 'tcp',
        inq: base64FromJson(v['inq'] ?? '', 'the receive queue', `${path}.inq`),
        outq: base64FromJson(v['outq'] ?? '', 'the send queue', `${path}.outq`),
      };
    case 'sem': {
      if (!Array.isArray(v)) throw new ImageJsonError('expected a list of semaphore values', path);
      const values = v.map((x, k) => {
        const n = typeof x === 'bigint' ? Number(x) : x;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff) {
          throw new ImageJsonError('expected a semaphore value (0 to 65535)', `${path}[${k}]`);
        }
        return n;
      });
      return pad ? { kind: 'sem', values, pad } : { kind: 'sem', values };
    }
    case 'msgs': {
      if (!Array.isArray(v) || v.length % 2 !== 0) {
        throw new ImageJsonError('expected a list alternating ipc_msg objects and base64 texts', path);
      }
      const messages: IpcMessage[] = [];
      for (let k = 0; k < v.length; k += 2) {
        const at = `${path}[${k}]`;
        const m = v[k]!;
        if (!isObject(m))
          throw new ImageJsonError('expected an ipc_msg object {"mtype": ..., "msize": ...}', at);
        const { _pad, ...fields } = m;
        const msg = messageFromJson(ipcMsg, fields, at);
        const data = base64FromJson(v[k + 1], 'the message text', `${path}[${k + 1}]`);
        const p = padFromJson(_pad, `${at}._pad`);
        messages.push(p ? { msg, data, pad: p } : { msg, data });
      }
      return { kind: 'msgs', messages };
    }
  }
}

// ---------------------------------------------------------------------------------------------

function codecFor(layout: Layout): ExtraCodec {
  return {
    read(buf, off, entries, i) {
      switch (layout.kind) {
        case 'bytes':
          return readBytes(layout, buf, off, entries, i);
        case 'tcp':
          return readTcp(buf, off, entries[i]!, i);
        case 'sem':
          return readSem(buf, off, entries[i]!, i);
        case 'msgs':
          return readMsgs(buf, off, entries[i]!, i);
      }
    },
    write(extra, entries, i) {
      switch (layout.kind) {
        case 'bytes':
          return writeBytes(layout, extra, entries, i);
        case 'tcp':
          return writeTcp(extra, entries[i]!, i);
        case 'sem':
          return writeSem(extra, entries[i]!, i);
        case 'msgs':
          return writeMsgs(extra, entries[i]!, i);
      }
    },
    toJson(json, extra) {
      if (!extra || !isObject(json)) return json;
      json['extra'] = extraToJson(extra);
      if ((extra.kind === 'bytes' || extra.kind === 'sem') && extra.pad) json['_pad'] = toHex(extra.pad);
      return json;
    },
    withoutExtra(json) {
      if (!isObject(json)) return json;
      const { extra: _x, _pad: _p, ...rest } = json;
      return rest;
    },
    fromJson(json) {
      return json.map((e, i) => {
        if (!isObject(e)) return undefined;
        const path = `$.entries[${i}]`;
        const pad = padFromJson(e['_pad'], `${path}._pad`);
        if (pad && layout.kind !== 'bytes' && layout.kind !== 'sem') {
          throw new ImageJsonError('no padding follows this payload', `${path}._pad`);
        }
        const v = e['extra'];
        if (v === undefined) {
          if (pad) throw new ImageJsonError("padding without 'extra'", `${path}._pad`);
          return undefined;
        }
        return extraFromJson(layout, v, `${path}.extra`, pad);
      });
    },
  };
}

const CODECS = new Map<string, ExtraCodec>(Object.entries(LAYOUTS).map(([m, l]) => [m, codecFor(l)]));

/** The payload codec of an image type whose entries carry raw data, or undefined. */
export function extraCodec(magic: string): ExtraCodec | undefined {
  return CODECS.get(magic);
}

/** Image types whose entries are followed by raw data (crit's "extra"). */
export const EXTRA_PAYLOAD_TYPES: readonly string[] = Object.keys(LAYOUTS);
