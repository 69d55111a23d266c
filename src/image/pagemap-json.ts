/**
 * Image -> crit JSON as bytes, with a specialised writer for pagemap images (a big process has
 * millions of pagemap entries; the generic path builds a message object and a JSON tree per entry).
 *
 * The output is exactly the text of the generic path (`decodeToJsonText`), as ASCII bytes: an entry
 * the writer does not recognise as plain — unknown or repeated fields, other wire types, anything
 * malformed — goes through the generic decoder and formatter, so odd entries print, and bad ones
 * fail, exactly as they do there. If the pagemap schema is ever changed so that the specialised
 * layout no longer matches it, every pagemap goes the generic way.
 */
import { formatFlags, messageToJson } from './crit-json.js';
import { decodeToJsonText, entryLength, readFraming, schemaForEntry } from './image.js';
import { quoteJson, stringifyJson } from './jsontext.js';
import { decodeMessage, type FieldSchema, type MessageSchema } from './schema.js';
import { IMAGE_SCHEMAS } from './schemas/index.js';

const CHUNK = 1 << 20;
const TWO32 = 0x1_0000_0000;
const ascii = new TextEncoder();

/** The pagemap_entry layout the writer knows: [no, name, type, display options]. */
const EXPECTED: readonly [number, string, string, Partial<FieldSchema>][] = [
  [1, 'vaddr', 'uint64', { hex: true }],
  [2, 'compat_nr_pages', 'uint32', {}],
  [3, 'in_parent', 'bool', {}],
  [4, 'flags', 'uint32', { flags: 'pmap.flags' }],
  [5, 'nr_pages', 'uint64', {}],
];
const DISPLAY = ['hex', 'flags', 'dev', 'odev', 'dict', 'conv', 'ipadd'] as const;

let layoutOk: boolean | undefined;

/** Does the current pagemap_entry schema still match what the specialised writer prints? */
export function pagemapLayoutMatchesSchema(): boolean {
  if (layoutOk !== undefined) return layoutOk;
  const s = IMAGE_SCHEMAS['PAGEMAP'];
  const entry: MessageSchema | undefined = s?.entry;
  layoutOk =
    s?.head !== undefined &&
    entry !== undefined &&
    entry.fields.length === EXPECTED.length &&
    EXPECTED.every(([no, name, type, display], i) => {
      const f = entry.fields[i]!;
      return (
        f.no === no &&
        f.name === name &&
        f.type === type &&
        f.label !== 'repeated' &&
        DISPLAY.every((k) => f[k] === display[k])
      );
    });
  return layoutOk;
}

/** Output bytes in chunks of about 1 MiB. */
class ByteSink {
  readonly chunks: Uint8Array[] = [];
  buf = new Uint8Array(CHUNK);
  p = 0;

  /** Makes room for `n` more bytes in `buf`. */
  room(n: number): void {
    if (this.p + n <= this.buf.length) return;
    if (this.p > 0) this.chunks.push(this.buf.subarray(0, this.p));
    this.buf = new Uint8Array(Math.max(CHUNK, n));
    this.p = 0;
  }

  text(s: string): void {
    // all text written here is ASCII (JSON as Python writes it escapes everything else)
    this.room(s.length);
    this.p += ascii.encodeInto(s, this.buf.subarray(this.p)).written;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.p);
    this.p += b.length;
  }

  finish(): Uint8Array[] {
    if (this.p > 0) this.chunks.push(this.buf.subarray(0, this.p));
    this.p = 0;
    return this.chunks;
  }
}

/**
 * crit JSON of an image as ASCII bytes, in chunks: the same bytes as
 * `new TextEncoder().encode(decodeToJsonText(buf, pretty))`, and the same errors.
 */
export function decodeToJsonChunks(buf: Uint8Array, pretty: boolean): Uint8Array[] {
  const { magic, start } = readFraming(buf);
  if (magic !== 'PAGEMAP' || !pagemapLayoutMatchesSchema()) {
    return [ascii.encode(decodeToJsonText(buf, pretty))];
  }
  return pagemapToJson(buf, start, pretty);
}

const IND_ENTRY = '        ';
const IND_FIELD = '            ';
const NAMES = EXPECTED.map(([, name]) => `${quoteJson(name)}: `);

/** What comes before a field's name: after "{" for the first field, else after a value. */
function fieldSep(first: boolean, pretty: boolean): string {
  if (pretty) return first ? `\n${IND_FIELD}` : `,\n${IND_FIELD}`;
  return first ? '' : ', ';
}

