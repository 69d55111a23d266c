/**
 * Message schemas and the schema-driven protobuf codec.
 *
 * A schema is plain data (see `src/image/schemas/`): field numbers, names, types and CRIU's
 * `(criu).xxx` display options (hex, flags, dev, dict, ipadd, conv) that crit uses for `--pretty`.
 *
 * Decoded messages are plain objects keyed by field name, holding only the fields present in the
 * bytes (proto2 presence), so that re-encoding writes exactly what was read:
 *
 *   int32 sint32 uint32 fixed32 sfixed32 enum  -> number
 *   int64 sint64 uint64 fixed64 sfixed64       -> bigint
 *   bool -> boolean, string -> string, bytes -> Uint8Array, float/double -> number
 *   message -> Message, repeated -> array
 *
 * Fields the schema does not know are kept, raw, in `msg[UNKNOWN]` and written back after the
 * known ones (protobuf-c writes known fields in field-number order, so this reproduces CRIU's
 * bytes). A message with no schema at all decodes to nothing but unknown fields.
 */
import { ImageFormatError, ImageJsonError } from '../errors.js';
import { WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT, WireReader, type WireType, WireWriter } from './wire.js';

export type ScalarType =
  | 'int32'
  | 'uint32'
  | 'sint32'
  | 'fixed32'
  | 'sfixed32'
  | 'int64'
  | 'uint64'
  | 'sint64'
  | 'fixed64'
  | 'sfixed64'
  | 'bool'
  | 'string'
  | 'bytes'
  | 'float'
  | 'double';

export type FieldType = ScalarType | 'enum' | 'message';

/** Names of crit's flag tables (`(criu).flags = "..."`). */
export type FlagsMapName =
  | 'mmap.prot'
  | 'mmap.flags'
  | 'mmap.status'
  | 'rfile.flags'
  | 'pmap.flags'
  | 'seals.flags';

export interface EnumSchema {
  readonly name: string;
  /** value name -> number */
  readonly values: Readonly<Record<string, number>>;
}

export interface FieldSchema {
  readonly no: number;
  readonly name: string;
  readonly type: FieldType;
  readonly label: 'required' | 'optional' | 'repeated';
  /** `[packed = true]` in the .proto: how a repeated scalar is written. */
  readonly packed?: boolean;
  /** For type 'message': the message schema (a thunk, so schemas may refer to each other). */
  readonly message?: () => MessageSchema;
  /** For type 'enum'. */
  readonly enum?: EnumSchema;
  // crit display options (`(criu).hex` etc.); they only change `--pretty` output.
  readonly hex?: boolean;
  readonly flags?: FlagsMapName | string;
  readonly dev?: boolean;
  readonly odev?: boolean;
  readonly dict?: 'gen' | 'sk';
  readonly conv?: 'unix_name';
  readonly ipadd?: boolean;
}

export interface MessageSchema {
  readonly name: string;
  /** Sorted by field number. */
  readonly fields: readonly FieldSchema[];
}

/** A field the schema does not know, kept as read. */
export interface UnknownField {
  readonly no: number;
  readonly wire: WireType;
  /** For VARINT/I64/I32: the raw value bytes as read; for LEN: the payload. */
  readonly data: Uint8Array;
}

export const UNKNOWN = '_unknown';

export type ScalarValue = number | bigint | boolean | string | Uint8Array;
export type FieldValue = ScalarValue | Message | ScalarValue[] | Message[];
export interface Message {
  [field: string]: FieldValue | UnknownField[] | undefined;
}

/** A schema for messages we know nothing about: everything lands in `_unknown`. */
export const RAW_MESSAGE: MessageSchema = { name: 'raw', fields: [] };

export function message(name: string, fields: FieldSchema[]): MessageSchema {
  const sorted = [...fields].sort((a, b) => a.no - b.no);
  return { name, fields: sorted };
}

// ---------------------------------------------------------------------------------------------
// Lookup tables, built once per schema.

interface SchemaIndex {
  byNo: Map<number, FieldSchema>;
  byName: Map<string, FieldSchema>;
}
const indexCache = new WeakMap<MessageSchema, SchemaIndex>();

function indexOf(schema: MessageSchema): SchemaIndex {
  let idx = indexCache.get(schema);
  if (!idx) {
    idx = { byNo: new Map(), byName: new Map() };
    for (const f of schema.fields) {
      idx.byNo.set(f.no, f);
      idx.byName.set(f.name, f);
    }
    indexCache.set(schema, idx);
  }
  return idx;
}

