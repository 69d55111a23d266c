import {
  AtomicFile
} from "./chunk-XWEEP4RX.js";
import {
  IMAGE_SCHEMAS,
  decodeMessage,
  decodeToJsonText,
  entryLength,
  formatFlags,
  messageToJson,
  quoteJson,
  readFraming,
  schemaForEntry,
  stringifyJson
} from "./chunk-5F5SDADC.js";
import {
  cliStreams,
  errnoText,
  readWholeFile
} from "./chunk-KQHSUXQF.js";
import {
  ArchiveError,
  ImageFormatError,
  OutputError,
  PagestackError,
  RawImageError,
  UsageError
} from "./chunk-XLWXTOJZ.js";

// src/cli/decode.ts
import { writeSync } from "node:fs";

// src/image/pagemap-json.ts
var CHUNK = 1 << 20;
var TWO32 = 4294967296;
var ascii = new TextEncoder();
var EXPECTED = [
  [1, "vaddr", "uint64", { hex: true }],
  [2, "compat_nr_pages", "uint32", {}],
  [3, "in_parent", "bool", {}],
  [4, "flags", "uint32", { flags: "pmap.flags" }],
  [5, "nr_pages", "uint64", {}]
];
var DISPLAY = ["hex", "flags", "dev", "odev", "dict", "conv", "ipadd"];
var layoutOk;
function pagemapLayoutMatchesSchema() {
  if (layoutOk !== void 0) return layoutOk;
  const s = IMAGE_SCHEMAS["PAGEMAP"];
  const entry = s?.entry;
  layoutOk = s?.head !== void 0 && entry !== void 0 && entry.fields.length === EXPECTED.length && EXPECTED.every(([no, name, type, display], i) => {
    const f = entry.fields[i];
    return f.no === no && f.name === name && f.type === type && f.label !== "repeated" && DISPLAY.every((k) => f[k] === display[k]);
  });
  return layoutOk;
}
function decodeToJsonChunks(buf, pretty) {
  const { magic, start } = readFraming(buf);
  if (magic !== "PAGEMAP" || !pagemapLayoutMatchesSchema()) {
    return [ascii.encode(decodeToJsonText(buf, pretty))];
  }
  const chunks = [];
  new PagemapJsonWriter(buf, start, pretty, false).run((c) => chunks.push(c));
  return chunks;
}
function emitJsonChunks(buf, pretty, emit) {
  const { magic, start } = readFraming(buf);
  if (magic !== "PAGEMAP" || !pagemapLayoutMatchesSchema()) {
    emit(ascii.encode(decodeToJsonText(buf, pretty)));
    return;
  }
  new PagemapJsonWriter(buf, start, pretty, true).run(emit);
}
var IND_ENTRY = "        ";
var IND_FIELD = "            ";
var NAMES = EXPECTED.map(([, name]) => `${quoteJson(name)}: `);
function fieldSep(first, pretty) {
  if (pretty) return first ? `
${IND_FIELD}` : `,
${IND_FIELD}`;
  return first ? "" : ", ";
}
function heads(pretty) {
  const out = [];
  for (const v of [false, true]) {
    for (const firstEntry of [true, false]) {
      const sep = pretty ? firstEntry ? `
${IND_ENTRY}` : `,
${IND_ENTRY}` : firstEntry ? "" : ", ";
      const key = v ? `${fieldSep(true, pretty)}${NAMES[0]}${pretty ? '"0x' : ""}` : "";
      out.push(ascii.encode(`${sep}{${key}`));
    }
  }
  return out;
}
var HEADS_PLAIN = heads(false);
var HEADS_PRETTY = heads(true);
var CLOSE_PLAIN = ascii.encode("}");
var CLOSE_PRETTY = ascii.encode(`
${IND_ENTRY}}`);
function middleText(have, compat, inParent, flags, pretty) {
  let t = "";
  let first = true;
  if (have & 2) {
    if (pretty) t += '"';
    first = false;
  }
  const field = (f, value) => {
    if ((have & 1 << f) === 0) return;
    t += `${fieldSep(first, pretty)}${NAMES[f - 1]}${value}`;
    first = false;
  };
  field(2, String(compat));
  field(3, inParent ? "true" : "false");
  field(4, pretty ? quoteJson(formatFlags(flags, "pmap.flags")) : String(flags));
  if (have & 32) t += `${fieldSep(first, pretty)}${NAMES[4]}`;
  else t += have === 0 ? "}" : pretty ? `
${IND_ENTRY}}` : "}";
  return t;
}
var middles = [/* @__PURE__ */ new Map(), /* @__PURE__ */ new Map()];
function middle(have, compat, inParent, flags, pretty) {
  if (compat >= 65536 || flags >= 65536) {
    return ascii.encode(middleText(have, compat, inParent, flags, pretty));
  }
  const key = ((compat * 65536 + flags) * 2 + (inParent ? 1 : 0)) * 64 + have;
  const cache = middles[pretty ? 1 : 0];
  let m = cache.get(key);
  if (m === void 0) {
    m = ascii.encode(middleText(have, compat, inParent, flags, pretty));
    if (cache.size < 4096) cache.set(key, m);
  }
  return m;
}
function copy(buf, q, src) {
  for (let k = 0; k < src.length; k++) buf[q++] = src[k];
  return q;
}
function genericEntry(b, s, e, i, pretty) {
  const schema = schemaForEntry("PAGEMAP", i);
  const msg = decodeMessage(schema, b, s, e, 0);
  return stringifyJson(messageToJson(schema, msg, pretty), pretty, pretty ? IND_ENTRY : "");
}
var Fields = class {
  /** Bit f set: field f present. */
  have = 0;
  vLo = 0;
  vHi = 0;
  compat = 0;
  inParent = false;
  flags = 0;
  nLo = 0;
  nHi = 0;
};
function readFields(b, p, e, f) {
  while (p < e) {
    const key = b[p];
    const no = key >>> 3;
    if ((key & 7) !== 0 || no === 0 || no > 5 || (f.have & 1 << no) !== 0) return false;
    f.have |= 1 << no;
    p++;
    let l = 0;
    let h = 0;
    for (let shift = 0; ; shift += 7) {
      if (p >= e || shift > 63) return false;
      const x = b[p++];
      if (shift < 28) l |= (x & 127) << shift;
      else if (shift === 28) {
        l |= (x & 15) << 28;
        h = (x & 127) >>> 4;
      } else h |= (x & 127) << shift - 32;
      if (x < 128) {
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
function tailText(f, pretty) {
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
function toWords(b) {
  const padded = new Uint8Array(b.length + 3 & ~3);
  padded.set(b);
  const dv = new DataView(padded.buffer);
  const w = new Int32Array(padded.length >> 2);
  for (let k = 0; k < w.length; k++) w[k] = dv.getInt32(4 * k, true);
  return w;
}
var EARLY_FLUSH = 256;
var CHUNK_ROOM = 512;
var TAIL_SLOTS = 16384;
var TAIL_SHIFT = 18;
var PagemapJsonWriter = class {
  constructor(b, start, pretty, reuse) {
    this.b = b;
    this.start = start;
    this.pretty = pretty;
    this.reuse = reuse;
    this.HEADS = pretty ? HEADS_PRETTY : HEADS_PLAIN;
    this.CLOSE = pretty ? CLOSE_PRETTY : CLOSE_PLAIN;
    this.headWords = toWords(this.HEADS[3]);
  }
  b;
  start;
  pretty;
  reuse;
  HEADS;
  CLOSE;
  f = new Fields();
  // Direct-mapped cache of the text after the vaddr value (see tailText), keyed by the bytes after
  // the vaddr varint (up to 8 of them: their count and two 32-bit halves); texts in one pool.
  tailKeyLo = new Int32Array(TAIL_SLOTS);
  tailKeyHi = new Int32Array(TAIL_SLOTS);
  tailKeyLen = new Int32Array(TAIL_SLOTS).fill(-1);
  /** Start of slot's text in `pool`, or -1: entries with those bytes take the general path. */
  tailAt = new Int32Array(TAIL_SLOTS);
  tailLen = new Int32Array(TAIL_SLOTS);
  /** The cached texts as little-endian 32-bit words (each text starts at a word), zero-padded. */
  pool = new Int32Array(64 * 1024);
  poolEnd = 0;
  /** HEADS[3] (the usual entry head) as words, and its length in bytes. */
  headWords;
  run(emit) {
    let buf = new Uint8Array(CHUNK);
    let dv = new DataView(buf.buffer);
    let q = 0;
    const flush = () => {
      if (q > 0) emit(buf.subarray(0, q));
      if (!this.reuse) {
        buf = new Uint8Array(CHUNK);
        dv = new DataView(buf.buffer);
      }
      q = 0;
    };
    const put = (t) => {
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
        pretty ? '{\n    "magic": "PAGEMAP",\n    "entries": [' : '{"magic": "PAGEMAP", "entries": ['
      )
    );
    const b = this.b;
    const n = b.length;
    const headWords = this.headWords;
    const headLen = this.HEADS[3].length;
    const headN = headWords.length;
    const { tailKeyLo, tailKeyHi, tailKeyLen, tailAt, tailLen, HEADS, CLOSE, f } = this;
    const limit = CHUNK - CHUNK_ROOM;
    let off = this.start;
    let i = 0;
    const reuse = this.reuse;
    for (; off < n; i++) {
      if (q > limit || i === EARLY_FLUSH) {
        emit(buf.subarray(0, q));
        if (!reuse) {
          buf = new Uint8Array(CHUNK);
          dv = new DataView(buf.buffer);
        }
        q = 0;
      }
      const s = off + 4;
      const e = s + entryLength(b, off, i);
      off = e;
      if (i === 0) {
        put(ascii.encode(`${pretty ? `
${IND_ENTRY}` : ""}${genericEntry(b, s, e, i, pretty)}`));
        continue;
      }
      if (b[s] === 8) {
        let p = s + 1;
        let x = b[p++];
        let lo = x & 127;
        let hi = 0;
        if (x >= 128) {
          for (let shift = 7; ; shift += 7) {
            if (shift > 63) {
              x = 128;
              break;
            }
            x = b[p++];
            if (shift < 28) lo |= (x & 127) << shift;
            else if (shift === 28) {
              lo |= (x & 15) << 28;
              hi = (x & 127) >>> 4;
            } else hi |= (x & 127) << shift - 32;
            if (!(x >= 128)) {
              if (shift === 63 && x > 1) x = 128;
              break;
            }
          }
        }
        const tl = e - p;
        if (!(x >= 128) && tl >= 0 && tl <= 8) {
          let keyLo = 0;
          let keyHi = 0;
          let j = p;
          for (const e4 = p + Math.min(tl, 4); j < e4; j++) keyLo = keyLo << 8 | b[j];
          for (; j < e; j++) keyHi = keyHi << 8 | b[j];
          const slot = Math.imul(keyLo ^ Math.imul(keyHi + tl, 2246822507), 2654435761) >>> TAIL_SHIFT;
          if (tailKeyHi[slot] !== keyHi || tailKeyLo[slot] !== keyLo || tailKeyLen[slot] !== tl) {
            this.cacheTail(slot, keyLo, keyHi, tl, p, e);
          }
          const at = tailAt[slot];
          if (at >= 0) {
            for (let k = 0; k < headN; k++) dv.setInt32(q + 4 * k, headWords[k], true);
            q += headLen;
            q = pretty ? writeHex64(buf, q, lo >>> 0, hi >>> 0) : hi > 0 && hi < 2097152 ? writeDecimalWords(dv, q, hi * TWO32 + lo + (lo < 0 ? TWO32 : 0)) : writeU64(buf, q, lo >>> 0, hi >>> 0);
            const pool = this.pool;
            const len = tailLen[slot];
            for (let k = 0, w = at; k < len; k += 4, w++) dv.setInt32(q + k, pool[w], true);
            q += len;
            continue;
          }
        }
      }
      f.have = 0;
      if (!readFields(b, s, e, f)) {
        put(ascii.encode(`${pretty ? `,
${IND_ENTRY}` : ", "}${genericEntry(b, s, e, i, pretty)}`));
        continue;
      }
      const have = f.have;
      q = copy(buf, q, HEADS[1 + (have & 2)]);
      if (have === 0) {
        buf[q++] = 125;
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
    put(ascii.encode(pretty ? i === 0 ? "]\n}" : "\n    ]\n}" : "]}"));
    flush();
  }
  /** Fills tail cache slot `slot` for the entry bytes b[p, e) after a vaddr. */
  cacheTail(slot, keyLo, keyHi, tl, p, e) {
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
      this.tailKeyLen.fill(-1);
      this.tailKeyLen[slot] = tl;
      this.poolEnd = 0;
    }
    this.pool.set(t, this.poolEnd);
    this.tailAt[slot] = this.poolEnd;
    this.tailLen[slot] = text.length;
    this.poolEnd += t.length;
  }
};
function writeU64(buf, q, lo, hi) {
  if (hi === 0) return writeU32(buf, q, lo);
  if (hi < 2097152) return writeDecimal(buf, q, hi * TWO32 + lo);
  const t = (BigInt(hi) << 32n | BigInt(lo)).toString();
  for (let k = 0; k < t.length; k++) buf[q++] = t.charCodeAt(k);
  return q;
}
var PAIRS = ascii.encode(Array.from({ length: 100 }, (_, k) => String(k).padStart(2, "0")).join(""));
var lastTop = -1;
var lastTopLen = 0;
var lastTopDigits = new Uint8Array(10);
var DIGITS4 = (() => {
  const w = new Int32Array(1e4);
  for (let k = 0; k < 1e4; k++) {
    const t = String(k).padStart(4, "0");
    w[k] = t.charCodeAt(0) | t.charCodeAt(1) << 8 | t.charCodeAt(2) << 16 | t.charCodeAt(3) << 24;
  }
  return w;
})();
var lastTopW = -1;
var lastTopWLen = 0;
var lastTopW0 = 0;
var lastTopW1 = 0;
var lastTopW2 = 0;
function writeDecimalWords(dv, q, v) {
  const top = Math.floor(v / 1e8);
  if (top !== lastTopW) {
    let t = String(top);
    lastTopW = top;
    lastTopWLen = t.length;
    t = t.padEnd(12, "0");
    const word = (k) => t.charCodeAt(k) | t.charCodeAt(k + 1) << 8 | t.charCodeAt(k + 2) << 16 | t.charCodeAt(k + 3) << 24;
    lastTopW0 = word(0);
    lastTopW1 = word(4);
    lastTopW2 = word(8);
  }
  dv.setInt32(q, lastTopW0, true);
  dv.setInt32(q + 4, lastTopW1, true);
  if (lastTopWLen > 8) dv.setInt32(q + 8, lastTopW2, true);
  q += lastTopWLen;
  const low = v - top * 1e8;
  const h = low / 1e4 >>> 0;
  dv.setInt32(q, DIGITS4[h], true);
  dv.setInt32(q + 4, DIGITS4[low - h * 1e4], true);
  return q + 8;
}
function writeDecimal(buf, q, v) {
  if (v < TWO32) return writeU32(buf, q, v >>> 0);
  const top = Math.floor(v / 1e8);
  if (top === lastTop) {
    for (let k = 0; k < lastTopLen; k++) buf[q + k] = lastTopDigits[k];
    q += lastTopLen;
  } else {
    const e = writeU32(buf, q, top);
    lastTop = top;
    lastTopLen = e - q;
    for (let k = 0; k < lastTopLen; k++) lastTopDigits[k] = buf[q + k];
    q = e;
  }
  let low = v - top * 1e8 >>> 0;
  for (let p = q + 6; p >= q; p -= 2) {
    const t = low / 100 >>> 0;
    const r = low - t * 100 << 1;
    buf[p] = PAIRS[r];
    buf[p + 1] = PAIRS[r + 1];
    low = t;
  }
  return q + 8;
}
function writeU32(buf, q, u) {
  if (u < 10) {
    buf[q] = 48 + u;
    return q + 1;
  }
  const end = q + (u < 100 ? 2 : u < 1e3 ? 3 : u < 1e4 ? 4 : u < 1e5 ? 5 : u < 1e6 ? 6 : u < 1e7 ? 7 : u < 1e8 ? 8 : u < 1e9 ? 9 : 10);
  let p = end;
  while (u >= 100) {
    const t = u / 100 >>> 0;
    const r = u - t * 100 << 1;
    p -= 2;
    buf[p] = PAIRS[r];
    buf[p + 1] = PAIRS[r + 1];
    u = t;
  }
  if (u >= 10) {
    buf[p - 2] = PAIRS[u << 1];
    buf[p - 1] = PAIRS[(u << 1) + 1];
  } else buf[p - 1] = 48 + u;
  return end;
}
var HEX = ascii.encode("0123456789abcdef");
function writeHex64(buf, q, lo, hi) {
  if (hi !== 0) {
    q = writeHex(buf, q, hi, 8 - (Math.clz32(hi) >>> 2));
    return writeHex(buf, q, lo, 8);
  }
  return writeHex(buf, q, lo, lo === 0 ? 1 : 8 - (Math.clz32(lo) >>> 2));
}
function writeHex(buf, q, v, nd) {
  for (let k = nd - 1; k >= 0; k--) {
    buf[q + k] = HEX[v & 15];
    v >>>= 4;
  }
  return q + nd;
}

// src/cli/decode.ts
var NEWLINE = new Uint8Array([10]);
function archiveKind(buf) {
  const at = (off, ...bytes) => bytes.every((b, i) => buf[off + i] === b);
  if (buf.length >= 262 && at(257, 117, 115, 116, 97, 114)) return "tar";
  if (at(0, 31, 139)) return "gzip";
  if (at(0, 40, 181, 47, 253)) return "zstd";
  if (at(0, 253, 55, 122, 88, 90)) return "xz";
  return null;
}
function registerDecode(program) {
  program.command("decode").description("decode a CRIU image file to JSON (crit layout)").argument("<file>", "image file, e.g. pagemap-1234.img, or a checkpoint archive").argument("[member]", "with an archive: the image in it, e.g. pstree.img").option("--pretty", "indent, show addresses in hex and flags by name (as crit --pretty)").option("-o, --output <out>", "write the JSON here instead of stdout").action(async (path, member, opts) => {
    let buf;
    let file = path;
    if (member === void 0) buf = await readWholeFile(path);
    else {
      const { openArchiveSource } = await import("./archive-RV2X7HGH.js");
      const src = await openArchiveSource(path);
      try {
        const inDir = await src.readFile(member);
        const found = inDir ?? await src.archive.readMember(member);
        if (!found) {
          throw new ArchiveError(
            `${path}: no member "${member}" (looked in "${src.dir || "."}/" and at the root)`
          );
        }
        buf = found;
        file = inDir ? `${src.name}/${member}` : `${path}:${member}`;
      } finally {
        await src.close();
      }
    }
    const pretty = opts.pretty === true;
    const named = (e) => {
      if (e instanceof RawImageError || /(^|\/)pages-[^/]*\.img$/.test(file) && e instanceof ImageFormatError) {
        return new ImageFormatError(
          "holds raw memory pages, not a protobuf image; read memory with `pagestack read DIR ADDR LEN` (or `pagestack export`)",
          0,
          file
        );
      }
      if (e instanceof ImageFormatError && member === void 0) {
        const kind = archiveKind(buf);
        if (kind) {
          return new UsageError(
            `${file}: a checkpoint archive (${kind}), not an image: name the image in it, e.g. \`pagestack decode ${file} pstree.img\``
          );
        }
      }
      if (e instanceof ImageFormatError) return e.withFile(file);
      return e;
    };
    if (opts.output) {
      const out = await AtomicFile.create(opts.output, { durable: false });
      const fd = out.fh.fd;
      const write = (c) => {
        for (let at = 0; at < c.length; ) at += writeSync(fd, c, at, c.length - at);
      };
      try {
        emitJsonChunks(buf, pretty, write);
      } catch (e) {
        await out.abort();
        const n = named(e);
        if (n instanceof PagestackError) throw n;
        throw new OutputError(`${opts.output}: cannot write: ${errnoText(n)}`, "PAGESTACK_OUTPUT", {
          file: opts.output
        });
      }
      await out.commit();
      return;
    }
    let chunks;
    try {
      chunks = decodeToJsonChunks(buf, pretty);
    } catch (e) {
      throw named(e);
    }
    chunks.push(NEWLINE);
    for (const c of chunks) cliStreams().stdout(c);
  });
}
export {
  registerDecode
};