/**
 * An entry is written as head, vaddr value, middle, nr_pages value, close. The head is the entry
 * separator, "{" and the vaddr key; the middle is everything between the two 64-bit values: the
 * keys and values of fields 2-4 (small numbers, so the whole middle is cached per combination) and
 * the nr_pages key — or the closing brace when there is no nr_pages.
 */
function heads(pretty: boolean): Uint8Array[] {
  // index: (first entry ? 0 : 1) + (has vaddr ? 2 : 0)
  const out: Uint8Array[] = [];
  for (const v of [false, true]) {
    for (const firstEntry of [true, false]) {
      const sep = pretty ? (firstEntry ? `\n${IND_ENTRY}` : `,\n${IND_ENTRY}`) : firstEntry ? '' : ', ';
      const key = v ? `${fieldSep(true, pretty)}${NAMES[0]}${pretty ? '"0x' : ''}` : '';
      out.push(ascii.encode(`${sep}{${key}`));
    }
  }
  return out;
}
const HEADS_PLAIN = heads(false);
const HEADS_PRETTY = heads(true);
const CLOSE_PLAIN = ascii.encode('}');
const CLOSE_PRETTY = ascii.encode(`\n${IND_ENTRY}}`);

function middleText(have: number, compat: number, inParent: boolean, flags: number, pretty: boolean): string {
  let t = '';
  let first = true;
  if (have & 2) {
    if (pretty) t += '"'; // end of the "0x..." vaddr
    first = false;
  }
  const field = (f: number, value: string): void => {
    if ((have & (1 << f)) === 0) return;
    t += `${fieldSep(first, pretty)}${NAMES[f - 1]}${value}`;
    first = false;
  };
  field(2, String(compat));
  field(3, inParent ? 'true' : 'false');
  field(4, pretty ? quoteJson(formatFlags(flags, 'pmap.flags')) : String(flags));
  if (have & 32) t += `${fieldSep(first, pretty)}${NAMES[4]}`;
  else t += have === 0 ? '}' : pretty ? `\n${IND_ENTRY}}` : '}';
  return t;
}

const middles = [new Map<number, Uint8Array>(), new Map<number, Uint8Array>()];

function middle(have: number, compat: number, inParent: boolean, flags: number, pretty: boolean): Uint8Array {
  if (compat >= 0x10000 || flags >= 0x10000) {
    return ascii.encode(middleText(have, compat, inParent, flags, pretty));
  }
  const key = ((compat * 0x10000 + flags) * 2 + (inParent ? 1 : 0)) * 64 + have;
  const cache = middles[pretty ? 1 : 0]!;
  let m = cache.get(key);
  if (m === undefined) {
    m = ascii.encode(middleText(have, compat, inParent, flags, pretty));
    if (cache.size < 4096) cache.set(key, m);
  }
  return m;
}

function copy(buf: Uint8Array, q: number, src: Uint8Array): number {
  for (let k = 0; k < src.length; k++) buf[q++] = src[k]!;
  return q;
}

/** Text of a generic-path entry (odd ones print as there; bad ones throw its errors). */
function genericEntry(b: Uint8Array, s: number, e: number, i: number, pretty: boolean): string {
  const schema = schemaForEntry('PAGEMAP', i);
  const msg = decodeMessage(schema, b, s, e, 0);
  return stringifyJson(messageToJson(schema, msg, pretty), pretty, pretty ? IND_ENTRY : '');
}

/** The fields of one pagemap_entry: 64-bit values as (low 32 bits, high 32 bits). */
class Fields {
  /** Bit f set: field f present. */
  have = 0;
  vLo = 0;
  vHi = 0;
  compat = 0;
  inParent = false;
  flags = 0;
  nLo = 0;
  nHi = 0;
}

/**
 * Reads fields 1..5 of `b[p, e)` into `f` (adding to `f.have`). False if the bytes are anything
 * but keys of fields 1..5 with wire type 0, each at most once, and well-formed varints.
 */
function readFields(b: Uint8Array, p: number, e: number, f: Fields): boolean {
  while (p < e) {
    const key = b[p]!;
    const no = key >>> 3;
    if ((key & 7) !== 0 || no === 0 || no > 5 || (f.have & (1 << no)) !== 0) return false;
    f.have |= 1 << no;
    p++;
    let l = 0;
    let h = 0;
    for (let shift = 0; ; shift += 7) {
      if (p >= e || shift > 63) return false;
      const x = b[p++]!;
      if (shift < 28) l |= (x & 0x7f) << shift;
      else if (shift === 28) {
        l |= (x & 0x0f) << 28;
        h = (x & 0x7f) >>> 4;
      } else h |= (x & 0x7f) << (shift - 32);
      if (x < 0x80) {
        if (shift === 63 && x > 1) return false;
        break;
      }
    }
    l >>>= 0;
    h >>>= 0;
    if (no === 1) {
      f.vLo = l;
      f.vHi = h;
    } else if (no === 2) f.compat = l;
    else if (no === 3) f.inParent = (l | h) !== 0;
    else if (no === 4) f.flags = l;
    else {
      f.nLo = l;
      f.nHi = h;
    }
  }
  return true;
}

