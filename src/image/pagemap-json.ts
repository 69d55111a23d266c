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

/**
 * crit JSON of an image as ASCII bytes, in chunks: the same bytes as
 * `new TextEncoder().encode(decodeToJsonText(buf, pretty))`, and the same errors.
 */
export function decodeToJsonChunks(buf: Uint8Array, pretty: boolean): Uint8Array[] {
  const { magic, start } = readFraming(buf);
  if (magic !== 'PAGEMAP' || !pagemapLayoutMatchesSchema()) {
    return [ascii.encode(decodeToJsonText(buf, pretty))];
  }
  const chunks: Uint8Array[] = [];
  new PagemapJsonWriter(buf, start, pretty, false).run((c) => chunks.push(c));
  return chunks;
}

/**
 * The same bytes as `decodeToJsonChunks`, handed to `emit` a chunk at a time as they are made;
 * each chunk is only valid during its call (one buffer is refilled, which stays in the CPU cache).
 * An error (a bad entry) is thrown after the chunks before it were emitted.
 */
export function emitJsonChunks(buf: Uint8Array, pretty: boolean, emit: (chunk: Uint8Array) => void): void {
  const { magic, start } = readFraming(buf);
  if (magic !== 'PAGEMAP' || !pagemapLayoutMatchesSchema()) {
    emit(ascii.encode(decodeToJsonText(buf, pretty)));
    return;
  }
  new PagemapJsonWriter(buf, start, pretty, true).run(emit);
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

/** `b` as little-endian 32-bit words, the last one zero-padded. */
function toWords(b: Uint8Array): Int32Array {
  const padded = new Uint8Array((b.length + 3) & ~3);
  padded.set(b);
  const dv = new DataView(padded.buffer);
  const w = new Int32Array(padded.length >> 2);
  for (let k = 0; k < w.length; k++) w[k] = dv.getInt32(4 * k, true);
  return w;
}

/** The first chunk is handed over after this many entries (see run). */
const EARLY_FLUSH = 256;
const CHUNK_ROOM = 512; // an entry of the quick or fields-1..5 forms takes less than 400 bytes
const TAIL_SLOTS = 16384;
const TAIL_SHIFT = 18; // 32 - log2(TAIL_SLOTS): the top bits of a multiplicative hash

/**
 * The pagemap writer: `run(emit)` writes the text into a buffer of about 1 MiB and emits it each
 * time it is full. With `reuse`, the same buffer is refilled (it stays in the CPU cache; `emit`
 * must be done with a chunk when it returns); otherwise each chunk is a new buffer the caller may
 * keep. All entries go through one loop in one call: a loop left and re-entered per chunk kept
 * deoptimising at its exit (optimised by on-stack replacement before the exit ever ran).
 */
class PagemapJsonWriter {
  private readonly HEADS: Uint8Array[];
  private readonly CLOSE: Uint8Array;
  private readonly f = new Fields();
  // Direct-mapped cache of the text after the vaddr value (see tailText), keyed by the bytes after
  // the vaddr varint (up to 8 of them: their count and two 32-bit halves); texts in one pool.
  private readonly tailKeyLo = new Int32Array(TAIL_SLOTS);
  private readonly tailKeyHi = new Int32Array(TAIL_SLOTS);
  private readonly tailKeyLen = new Int32Array(TAIL_SLOTS).fill(-1);
  /** Start of slot's text in `pool`, or -1: entries with those bytes take the general path. */
  private readonly tailAt = new Int32Array(TAIL_SLOTS);
  private readonly tailLen = new Int32Array(TAIL_SLOTS);
  /** The cached texts as little-endian 32-bit words (each text starts at a word), zero-padded. */
  private pool = new Int32Array(64 * 1024);
  private poolEnd = 0;
  /** HEADS[3] (the usual entry head) as words, and its length in bytes. */
  private readonly headWords: Int32Array;

  constructor(
    private readonly b: Uint8Array,
    private readonly start: number,
    private readonly pretty: boolean,
    private readonly reuse: boolean,
  ) {
    this.HEADS = pretty ? HEADS_PRETTY : HEADS_PLAIN;
    this.CLOSE = pretty ? CLOSE_PRETTY : CLOSE_PLAIN;
    this.headWords = toWords(this.HEADS[3]!);
  }

  run(emit: (chunk: Uint8Array) => void): void {
    let buf = new Uint8Array(CHUNK);
    let dv = new DataView(buf.buffer);
    let q = 0;
    /** Hands the text so far to `emit` and starts a buffer (the same one, with `reuse`). */
    const flush = (): void => {
      if (q > 0) emit(buf.subarray(0, q));
      if (!this.reuse) {
        buf = new Uint8Array(CHUNK);
        dv = new DataView(buf.buffer);
      }
      q = 0;
    };
    /** Writes text made the slow way (generic-path entries, the head), of any length. */
    const put = (t: Uint8Array): void => {
      if (t.length > buf.length - CHUNK_ROOM - q) {
        flush();
        if (t.length > buf.length - CHUNK_ROOM) {
          emit(t);
          return;
        }
      }
      buf.set(t, q);
      q += t.length;
    };
    const pretty = this.pretty;
    put(
      ascii.encode(
        pretty ? '{\n    "magic": "PAGEMAP",\n    "entries": [' : '{"magic": "PAGEMAP", "entries": [',
      ),
    );
    const b = this.b;
    const n = b.length;
    // Cached texts are copied 4 bytes at a time through a DataView (unaligned stores, inlined by
    // the JIT; byte-at-a-time copies were most of the time). The last word may write up to 3 bytes
    // past the text: they are overwritten next, and CHUNK_ROOM keeps them inside the buffer.
    const headWords = this.headWords;
    const headLen = this.HEADS[3]!.length;
    const headN = headWords.length;
    const { tailKeyLo, tailKeyHi, tailKeyLen, tailAt, tailLen, HEADS, CLOSE, f } = this;
    const limit = CHUNK - CHUNK_ROOM;
    let off = this.start;
    let i = 0;
    // JIT: the loop below is compiled while it runs (on-stack replacement), from what it has seen
    // so far; a call or a field it first meets later throws that code away and the loop goes on
    // in the interpreter until it is compiled again (measured: three such rounds, ~90 ms of 1M
    // entries' ~200 ms). So the rare paths' inputs are hoisted into locals above, the chunk
    // hand-over is written out here (a closure called once has no feedback of its own yet) and
    // also runs early, at entry EARLY_FLUSH (the function's feedback is only collected once it
    // has run a little: V8 allocates it lazily), and no arithmetic changes representation midway.
    const reuse = this.reuse;
    for (; off < n; i++) {
      if (q > limit || i === EARLY_FLUSH) {
        // what flush() does (q > 0: the head is in)
        emit(buf.subarray(0, q));
        if (!reuse) {
          buf = new Uint8Array(CHUNK);
          dv = new DataView(buf.buffer);
        }
        q = 0;
      }
      // the same framing checks, in the same order, as forEachEntry in the generic path
      const s = off + 4;
      const e = s + entryLength(b, off, i);
      off = e;
      if (i === 0) {
        // the pagemap_head
        put(ascii.encode(`${pretty ? `\n${IND_ENTRY}` : ''}${genericEntry(b, s, e, i, pretty)}`));
        continue;
      }

      // Quick path, what CRIU writes: vaddr first, then a few bytes (<= 6) that repeat from entry
      // to entry; their text is cached by those bytes.
      if (b[s] === 0x08) {
        let p = s + 1;
        let x = b[p++]!;
        let lo = x & 0x7f;
        let hi = 0;
        if (x >= 0x80) {
          // at most 10 bytes; reading past `e` is caught by the `tl >= 0` check below
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
        if (!(x >= 0x80) && tl >= 0 && tl <= 8) {
          // key: the count, the first 4 bytes in keyLo, the rest in keyHi
          let keyLo = 0;
          let keyHi = 0;
          let j = p;
          for (const e4 = p + Math.min(tl, 4); j < e4; j++) keyLo = (keyLo << 8) | b[j]!;
          for (; j < e; j++) keyHi = (keyHi << 8) | b[j]!;
          const slot = Math.imul(keyLo ^ Math.imul(keyHi + tl, 0x85ebca6b), 0x9e3779b1) >>> TAIL_SHIFT;
          if (tailKeyHi[slot] !== keyHi || tailKeyLo[slot] !== keyLo || tailKeyLen[slot] !== tl) {
            this.cacheTail(slot, keyLo, keyHi, tl, p, e);
          }
          const at = tailAt[slot]!;
          if (at >= 0) {
            for (let k = 0; k < headN; k++) dv.setInt32(q + 4 * k, headWords[k]!, true);
            q += headLen;
            q = pretty
              ? writeHex64(buf, q, lo >>> 0, hi >>> 0)
              : hi > 0 && hi < 0x200000 // (hi is signed here: a negative one is >= 2^31)
                ? writeDecimalWords(dv, q, hi * TWO32 + lo + (lo < 0 ? TWO32 : 0))
                : writeU64(buf, q, lo >>> 0, hi >>> 0);
            const pool = this.pool;
            const len = tailLen[slot]!;
            for (let k = 0, w = at; k < len; k += 4, w++) dv.setInt32(q + k, pool[w]!, true);
            q += len;
            continue;
          }
        }
      }

      // Any other entry of fields 1..5
      f.have = 0;
      if (!readFields(b, s, e, f)) {
        // the generic way: prints odd entries as the generic path does, throws its errors for bad ones
        put(ascii.encode(`${pretty ? `,\n${IND_ENTRY}` : ', '}${genericEntry(b, s, e, i, pretty)}`));
        continue;
      }
      const have = f.have;
      q = copy(buf, q, HEADS[1 + (have & 2)]!);
      if (have === 0) {
        buf[q++] = 0x7d; // {}
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
    }
    put(ascii.encode(pretty ? (i === 0 ? ']\n}' : '\n    ]\n}') : ']}'));
    flush();
  }

  /** Fills tail cache slot `slot` for the entry bytes b[p, e) after a vaddr. */
  private cacheTail(slot: number, keyLo: number, keyHi: number, tl: number, p: number, e: number): void {
    this.tailKeyLo[slot] = keyLo;
    this.tailKeyHi[slot] = keyHi;
    this.tailKeyLen[slot] = tl;
    const f = this.f;
    f.have = 2;
    if (!readFields(this.b, p, e, f)) {
      this.tailAt[slot] = -1;
      return;
    }
    const text = tailText(f, this.pretty);
    const t = toWords(text);
    if (this.poolEnd + t.length > this.pool.length) {
      // the pool holds at most TAIL_SLOTS live texts; start over when full (slots are refilled)
      this.tailKeyLen.fill(-1);
      this.tailKeyLen[slot] = tl;
      this.poolEnd = 0;
    }
    this.pool.set(t, this.poolEnd);
    this.tailAt[slot] = this.poolEnd;
    this.tailLen[slot] = text.length;
    this.poolEnd += t.length;
  }
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

/** "0000".."9999" as little-endian 32-bit words of 4 ASCII digits. */
const DIGITS4 = (() => {
  const w = new Int32Array(10000);
  for (let k = 0; k < 10000; k++) {
    const t = String(k).padStart(4, '0');
    w[k] = t.charCodeAt(0) | (t.charCodeAt(1) << 8) | (t.charCodeAt(2) << 16) | (t.charCodeAt(3) << 24);
  }
  return w;
})();

let lastTopW = -1;
let lastTopWLen = 0;
let lastTopW0 = 0;
let lastTopW1 = 0;
let lastTopW2 = 0;

/**
 * writeDecimal for 2^32 <= v < 2^53, a word at a time through `dv`; may write up to 11 bytes past
 * the digits (the caller has room there and overwrites them).
 */
function writeDecimalWords(dv: DataView, q: number, v: number): number {
  const top = Math.floor(v / 1e8); // < 2^27: at most 8 digits
  if (top !== lastTopW) {
    // digits of top, left-aligned in three words
    let t = String(top);
    lastTopW = top;
    lastTopWLen = t.length;
    t = t.padEnd(12, '0');
    const word = (k: number): number =>
      t.charCodeAt(k) |
      (t.charCodeAt(k + 1) << 8) |
      (t.charCodeAt(k + 2) << 16) |
      (t.charCodeAt(k + 3) << 24);
    lastTopW0 = word(0);
    lastTopW1 = word(4);
    lastTopW2 = word(8);
  }
  dv.setInt32(q, lastTopW0, true);
  dv.setInt32(q + 4, lastTopW1, true);
  if (lastTopWLen > 8) dv.setInt32(q + 8, lastTopW2, true);
  q += lastTopWLen;
  const low = v - top * 1e8;
  const h = (low / 10000) >>> 0;
  dv.setInt32(q, DIGITS4[h]!, true);
  dv.setInt32(q + 4, DIGITS4[low - h * 10000]!, true);
  return q + 8;
}

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
