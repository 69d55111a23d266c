/**
 * Whole image files: framing (see magic.ts) + entries, to and from crit-style JSON.
 */

import { ImageFormatError, ImageJsonError, RawImageError } from '../errors.js';
import { messageFromJson, messageToJson } from './crit-json.js';
import { type Extra, type ExtraCodec, extraCodec } from './extra.js';
import { type JsonValue, parseJson, stringifyJson } from './jsontext.js';
import { framingOf, IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, MAGICS, magicName } from './magic.js';
import { decodeMessage, encodeMessage, type Message, type MessageSchema, RAW_MESSAGE } from './schema.js';
import { IMAGE_SCHEMAS } from './schemas/index.js';
import { putU32le, u32le } from './wire.js';

export type Framing = 'common' | 'service' | 'inventory' | 'v1';

export interface CriuImage {
  /** crit's name of the type magic, e.g. "PAGEMAP". */
  magic: string;
  /** How the file started; encode writes what CRIU writes for this magic unless told 'v1'. */
  framing: Framing;
  entries: Message[];
  /** Raw data after entries, for the types that have it (see extra.ts): `extra[i]` follows entry i. */
  extra?: (Extra | undefined)[];
}

export function schemaForEntry(magic: string, index: number): MessageSchema {
  // own properties only: a magic named "constructor" or "__proto__" is just unknown
  const s = Object.hasOwn(IMAGE_SCHEMAS, magic) ? IMAGE_SCHEMAS[magic] : undefined;
  if (!s) return RAW_MESSAGE;
  return index === 0 && s.head ? s.head : s.entry;
}

/** Reads the leading magic(s): returns the magic name, framing and where entries start. */
export function readFraming(buf: Uint8Array): { magic: string; framing: Framing; start: number } {
  if (buf.length < 4) {
    throw new ImageFormatError(`truncated header: ${buf.length} bytes, expected at least 4 (the magic)`, 0);
  }
  const first = u32le(buf, 0);
  if (first === IMG_COMMON_MAGIC || first === IMG_SERVICE_MAGIC) {
    if (buf.length < 8) {
      throw new ImageFormatError(
        `truncated header: ${buf.length} bytes, expected 8 (common magic + type magic)`,
        0,
      );
    }
    const type = u32le(buf, 4);
    const name = magicName(type);
    if (!name) throw new ImageFormatError(`unknown image magic 0x${type.toString(16).padStart(8, '0')}`, 4);
    return { magic: name, framing: first === IMG_COMMON_MAGIC ? 'common' : 'service', start: 8 };
  }
  const name = magicName(first);
  if (name === 'INVENTORY') return { magic: name, framing: 'inventory', start: 4 };
  if (name) return { magic: name, framing: 'v1', start: 4 };
  if (first === 0) {
    throw new RawImageError('raw image (no magic): this looks like a pages file', 0);
  }
  throw new ImageFormatError(
    `unknown magic 0x${first.toString(16).padStart(8, '0')}, expected a CRIU image (0x${IMG_COMMON_MAGIC.toString(16)} ...)`,
    0,
  );
}

/**
 * Calls `fn(start, end, index)` for each entry's message bytes. Entry lengths are checked against
 * the bytes that are there before anything is allocated, so a hostile length costs nothing.
 */
export function forEachEntry(
  buf: Uint8Array,
  start: number,
  fn: (s: number, e: number, i: number) => void,
): number {
  let off = start;
  let i = 0;
  while (off < buf.length) {
    const len = entryLength(buf, off, i);
    fn(off + 4, off + 4 + len, i);
    off += 4 + len;
    i++;
  }
  return i;
}

/** The length of entry `i`, whose length prefix is at `off` (< buf.length); checked against EOF. */
export function entryLength(buf: Uint8Array, off: number, i: number): number {
  if (buf.length - off < 4) {
    throw new ImageFormatError(
      `truncated entry header: ${buf.length - off} bytes left, expected a 4-byte length`,
      off,
    );
  }
  const len = u32le(buf, off);
  if (len > buf.length - off - 4) {
    throw new ImageFormatError(
      `entry ${i} claims ${len} bytes but only ${buf.length - off - 4} remain in the file`,
      off,
    );
  }
  return len;
}