/**
 * The text of an entry after its vaddr value (middle, nr_pages, close), for entries with a vaddr:
 * for the common case it depends only on the bytes after the vaddr varint, so it is cached by them.
 */
function tailText(f: Fields, pretty: boolean): Uint8Array {
  const mid = middle(f.have, f.compat, f.inParent, f.flags, pretty);
  if ((f.have & 32) === 0) return mid;
  const close = pretty ? CLOSE_PRETTY : CLOSE_PLAIN;
  const out = new Uint8Array(mid.length + 20 + close.length);
  out.set(mid, 0);
  let q = writeU64(out, mid.length, f.nLo, f.nHi);
  out.set(close, q);
  q += close.length;
  return out.slice(0, q);
}

const NOT_CACHED = new Uint8Array(0);

function pagemapToJson(b: Uint8Array, start: number, pretty: boolean): Uint8Array[] {
  const out = new ByteSink();
  const HEADS = pretty ? HEADS_PRETTY : HEADS_PLAIN;
  const CLOSE = pretty ? CLOSE_PRETTY : CLOSE_PLAIN;
  // cached tail texts (one cache per call: plain and pretty differ)
  const tailKeys = new Float64Array(1021).fill(-1);
  const tailTexts: Uint8Array[] = new Array(1021).fill(NOT_CACHED);
  out.text(pretty ? '{\n    "magic": "PAGEMAP",\n    "entries": [' : '{"magic": "PAGEMAP", "entries": [');
  const n = b.length;
  const f = new Fields();
  let off = start;
  let i = 0;
  for (; off < n; i++) {
    // the same framing checks, in the same order, as forEachEntry in the generic path
    const s = off + 4;
    const e = s + entryLength(b, off, i);
    off = e;
    if (i === 0) {
      // the pagemap_head
      out.text(pretty ? `\n${IND_ENTRY}` : '');
      out.text(genericEntry(b, s, e, i, pretty));
      continue;
    }
    out.room(512); // an entry of the forms below takes less than 400 bytes
    const buf = out.buf;

    // Quick path, what CRIU writes: vaddr first, then a few bytes (<= 6) that repeat from entry to
    // entry; their text is cached by those bytes.
    if (b[s] === 0x08) {
      let p = s + 1;
      let x = b[p++]!;
      let lo = x & 0x7f;
      let hi = 0;
      if (x >= 0x80) {
        // at most 10 bytes; reading past `e` is caught by the `p <= e` check below
        for (let shift = 7; ; shift += 7) {
          if (shift > 63) {
            x = 0x80;
            break;
          }
          x = b[p++]!;
          if (shift < 28) lo |= (x & 0x7f) << shift;
          else if (shift === 28) {
            lo |= (x & 0x0f) << 28;
            hi = (x & 0x7f) >>> 4;
          } else hi |= (x & 0x7f) << (shift - 32);
          if (!(x >= 0x80)) {
            if (shift === 63 && x > 1) x = 0x80;
            break;
          }
        }
      }
      const tl = e - p;
      if (!(x >= 0x80) && tl >= 0 && tl <= 6) {
        let key = tl;
        for (let j = p; j < e; j++) key = key * 256 + b[j]!;
        // a direct-mapped cache of 1024 slots (keys are below 2^51)
        const slot = (key % 1021) | 0;
        let tail: Uint8Array;
        if (tailKeys[slot] === key) tail = tailTexts[slot]!;
        else {
          f.have = 2;
          tail = readFields(b, p, e, f) ? tailText(f, pretty) : NOT_CACHED;
          tailKeys[slot] = key;
          tailTexts[slot] = tail;
        }
        if (tail !== NOT_CACHED) {
          let q = copy(buf, out.p, HEADS[3]!);
          q = pretty ? writeHex64(buf, q, lo >>> 0, hi >>> 0) : writeU64(buf, q, lo >>> 0, hi >>> 0);
          buf.set(tail, q);
          out.p = q + tail.length;
          continue;
        }
      }
    }

    // Any other entry of fields 1..5
    f.have = 0;
    if (!readFields(b, s, e, f)) {
      // the generic way: prints odd entries as the generic path does, throws its errors for bad ones
      out.text(pretty ? `,\n${IND_ENTRY}` : ', ');
      out.text(genericEntry(b, s, e, i, pretty));
      continue;
    }
    const have = f.have;
    let q = copy(buf, out.p, HEADS[1 + (have & 2)]!);
    if (have === 0) {
      buf[q++] = 0x7d; // {}
      out.p = q;
      continue;
    }
    if (have & 2) q = pretty ? writeHex64(buf, q, f.vLo, f.vHi) : writeU64(buf, q, f.vLo, f.vHi);
    const mid = middle(have, f.compat, f.inParent, f.flags, pretty);
    buf.set(mid, q);
    q += mid.length;
    if (have & 32) {
      q = writeU64(buf, q, f.nLo, f.nHi);
      q = copy(buf, q, CLOSE);
    }
    out.p = q;
  }
  out.text(pretty ? (i === 0 ? ']\n}' : '\n    ]\n}') : ']}');
  return out.finish();
}