export function fieldByName(schema: MessageSchema, name: string): FieldSchema | undefined {
  return indexOf(schema).byName.get(name);
}

function wireTypeOf(type: FieldType): WireType {
  switch (type) {
    case 'fixed64':
    case 'sfixed64':
    case 'double':
      return WIRE_I64;
    case 'fixed32':
    case 'sfixed32':
    case 'float':
      return WIRE_I32;
    case 'string':
    case 'bytes':
    case 'message':
      return WIRE_LEN;
    default:
      return WIRE_VARINT;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

const utf8 = new TextDecoder('utf-8', { fatal: true });
const f32 = new DataView(new ArrayBuffer(8));

/** Messages nest at most this deep (a hostile image cannot blow the stack). */
const MAX_DEPTH = 64;

/**
 * Decodes one message from `buf[start, end)`. `base` is the offset of `buf[0]` in the image file,
 * for error messages.
 */
export function decodeMessage(
  schema: MessageSchema,
  buf: Uint8Array,
  start = 0,
  end = buf.length,
  base = 0,
  depth = 0,
): Message {
  if (depth > MAX_DEPTH) throw new ImageFormatError('messages nested too deep', base + start);
  const r = new WireReader(buf, start, end, base);
  const idx = indexOf(schema);
  const msg: Message = {};
  while (r.pos < r.end) {
    const keyAt = r.pos;
    const k = r.keyRaw();
    const no = k >>> 3;
    const wire = (k & 7) as WireType;
    const field = idx.byNo.get(no);
    if (!field) {
      const s = r.pos;
      r.skip(wire);
      let data = buf.subarray(s, r.pos);
      if (wire === WIRE_LEN) {
        // keep only the payload; the length is re-derived on encode
        const lr = new WireReader(buf, s, r.pos, base);
        const [ps, pe] = lr.lengthDelimited();
        data = buf.subarray(ps, pe);
      }
      let unknown = msg[UNKNOWN] as UnknownField[] | undefined;
      if (!unknown) {
        unknown = [];
        msg[UNKNOWN] = unknown;
      }
      unknown.push({ no, wire, data });
      continue;
    }
    const expected = wireTypeOf(field.type);
    if (field.label === 'repeated') {
      let arr = msg[field.name] as (ScalarValue | Message)[] | undefined;
      if (!arr) {
        arr = [];
        msg[field.name] = arr as FieldValue;
      }
      if (wire === WIRE_LEN && expected !== WIRE_LEN) {
        // packed run of scalars
        const [ps, pe] = r.lengthDelimited();
        const pr = new WireReader(buf, ps, pe, base);
        while (pr.pos < pr.end) arr.push(readScalar(pr, field));
        continue;
      }
      if (wire !== expected)
        r.fail(`field ${schema.name}.${field.name}: wire type ${wire}, expected ${expected}`, keyAt);
      arr.push(readValue(r, field, buf, base, depth));
    } else {
      if (wire !== expected)
        r.fail(`field ${schema.name}.${field.name}: wire type ${wire}, expected ${expected}`, keyAt);
      msg[field.name] = readValue(r, field, buf, base, depth);
    }
  }
  return msg;
}

function readValue(
  r: WireReader,
  field: FieldSchema,
  buf: Uint8Array,
  base: number,
  depth: number,
): ScalarValue | Message {
  if (field.type === 'message') {
    const [s, e] = r.lengthDelimited();
    const sub = field.message ? field.message() : RAW_MESSAGE;
    return decodeMessage(sub, buf, s, e, base, depth + 1);
  }
  return readScalar(r, field);
}

function readScalar(r: WireReader, field: FieldSchema): ScalarValue {
  switch (field.type) {
    // 32-bit types keep the low 32 bits of the varint (as protobuf does), without bigints
    case 'int32':
    case 'enum':
      return r.varintParts() | 0;
    case 'uint32':
      return r.varintParts();
    case 'sint32': {
      const v = r.varintParts();
      return (v >>> 1) ^ -(v & 1);
    }
    case 'int64':
      return BigInt.asIntN(64, r.varint64());
    case 'uint64':
      return r.varint64();
    case 'sint64': {
      const v = r.varint64();
      return (v >> 1n) ^ -(v & 1n);
    }
    case 'bool':
      return (r.varintParts() | r.hi) !== 0;
    case 'fixed32':
      return r.fixed32();
    case 'sfixed32':
      return r.fixed32() | 0;
    case 'fixed64':
      return r.fixed64();
    case 'sfixed64':
      return BigInt.asIntN(64, r.fixed64());
    case 'float': {
      f32.setUint32(0, r.fixed32(), true);
      return f32.getFloat32(0, true);
    }
    case 'double': {
      f32.setBigUint64(0, r.fixed64(), true);
      return f32.getFloat64(0, true);
    }
    case 'string': {
      const at = r.pos;
      const [s, e] = r.lengthDelimited();
      try {
        return utf8.decode(r.buf.subarray(s, e));
      } catch {
        return r.fail(`field ${field.name}: string is not valid UTF-8`, at);
      }
    }
    case 'bytes': {
      const [s, e] = r.lengthDelimited();
      return r.buf.slice(s, e);
    }
    default:
      return r.fail(`field ${field.name}: type ${field.type} is not a scalar`);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

export function encodeMessage(schema: MessageSchema, msg: Message): Uint8Array {
  const w = new WireWriter(128);
  writeMessage(w, schema, msg);
  return w.finish();
}

function writeMessage(w: WireWriter, schema: MessageSchema, msg: Message): void {
  for (const field of schema.fields) {
    const v = msg[field.name];
    if (v === undefined) continue;
    if (field.label === 'repeated') {
      const arr = v as (ScalarValue | Message)[];
      if (field.packed && field.type !== 'message' && field.type !== 'string' && field.type !== 'bytes') {
        if (arr.length === 0) continue;
        w.key(field.no, WIRE_LEN);
        w.lengthDelimited((inner) => {
          for (const x of arr) writeScalar(inner, field, x as ScalarValue);
        });
      } else {
        for (const x of arr) writeField(w, field, x);
      }
    } else {
      writeField(w, field, v as ScalarValue | Message);
    }
  }
  const unknown = msg[UNKNOWN] as UnknownField[] | undefined;
  if (unknown) {
    for (const u of unknown) {
      w.key(u.no, u.wire);
      if (u.wire === WIRE_LEN) w.varint(u.data.length);
      w.bytes(u.data);
    }
  }
}

function writeField(w: WireWriter, field: FieldSchema, v: ScalarValue | Message): void {
  w.key(field.no, wireTypeOf(field.type));
  if (field.type === 'message') {
    const sub = field.message ? field.message() : RAW_MESSAGE;
    w.lengthDelimited((inner) => writeMessage(inner, sub, v as Message));
    return;
  }
  writeScalar(w, field, v as ScalarValue);
}

const textEncoder = new TextEncoder();

function writeScalar(w: WireWriter, field: FieldSchema, v: ScalarValue): void {
  switch (field.type) {
    case 'int32':
    case 'enum': {
      const n = v as number;
      if (n < 0) w.varint64(BigInt.asUintN(64, BigInt(n)));
      else w.varint(n);
      return;
    }
    case 'uint32':
      w.varint((v as number) >>> 0);
      return;
    case 'sint32': {
      const n = v as number;
      w.varint(((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    case 'int64':
    case 'uint64':
      w.varint64(BigInt.asUintN(64, v as bigint));
      return;
    case 'sint64': {
      const n = BigInt.asIntN(64, v as bigint);
      w.varint64(BigInt.asUintN(64, (n << 1n) ^ (n >> 63n)));
      return;
    }
    case 'bool':
      w.varint(v ? 1 : 0);
      return;
    case 'fixed32':
    case 'sfixed32':
      w.fixed32(v as number);
      return;
    case 'fixed64':
    case 'sfixed64':
      w.fixed64(v as bigint);
      return;
    case 'float':
      f32.setFloat32(0, v as number, true);
      w.fixed32(f32.getUint32(0, true));
      return;
    case 'double':
      f32.setFloat64(0, v as number, true);
      w.fixed64(f32.getBigUint64(0, true));
      return;
    case 'string': {
      const b = textEncoder.encode(v as string);
      w.varint(b.length);
      w.bytes(b);
      return;
    }
    case 'bytes': {
      const b = v as Uint8Array;
      w.varint(b.length);
      w.bytes(b);
      return;
    }
    default:
      throw new ImageJsonError(`type ${field.type} is not a scalar`, field.name);
  }
}

export function isSixtyFourBit(type: FieldType): boolean {
  return (
    type === 'int64' || type === 'uint64' || type === 'sint64' || type === 'fixed64' || type === 'sfixed64'
  );
}

export { ImageFormatError };