export function decodeImage(buf: Uint8Array): CriuImage {
  const { magic, framing, start } = readFraming(buf);
  const codec = extraCodec(magic);
  if (codec) return { magic, framing, ...decodeWithExtra(buf, start, magic, codec) };
  const entries: Message[] = [];
  forEachEntry(buf, start, (s, e, i) => {
    entries.push(decodeMessage(schemaForEntry(magic, i), buf, s, e, 0));
  });
  return { magic, framing, entries };
}

/** Entries each followed by a payload whose size the entry gives (the codec reads and checks it). */
function decodeWithExtra(buf: Uint8Array, start: number, magic: string, codec: ExtraCodec) {
  const entries: Message[] = [];
  const extra: (Extra | undefined)[] = [];
  let off = start;
  while (off < buf.length) {
    const i = entries.length;
    const end = off + 4 + entryLength(buf, off, i);
    entries.push(decodeMessage(schemaForEntry(magic, i), buf, off + 4, end, 0));
    const r = codec.read(buf, end, entries, i);
    extra.push(r.extra);
    off = r.end;
  }
  return { entries, extra };
}

export function encodeImage(img: CriuImage): Uint8Array {
  const value = Object.hasOwn(MAGICS, img.magic) ? MAGICS[img.magic] : undefined;
  if (value === undefined) throw new ImageJsonError(`unknown magic '${img.magic}'`, '$.magic');
  const parts: Uint8Array[] = [];
  const framing = img.framing === 'v1' ? 'v1' : framingOf(img.magic);
  const header = new Uint8Array(framing === 'common' || framing === 'service' ? 8 : 4);
  if (framing === 'common' || framing === 'service') {
    putU32le(header, 0, framing === 'common' ? IMG_COMMON_MAGIC : IMG_SERVICE_MAGIC);
    putU32le(header, 4, value);
  } else putU32le(header, 0, value);
  parts.push(header);
  let total = header.length;
  const codec = extraCodec(img.magic);
  img.entries.forEach((m, i) => {
    const body = encodeMessage(schemaForEntry(img.magic, i), m);
    const len = new Uint8Array(4);
    putU32le(len, 0, body.length);
    parts.push(len, body);
    total += 4 + body.length;
    for (const p of codec?.write(img.extra?.[i], img.entries, i) ?? []) {
      parts.push(p);
      total += p.length;
    }
  });
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function imageToJson(img: CriuImage, pretty: boolean): JsonValue {
  const codec = extraCodec(img.magic);
  return {
    magic: img.magic,
    entries: img.entries.map((m, i) => {
      const json = messageToJson(schemaForEntry(img.magic, i), m, pretty);
      return codec ? codec.toJson(json, img.extra?.[i]) : json;
    }),
  };
}

export function imageFromJson(doc: JsonValue): CriuImage {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || typeof doc === 'bigint') {
    throw new ImageJsonError('expected an object {"magic": ..., "entries": [...]}', '$');
  }
  const magic = doc['magic'];
  if (typeof magic !== 'string')
    throw new ImageJsonError('expected the image magic name as a string', '$.magic');
  if (!Object.hasOwn(MAGICS, magic)) throw new ImageJsonError(`unknown magic '${magic}'`, '$.magic');
  const entries = doc['entries'];
  if (!Array.isArray(entries)) throw new ImageJsonError('expected an array of entries', '$.entries');
  const codec = extraCodec(magic);
  return {
    magic,
    framing: framingOf(magic),
    entries: entries.map((e, i) =>
      messageFromJson(schemaForEntry(magic, i), codec ? codec.withoutExtra(e) : e, `$.entries[${i}]`),
    ),
    ...(codec && { extra: codec.fromJson(entries) }),
  };
}

/** Image bytes -> crit JSON text. */
export function decodeToJsonText(buf: Uint8Array, pretty: boolean): string {
  return stringifyJson(imageToJson(decodeImage(buf), pretty), pretty);
}

/** crit JSON text -> image bytes. */
export function encodeFromJsonText(text: string): Uint8Array {
  return encodeImage(imageFromJson(parseJson(text)));
}