/** Decimal digits of an unsigned 64-bit value given as two 32-bit halves. */
function writeU64(buf: Uint8Array, q: number, lo: number, hi: number): number {
  if (hi === 0) return writeU32(buf, q, lo);
  if (hi < 0x200000) return writeDecimal(buf, q, hi * TWO32 + lo);
  const t = ((BigInt(hi) << 32n) | BigInt(lo)).toString();
  for (let k = 0; k < t.length; k++) buf[q++] = t.charCodeAt(k);
  return q;
}

/** "00".."99" as bytes: two digits per division. */
const PAIRS = ascii.encode(Array.from({ length: 100 }, (_, k) => String(k).padStart(2, '0')).join(''));

let lastTop = -1;
let lastTopLen = 0;
const lastTopDigits = new Uint8Array(10);

/** Decimal digits of a non-negative integer below 2^53. */
function writeDecimal(buf: Uint8Array, q: number, v: number): number {
  if (v < TWO32) return writeU32(buf, q, v >>> 0);
  // split into a top part (< 2^32 for any v < 2^53) and the low 8 digits
  const top = Math.floor(v / 1e8);
  // consecutive addresses mostly share their top digits: keep the last ones
  if (top === lastTop) {
    for (let k = 0; k < lastTopLen; k++) buf[q + k] = lastTopDigits[k]!;
    q += lastTopLen;
  } else {
    const e = writeU32(buf, q, top);
    lastTop = top;
    lastTopLen = e - q;
    for (let k = 0; k < lastTopLen; k++) lastTopDigits[k] = buf[q + k]!;
    q = e;
  }
  let low = (v - top * 1e8) >>> 0;
  for (let p = q + 6; p >= q; p -= 2) {
    const t = (low / 100) >>> 0;
    const r = (low - t * 100) << 1;
    buf[p] = PAIRS[r]!;
    buf[p + 1] = PAIRS[r + 1]!;
    low = t;
  }
  return q + 8;
}

function writeU32(buf: Uint8Array, q: number, u: number): number {
  if (u < 10) {
    buf[q] = 0x30 + u;
    return q + 1;
  }
  const end =
    q +
    (u < 100
      ? 2
      : u < 1000
        ? 3
        : u < 10000
          ? 4
          : u < 100000
            ? 5
            : u < 1000000
              ? 6
              : u < 10000000
                ? 7
                : u < 100000000
                  ? 8
                  : u < 1000000000
                    ? 9
                    : 10);
  let p = end;
  while (u >= 100) {
    const t = (u / 100) >>> 0;
    const r = (u - t * 100) << 1;
    p -= 2;
    buf[p] = PAIRS[r]!;
    buf[p + 1] = PAIRS[r + 1]!;
    u = t;
  }
  if (u >= 10) {
    buf[p - 2] = PAIRS[u << 1]!;
    buf[p - 1] = PAIRS[(u << 1) + 1]!;
  } else buf[p - 1] = 0x30 + u;
  return end;
}

const HEX = ascii.encode('0123456789abcdef');

/** Lower-case hex of a 64-bit value, no leading zeros ("0" for zero). */
function writeHex64(buf: Uint8Array, q: number, lo: number, hi: number): number {
  if (hi !== 0) {
    q = writeHex(buf, q, hi, 8 - (Math.clz32(hi) >>> 2));
    return writeHex(buf, q, lo, 8);
  }
  return writeHex(buf, q, lo, lo === 0 ? 1 : 8 - (Math.clz32(lo) >>> 2));
}

/** The low `nd` hex digits of `v`. */
function writeHex(buf: Uint8Array, q: number, v: number, nd: number): number {
  for (let k = nd - 1; k >= 0; k--) {
    buf[q + k] = HEX[v & 15]!;
    v >>>= 4;
  }
  return q + nd;
}
