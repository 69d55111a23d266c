import {
  ImageFormatError,
  ImageJsonError,
  RawImageError
} from "./chunk-XLWXTOJZ.js";

// src/image/wire.ts
var WIRE_VARINT = 0;
var WIRE_I64 = 1;
var WIRE_LEN = 2;
var WIRE_I32 = 5;
var TWO32 = 4294967296;
var WireReader = class {
  buf;
  pos;
  end;
  /** Offset of `buf[0]` within the whole image, for error messages. */
  base;
  constructor(buf, start = 0, end = buf.length, base = 0) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.base = base;
  }
  fail(detail, at = this.pos) {
    throw new ImageFormatError(detail, this.base + at);
  }
  /** High 32 bits of the last varint read by `varintParts`. */
  hi = 0;
  /**
   * Reads a varint of up to 64 bits without allocating: returns its low 32 bits (unsigned) and
   * leaves the high 32 bits in `this.hi`.
   */
  varintParts() {
    const b = this.buf;
    const end = this.end;
    const start = this.pos;
    let p = start;
    if (p < end && b[p] < 128) {
      this.pos = p + 1;
      this.hi = 0;
      return b[p];
    }
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (p >= end) this.fail("truncated varint: the message ends before its last byte", start);
      const x = b[p++];
      if (i < 4) lo |= (x & 127) << 7 * i;
      else if (i === 4) {
        lo |= (x & 15) << 28;
        hi = (x & 127) >> 4;
      } else hi |= (x & 127) << 3 + 7 * (i - 5);
      if (x < 128) {
        if (i === 9 && x > 1) this.fail("invalid varint: more than 64 bits", start);
        this.pos = p;
        this.hi = hi >>> 0;
        return lo >>> 0;
      }
    }
    return this.fail("invalid varint: longer than 10 bytes, expected at most 10", start);
  }
  /** A varint that must fit in 32 bits unsigned (keys, lengths). */
  uint32() {
    const start = this.pos;
    const lo = this.varintParts();
    if (this.hi !== 0) {
      this.fail(`varint value ${BigInt(this.hi) << 32n | BigInt(lo)} does not fit in 32 bits`, start);
    }
    return lo;
  }
  /** A full 64-bit varint, as an unsigned bigint. */
  varint64() {
    const lo = this.varintParts();
    const hi = this.hi;
    return hi < 2097152 ? BigInt(hi * TWO32 + lo) : BigInt(hi) << 32n | BigInt(lo);
  }
  /** A varint returned as a JS number when below 2^53, else as a bigint. */
  varintNumberOrBig() {
    const lo = this.varintParts();
    const hi = this.hi;
    return hi < 2097152 ? hi * TWO32 + lo : BigInt(hi) << 32n | BigInt(lo);
  }
  fixed32() {
    if (this.end - this.pos < 4)
      this.fail(`truncated fixed32: expected 4 bytes, ${this.end - this.pos} left`);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p] | b[p + 1] << 8 | b[p + 2] << 16 | b[p + 3] << 24) >>> 0;
  }
  fixed64() {
    if (this.end - this.pos < 8)
      this.fail(`truncated fixed64: expected 8 bytes, ${this.end - this.pos} left`);
    const lo = this.fixed32();
    const hi = this.fixed32();
    return BigInt(hi) << 32n | BigInt(lo);
  }
  /** A length-delimited payload: returns [start, end) within buf. */
  lengthDelimited() {
    const at = this.pos;
    const len = this.uint32();
    if (len > this.end - this.pos) {
      this.fail(`length ${len} runs past the end of the message (${this.end - this.pos} bytes left)`, at);
    }
    const s = this.pos;
    this.pos += len;
    return [s, this.pos];
  }
  /** Reads a field key; returns [fieldNumber, wireType]. */
  key() {
    const k = this.keyRaw();
    return [k >>> 3, k & 7];
  }
  /** Reads a field key, checked: field number `k >>> 3` (1 or more), wire type `k & 7` (0/1/2/5). */
  keyRaw() {
    const at = this.pos;
    const k = this.uint32();
    const wire = k & 7;
    const no = k >>> 3;
    if (no === 0) this.fail("invalid field number 0, expected 1 or more", at);
    if (wire !== 0 && wire !== 1 && wire !== 2 && wire !== 5) {
      this.fail(`invalid wire type ${wire} for field ${no}, expected 0, 1, 2 or 5`, at);
    }
    return k;
  }
  /** Skips the value of a field of the given wire type. */
  skip(wire) {
    switch (wire) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_I64:
        if (this.end - this.pos < 8)
          this.fail(`truncated fixed64: expected 8 bytes, ${this.end - this.pos} left`);
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_I32:
        if (this.end - this.pos < 4)
          this.fail(`truncated fixed32: expected 4 bytes, ${this.end - this.pos} left`);
        this.pos += 4;
        return;
    }
  }
};
var WireWriter = class _WireWriter {
  buf;
  pos = 0;
  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }
  ensure(n) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
  finish() {
    return this.buf.subarray(0, this.pos);
  }
  byte(b) {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  bytes(b) {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** Unsigned varint of a non-negative safe integer. */
  varint(v) {
    this.ensure(10);
    while (v >= 128) {
      this.buf[this.pos++] = v % 128 | 128;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  /** Unsigned varint of a 64-bit value (bigint in [0, 2^64)). */
  varint64(v) {
    if (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= 0n) {
      this.varint(Number(v));
      return;
    }
    this.ensure(10);
    v = BigInt.asUintN(64, v);
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 128;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }
  key(no, wire) {
    this.varint(no * 8 + wire);
  }
  fixed32(v) {
    this.ensure(4);
    v >>>= 0;
    this.buf[this.pos++] = v & 255;
    this.buf[this.pos++] = v >>> 8 & 255;
    this.buf[this.pos++] = v >>> 16 & 255;
    this.buf[this.pos++] = v >>> 24 & 255;
  }
  fixed64(v) {
    v = BigInt.asUintN(64, v);
    this.fixed32(Number(v & 0xffffffffn));
    this.fixed32(Number(v >> 32n));
  }
  /** Writes a length-delimited payload produced by `fill`. */
  lengthDelimited(fill) {
    const inner = new _WireWriter(64);
    fill(inner);
    const data = inner.finish();
    this.varint(data.length);
    this.bytes(data);
  }
};
function u32le(buf, off) {
  return (buf[off] | buf[off + 1] << 8 | buf[off + 2] << 16 | buf[off + 3] << 24) >>> 0;
}
function putU32le(buf, off, v) {
  buf[off] = v & 255;
  buf[off + 1] = v >>> 8 & 255;
  buf[off + 2] = v >>> 16 & 255;
  buf[off + 3] = v >>> 24 & 255;
}

// src/image/schema.ts
var UNKNOWN = "_unknown";
var RAW_MESSAGE = { name: "raw", fields: [] };
function message(name, fields) {
  const sorted = [...fields].sort((a, b) => a.no - b.no);
  return { name, fields: sorted };
}
var indexCache = /* @__PURE__ */ new WeakMap();
function indexOf(schema) {
  let idx = indexCache.get(schema);
  if (!idx) {
    idx = { byNo: /* @__PURE__ */ new Map(), byName: /* @__PURE__ */ new Map() };
    for (const f of schema.fields) {
      idx.byNo.set(f.no, f);
      idx.byName.set(f.name, f);
    }
    indexCache.set(schema, idx);
  }
  return idx;
}
function fieldByName(schema, name) {
  return indexOf(schema).byName.get(name);
}
function wireTypeOf(type) {
  switch (type) {
    case "fixed64":
    case "sfixed64":
    case "double":
      return WIRE_I64;
    case "fixed32":
    case "sfixed32":
    case "float":
      return WIRE_I32;
    case "string":
    case "bytes":
    case "message":
      return WIRE_LEN;
    default:
      return WIRE_VARINT;
  }
}
var utf8 = new TextDecoder("utf-8", { fatal: true });
var f32 = new DataView(new ArrayBuffer(8));
var MAX_DEPTH = 64;
function decodeMessage(schema, buf, start = 0, end = buf.length, base = 0, depth = 0) {
  if (depth > MAX_DEPTH) throw new ImageFormatError("messages nested too deep", base + start);
  const r = new WireReader(buf, start, end, base);
  const idx = indexOf(schema);
  const msg = {};
  while (r.pos < r.end) {
    const keyAt = r.pos;
    const k = r.keyRaw();
    const no = k >>> 3;
    const wire = k & 7;
    const field2 = idx.byNo.get(no);
    if (!field2) {
      const s = r.pos;
      r.skip(wire);
      let data = buf.subarray(s, r.pos);
      if (wire === WIRE_LEN) {
        const lr = new WireReader(buf, s, r.pos, base);
        const [ps, pe] = lr.lengthDelimited();
        data = buf.subarray(ps, pe);
      }
      let unknown = msg[UNKNOWN];
      if (!unknown) {
        unknown = [];
        msg[UNKNOWN] = unknown;
      }
      unknown.push({ no, wire, data });
      continue;
    }
    const expected = wireTypeOf(field2.type);
    if (field2.label === "repeated") {
      let arr = msg[field2.name];
      if (!arr) {
        arr = [];
        msg[field2.name] = arr;
      }
      if (wire === WIRE_LEN && expected !== WIRE_LEN) {
        const [ps, pe] = r.lengthDelimited();
        const pr = new WireReader(buf, ps, pe, base);
        while (pr.pos < pr.end) arr.push(readScalar(pr, field2));
        continue;
      }
      if (wire !== expected)
        r.fail(`field ${schema.name}.${field2.name}: wire type ${wire}, expected ${expected}`, keyAt);
      arr.push(readValue(r, field2, buf, base, depth));
    } else {
      if (wire !== expected)
        r.fail(`field ${schema.name}.${field2.name}: wire type ${wire}, expected ${expected}`, keyAt);
      msg[field2.name] = readValue(r, field2, buf, base, depth);
    }
  }
  return msg;
}
function readValue(r, field2, buf, base, depth) {
  if (field2.type === "message") {
    const [s, e] = r.lengthDelimited();
    const sub = field2.message ? field2.message() : RAW_MESSAGE;
    return decodeMessage(sub, buf, s, e, base, depth + 1);
  }
  return readScalar(r, field2);
}
function readScalar(r, field2) {
  switch (field2.type) {
    // 32-bit types keep the low 32 bits of the varint (as protobuf does), without bigints
    case "int32":
    case "enum":
      return r.varintParts() | 0;
    case "uint32":
      return r.varintParts();
    case "sint32": {
      const v = r.varintParts();
      return v >>> 1 ^ -(v & 1);
    }
    case "int64":
      return BigInt.asIntN(64, r.varint64());
    case "uint64":
      return r.varint64();
    case "sint64": {
      const v = r.varint64();
      return v >> 1n ^ -(v & 1n);
    }
    case "bool":
      return (r.varintParts() | r.hi) !== 0;
    case "fixed32":
      return r.fixed32();
    case "sfixed32":
      return r.fixed32() | 0;
    case "fixed64":
      return r.fixed64();
    case "sfixed64":
      return BigInt.asIntN(64, r.fixed64());
    case "float": {
      f32.setUint32(0, r.fixed32(), true);
      return f32.getFloat32(0, true);
    }
    case "double": {
      f32.setBigUint64(0, r.fixed64(), true);
      return f32.getFloat64(0, true);
    }
    case "string": {
      const at = r.pos;
      const [s, e] = r.lengthDelimited();
      try {
        return utf8.decode(r.buf.subarray(s, e));
      } catch {
        return r.fail(`field ${field2.name}: string is not valid UTF-8`, at);
      }
    }
    case "bytes": {
      const [s, e] = r.lengthDelimited();
      return r.buf.slice(s, e);
    }
    default:
      return r.fail(`field ${field2.name}: type ${field2.type} is not a scalar`);
  }
}
function encodeMessage(schema, msg) {
  const w = new WireWriter(128);
  writeMessage(w, schema, msg);
  return w.finish();
}
function writeMessage(w, schema, msg) {
  for (const field2 of schema.fields) {
    const v = msg[field2.name];
    if (v === void 0) continue;
    if (field2.label === "repeated") {
      const arr = v;
      if (field2.packed && field2.type !== "message" && field2.type !== "string" && field2.type !== "bytes") {
        if (arr.length === 0) continue;
        w.key(field2.no, WIRE_LEN);
        w.lengthDelimited((inner) => {
          for (const x of arr) writeScalar(inner, field2, x);
        });
      } else {
        for (const x of arr) writeField(w, field2, x);
      }
    } else {
      writeField(w, field2, v);
    }
  }
  const unknown = msg[UNKNOWN];
  if (unknown) {
    for (const u of unknown) {
      w.key(u.no, u.wire);
      if (u.wire === WIRE_LEN) w.varint(u.data.length);
      w.bytes(u.data);
    }
  }
}
function writeField(w, field2, v) {
  w.key(field2.no, wireTypeOf(field2.type));
  if (field2.type === "message") {
    const sub = field2.message ? field2.message() : RAW_MESSAGE;
    w.lengthDelimited((inner) => writeMessage(inner, sub, v));
    return;
  }
  writeScalar(w, field2, v);
}
var textEncoder = new TextEncoder();
function writeScalar(w, field2, v) {
  switch (field2.type) {
    case "int32":
    case "enum": {
      const n = v;
      if (n < 0) w.varint64(BigInt.asUintN(64, BigInt(n)));
      else w.varint(n);
      return;
    }
    case "uint32":
      w.varint(v >>> 0);
      return;
    case "sint32": {
      const n = v;
      w.varint((n << 1 ^ n >> 31) >>> 0);
      return;
    }
    case "int64":
    case "uint64":
      w.varint64(BigInt.asUintN(64, v));
      return;
    case "sint64": {
      const n = BigInt.asIntN(64, v);
      w.varint64(BigInt.asUintN(64, n << 1n ^ n >> 63n));
      return;
    }
    case "bool":
      w.varint(v ? 1 : 0);
      return;
    case "fixed32":
    case "sfixed32":
      w.fixed32(v);
      return;
    case "fixed64":
    case "sfixed64":
      w.fixed64(v);
      return;
    case "float":
      f32.setFloat32(0, v, true);
      w.fixed32(f32.getUint32(0, true));
      return;
    case "double":
      f32.setFloat64(0, v, true);
      w.fixed64(f32.getBigUint64(0, true));
      return;
    case "string": {
      const b = textEncoder.encode(v);
      w.varint(b.length);
      w.bytes(b);
      return;
    }
    case "bytes": {
      const b = v;
      w.varint(b.length);
      w.bytes(b);
      return;
    }
    default:
      throw new ImageJsonError(`type ${field2.type} is not a scalar`, field2.name);
  }
}
function isSixtyFourBit(type) {
  return type === "int64" || type === "uint64" || type === "sint64" || type === "fixed64" || type === "sfixed64";
}

// src/image/crit-json.ts
var FLAG_TABLES = {
  "mmap.prot": [
    ["PROT_READ", 1],
    ["PROT_WRITE", 2],
    ["PROT_EXEC", 4]
  ],
  "mmap.flags": [
    ["MAP_SHARED", 1],
    ["MAP_PRIVATE", 2],
    ["MAP_DROPPABLE", 8],
    ["MAP_ANON", 32],
    ["MAP_GROWSDOWN", 256]
  ],
  "mmap.status": [
    ["VMA_AREA_NONE", 0],
    ["VMA_AREA_REGULAR", 1 << 0],
    ["VMA_AREA_STACK", 1 << 1],
    ["VMA_AREA_VSYSCALL", 1 << 2],
    ["VMA_AREA_VDSO", 1 << 3],
    ["VMA_AREA_HEAP", 1 << 5],
    ["VMA_FILE_PRIVATE", 1 << 6],
    ["VMA_FILE_SHARED", 1 << 7],
    ["VMA_ANON_SHARED", 1 << 8],
    ["VMA_ANON_PRIVATE", 1 << 9],
    ["VMA_AREA_SYSVIPC", 1 << 10],
    ["VMA_AREA_SOCKET", 1 << 11],
    ["VMA_AREA_VVAR", 1 << 12],
    ["VMA_AREA_AIORING", 1 << 13],
    ["VMA_AREA_MEMFD", 1 << 14],
    ["VMA_AREA_SHSTK", 1 << 15],
    ["VMA_AREA_UPROBES", 1 << 17],
    ["VMA_UNSUPP", 2 ** 31]
  ],
  "rfile.flags": [
    ["O_WRONLY", 1],
    ["O_RDWR", 2],
    ["O_CREAT", 64],
    ["O_EXCL", 128],
    ["O_NOCTTY", 256],
    ["O_TRUNC", 512],
    ["O_APPEND", 1024],
    ["O_NONBLOCK", 2048],
    ["O_DSYNC", 4096],
    ["FASYNC", 8192],
    ["O_DIRECT", 16384],
    ["O_LARGEFILE", 32768],
    ["O_DIRECTORY", 65536],
    ["O_NOFOLLOW", 131072],
    ["O_NOATIME", 262144],
    ["O_CLOEXEC", 524288]
  ],
  "pmap.flags": [
    ["PE_PARENT", 1],
    ["PE_LAZY", 2],
    ["PE_PRESENT", 4]
  ],
  "seals.flags": [
    ["F_SEAL_SEAL", 1],
    ["F_SEAL_SHRINK", 2],
    ["F_SEAL_GROW", 4],
    ["F_SEAL_WRITE", 8],
    ["F_SEAL_FUTURE_WRITE", 16]
  ]
};
var DICT_TABLES = {
  gen: { task_state: { 1: "Alive", 3: "Zombie", 6: "Stopped" } },
  sk: {
    family: { 1: "UNIX", 2: "INET", 10: "INET6", 16: "NETLINK", 17: "PACKET" },
    type: { 1: "STREAM", 2: "DGRAM", 3: "RAW", 5: "SEQPACKET", 10: "PACKET" },
    state: {
      1: "ESTABLISHED",
      2: "SYN_SENT",
      3: "SYN_RECV",
      4: "FIN_WAIT1",
      5: "FIN_WAIT2",
      6: "TIME_WAIT",
      7: "CLOSE",
      8: "CLOSE_WAIT",
      9: "LAST_ACK",
      10: "LISTEN"
    },
    proto: { 0: "IP", 6: "TCP", 17: "UDP", 136: "UDPLITE" }
  }
};
function formatFlags(value, table) {
  const t = FLAG_TABLES[table];
  let rest = BigInt(value);
  if (!t) return `0x${rest.toString(16)}`;
  const names = [];
  let all = 0n;
  for (const [name, bit] of t) {
    const b = BigInt(bit);
    all |= b;
    if (BigInt(value) & b) names.push(name);
  }
  rest &= ~all;
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.join(" | ");
}
function parseFlags(text, table, path) {
  if (text === "") return 0n;
  const t = FLAG_TABLES[table];
  let v = 0n;
  for (const part of text.split("|").map((s) => s.trim())) {
    const known = t?.find(([n]) => n === part);
    if (known) v += BigInt(known[1]);
    else v += parseIntLiteral(part, path);
  }
  return v;
}
function parseIntLiteral(s, path) {
  const t = s.trim().replace(/_/g, "");
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0|[1-9][0-9]*)$/.exec(t);
  if (!m) throw new ImageJsonError(`expected an integer, got ${JSON.stringify(s)}`, path);
  const body = m[2];
  const v = BigInt(/^0[oO]/.test(body) ? `0o${body.slice(2)}` : body);
  return m[1] === "-" ? -v : v;
}
var B64 = new TextEncoder().encode("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
var ascii = new TextDecoder();
function encodeBytesPython(b) {
  const groups = Math.ceil(b.length / 3);
  const out = new Uint8Array(groups * 4 + Math.ceil(groups / 19));
  let o = 0;
  let g = 0;
  for (let i = 0; i < b.length; i += 3) {
    const n = b[i] << 16 | (b[i + 1] ?? 0) << 8 | (b[i + 2] ?? 0);
    out[o++] = B64[n >>> 18];
    out[o++] = B64[n >>> 12 & 63];
    out[o++] = i + 1 < b.length ? B64[n >>> 6 & 63] : 61;
    out[o++] = i + 2 < b.length ? B64[n & 63] : 61;
    if (++g === 19 || i + 3 >= b.length) {
      out[o++] = 10;
      g = 0;
    }
  }
  return ascii.decode(out);
}
function decodeBytesPython(s, path) {
  const clean = s.replace(/[\n\r \t]/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new ImageJsonError("expected base64 data", path);
  }
  const bin = atob(clean.padEnd(Math.ceil(clean.length / 4) * 4, "="));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
var HEXU = "0123456789ABCDEF";
var QP_MAX_LINE = 76;
function encodeQuopri(b) {
  const n = b.length;
  const nl = b.indexOf(10);
  const crlf = nl > 0 && b[nl - 1] === 13;
  const eol = crlf ? "\r\n" : "\n";
  let out = "";
  let lineLen = 0;
  for (let i = 0; i < n; ) {
    const c = b[i];
    const next = i + 1 < n ? b[i + 1] : void 0;
    const quote = c > 126 || c === 61 || c === 46 && lineLen === 0 && (next === void 0 || next === 10 || next === 13 || next === 0) || (c === 9 || c === 32) && next === void 0 || c < 33 && c !== 13 && c !== 10 && c !== 9 && c !== 32;
    if (quote) {
      if (lineLen + 3 >= QP_MAX_LINE) {
        out += `=${eol}`;
        lineLen = 0;
      }
      out += `=${HEXU[c >> 4]}${HEXU[c & 15]}`;
      i++;
      lineLen += 3;
    } else if (c === 10 || c === 13 && next === 10) {
      lineLen = 0;
      const last = out.charCodeAt(out.length - 1);
      if (out.length > 0 && (last === 32 || last === 9)) {
        out = `${out.slice(0, -1)}=${HEXU[last >> 4]}${HEXU[last & 15]}`;
      }
      out += eol;
      i += c === 13 ? 2 : 1;
    } else {
      if (next !== void 0 && next !== 10 && lineLen + 1 >= QP_MAX_LINE) {
        out += `=${eol}`;
        lineLen = 0;
      }
      lineLen++;
      out += String.fromCharCode(c);
      i++;
    }
  }
  return out;
}
function decodeQuopri(s, path) {
  const out = [];
  const isHexDigit = (c) => c !== void 0 && /^[0-9A-Fa-f]$/.test(c);
  for (let i = 0; i < s.length; ) {
    const code = s.charCodeAt(i);
    if (code > 127) throw new ImageJsonError("expected ASCII quoted-printable text", path);
    if (s[i] !== "=") {
      out.push(code);
      i++;
      continue;
    }
    i++;
    if (i >= s.length) break;
    const c = s[i];
    if (c === "\n" || c === "\r") {
      while (i < s.length && s[i] !== "\n") i++;
      if (i < s.length) i++;
    } else if (c === "=") {
      out.push(61);
      i++;
    } else if (i + 1 < s.length && isHexDigit(c) && isHexDigit(s[i + 1])) {
      out.push(Number.parseInt(s.slice(i, i + 2), 16));
      i += 2;
    } else {
      out.push(61);
    }
  }
  return Uint8Array.from(out);
}
function toHex(b) {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}
function fromHex(s, path) {
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new ImageJsonError("expected hex bytes", path);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
function ntohl(v) {
  return ((v & 255) << 24 | (v & 65280) << 8 | v >>> 8 & 65280 | v >>> 24 & 255) >>> 0;
}
function formatIp(values) {
  if (values.length === 1) {
    const v = ntohl(values[0]);
    return [v >>> 24, v >>> 16 & 255, v >>> 8 & 255, v & 255].join(".");
  }
  const groups = [];
  for (let i = 0; i < 4; i++) {
    const v = ntohl(values[i] ?? 0);
    groups.push(v >>> 16, v & 65535);
  }
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen > 1) {
    const left = hex.slice(0, best).join(":");
    const right = hex.slice(best + bestLen).join(":");
    return `${left}::${right}`;
  }
  return hex.join(":");
}
function scalarToJson(field2, v, pretty, isHex) {
  if (field2.type === "bytes") {
    return field2.conv === "unix_name" ? encodeQuopri(v) : encodeBytesPython(v);
  }
  if (field2.type === "enum") {
    const e = field2.enum;
    const name = Object.keys(e.values).find((k) => e.values[k] === v);
    return name ?? v;
  }
  if (typeof v === "boolean" || typeof v === "string") return v;
  if (field2.type === "float" || field2.type === "double") return v;
  const n = v;
  if (pretty) {
    if (isHex) return `0x${toUnsignedHex(n)}`;
    if (field2.dev) {
      const b = BigInt(n);
      if (field2.odev) {
        const major = b >> 8n & 0xfffn | b >> 32n & ~0xfffn;
        const minor = b & 0xffn | b >> 12n & ~0xffn;
        return `${major}:${minor}`;
      }
      return `${b >> 20n}:${b & 0xfffffn}`;
    }
    if (field2.flags) return formatFlags(n, field2.flags);
    if (field2.dict) {
      const name = DICT_TABLES[field2.dict]?.[field2.name]?.[Number(n)];
      if (name !== void 0) return name;
    }
  }
  return n;
}
function toUnsignedHex(n) {
  const b = BigInt(n);
  return b < 0n ? `-${(-b).toString(16)}`.replace("-", "-") : b.toString(16);
}
function messageToJson(schema, msg, pretty, isHex = false) {
  const out = {};
  for (const field2 of schema.fields) {
    const v = msg[field2.name];
    if (v === void 0) continue;
    const hex = isHex || field2.hex === true;
    if (field2.label === "repeated") {
      const arr = v;
      if (arr.length === 0) continue;
      if (pretty && field2.ipadd) {
        out[field2.name] = [formatIp(arr)];
        continue;
      }
      out[field2.name] = arr.map(
        (x) => field2.type === "message" ? messageToJson(field2.message(), x, pretty, hex) : scalarToJson(field2, x, pretty, hex)
      );
    } else if (field2.type === "message") {
      out[field2.name] = messageToJson(field2.message(), v, pretty, hex);
    } else {
      out[field2.name] = scalarToJson(field2, v, pretty, hex);
    }
  }
  const unknown = msg[UNKNOWN];
  if (unknown && unknown.length > 0) {
    out[UNKNOWN] = unknown.map((u) => [u.no, u.wire, toHex(u.data)]);
  }
  return out;
}
function isObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v) && typeof v !== "bigint";
}
var INT_RANGES = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
  enum: [-(2n ** 31n), 2n ** 31n - 1n]
};
function jsonToInt(field2, v, path) {
  let b;
  if (typeof v === "bigint") b = v;
  else if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new ImageJsonError(`expected an integer, got ${v}`, path);
    b = BigInt(v);
  } else if (typeof v === "boolean") {
    b = v ? 1n : 0n;
  } else if (typeof v === "string") {
    if (field2.dev && v.includes(":")) {
      const [maj, min] = v.split(":").map((x) => parseIntLiteral(x, path));
      if (field2.odev) {
        b = (maj & 0xfffn) << 8n | (maj & ~0xfffn) << 32n | min & 0xffn | (min & ~0xffn) << 12n;
      } else b = maj << 20n | min;
    } else if (field2.flags) {
      b = parseFlags(v, field2.flags, path);
    } else if (field2.dict) {
      const table = DICT_TABLES[field2.dict]?.[field2.name] ?? {};
      const hit = Object.entries(table).find(([, name]) => name === v);
      b = hit ? BigInt(hit[0]) : parseIntLiteral(v, path);
    } else {
      b = parseIntLiteral(v, path);
    }
  } else {
    throw new ImageJsonError(`expected an integer for ${field2.type} field '${field2.name}'`, path);
  }
  const range = INT_RANGES[field2.type];
  if (range && (b < range[0] || b > range[1])) {
    throw new ImageJsonError(`${b} is out of range for ${field2.type} field '${field2.name}'`, path);
  }
  return b;
}
function jsonToScalar(field2, v, path) {
  switch (field2.type) {
    case "string":
      if (typeof v !== "string")
        throw new ImageJsonError(`expected a string for field '${field2.name}'`, path);
      return v;
    case "bytes":
      if (typeof v !== "string")
        throw new ImageJsonError(`expected base64 text for field '${field2.name}'`, path);
      return field2.conv === "unix_name" ? decodeQuopri(v, path) : decodeBytesPython(v, path);
    case "bool":
      if (typeof v === "boolean") return v;
      if (v === 0 || v === 1) return v === 1;
      throw new ImageJsonError(`expected true or false for field '${field2.name}'`, path);
    case "float":
    case "double":
      if (typeof v === "number") return v;
      if (typeof v === "bigint") return Number(v);
      throw new ImageJsonError(`expected a number for field '${field2.name}'`, path);
    case "enum": {
      if (typeof v === "string" && field2.enum && Object.hasOwn(field2.enum.values, v))
        return field2.enum.values[v];
      if (typeof v === "string" && !/^[-+]?\d/.test(v)) {
        throw new ImageJsonError(`'${v}' is not a value of enum ${field2.enum?.name ?? field2.name}`, path);
      }
      return Number(jsonToInt(field2, v, path));
    }
    default: {
      const b = jsonToInt(field2, v, path);
      return isSixtyFourBit(field2.type) ? b : Number(b);
    }
  }
}
function messageFromJson(schema, v, path) {
  if (!isObject(v)) throw new ImageJsonError(`expected an object for message ${schema.name}`, path);
  const msg = {};
  for (const key of Object.keys(v)) {
    const value = v[key];
    const p = `${path}.${key}`;
    if (key === UNKNOWN) {
      msg[UNKNOWN] = unknownFromJson(value, p);
      continue;
    }
    const field2 = fieldByName(schema, key);
    if (!field2) throw new ImageJsonError(`message ${schema.name} has no field '${key}'`, p);
    if (field2.label === "repeated") {
      if (!Array.isArray(value)) throw new ImageJsonError(`expected an array for repeated field '${key}'`, p);
      if (field2.ipadd && value.length === 1 && typeof value[0] === "string") {
        msg[key] = parseIp(value[0], p);
        continue;
      }
      msg[key] = value.map(
        (x, i) => field2.type === "message" ? messageFromJson(field2.message(), x, `${p}[${i}]`) : jsonToScalar(field2, x, `${p}[${i}]`)
      );
    } else if (field2.type === "message") {
      msg[key] = messageFromJson(field2.message(), value, p);
    } else {
      msg[key] = jsonToScalar(field2, value, p);
    }
  }
  return msg;
}
function unknownFromJson(v, path) {
  if (!Array.isArray(v)) throw new ImageJsonError("expected an array of [field, wire, hex]", path);
  return v.map((u, i) => {
    const p = `${path}[${i}]`;
    if (!Array.isArray(u) || u.length !== 3 || typeof u[0] !== "number" || !Number.isInteger(u[0]) || u[0] < 1 || u[0] > 536870911 || ![0, 1, 2, 5].includes(u[1]) || typeof u[2] !== "string") {
      throw new ImageJsonError('expected [field number, wire type 0/1/2/5, "hex bytes"]', p);
    }
    const wire = u[1];
    const data = fromHex(u[2], `${p}[2]`);
    const bad = wire === 1 ? data.length !== 8 : wire === 5 ? data.length !== 4 : wire === 0 && !isOneVarint(data);
    if (bad) {
      const want = wire === 1 ? "8 bytes" : wire === 5 ? "4 bytes" : "exactly one varint (at most 10 bytes)";
      throw new ImageJsonError(`expected ${want} for wire type ${wire}, got ${data.length} bytes`, `${p}[2]`);
    }
    return { no: u[0], wire, data };
  });
}
function isOneVarint(b) {
  if (b.length === 0 || b.length > 10) return false;
  for (let i = 0; i < b.length - 1; i++) if (b[i] < 128) return false;
  const last = b[b.length - 1];
  return last < 128 && (b.length < 10 || last <= 1);
}
function htonl(v) {
  return ntohl(v);
}
function parseIp(s, path) {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(s)) {
    const parts = s.split(".").map(Number);
    if (parts.some((x) => x > 255)) throw new ImageJsonError(`bad IPv4 address '${s}'`, path);
    return [htonl((parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]) >>> 0)];
  }
  let groups;
  const halves = s.split("::");
  const parse = (h) => h === "" ? [] : h.split(":").map((g) => Number.parseInt(g, 16));
  if (halves.length === 2) {
    const l = parse(halves[0]);
    const r = parse(halves[1]);
    groups = [...l, ...new Array(8 - l.length - r.length).fill(0), ...r];
  } else groups = parse(s);
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 65535))) {
    throw new ImageJsonError(`bad IP address '${s}'`, path);
  }
  const out = [];
  for (let i = 0; i < 4; i++) out.push(htonl((groups[2 * i] << 16 | groups[2 * i + 1]) >>> 0));
  return out;
}

// src/image/schemas/dsl.ts
function field(label, no, name, kind, opts) {
  if (typeof kind === "function") return { no, name, type: "message", label, message: kind, ...opts };
  if (typeof kind === "object") return { no, name, type: "enum", label, enum: kind, ...opts };
  return { no, name, type: kind, label, ...opts };
}
function req(no, name, kind, opts) {
  return field("required", no, name, kind, opts);
}
function opt(no, name, kind, opts) {
  return field("optional", no, name, kind, opts);
}
function rep(no, name, kind, opts) {
  return field("repeated", no, name, kind, opts);
}
function enumOf(name, values) {
  return { name, values };
}
function seq(first, type, names) {
  return names.map((name, i) => req(first + i, name, type));
}
var HEX = { hex: true };

// src/image/schemas/ipc.ts
var ipcDescEntry = message("ipc_desc_entry", [
  req(1, "key", "uint32"),
  req(2, "uid", "uint32"),
  req(3, "gid", "uint32"),
  req(4, "cuid", "uint32"),
  req(5, "cgid", "uint32"),
  req(6, "mode", "uint32"),
  req(7, "id", "uint32")
]);
var ipcVarEntry = message("ipc_var_entry", [
  rep(1, "sem_ctls", "uint32"),
  req(2, "msg_ctlmax", "uint32"),
  req(3, "msg_ctlmnb", "uint32"),
  req(4, "msg_ctlmni", "uint32"),
  req(5, "auto_msgmni", "uint32"),
  req(6, "shm_ctlmax", "uint64"),
  req(7, "shm_ctlall", "uint64"),
  req(8, "shm_ctlmni", "uint32"),
  req(9, "shm_rmid_forced", "uint32"),
  req(10, "mq_queues_max", "uint32"),
  req(11, "mq_msg_max", "uint32"),
  req(12, "mq_msgsize_max", "uint32"),
  opt(13, "mq_msg_default", "uint32"),
  opt(14, "mq_msgsize_default", "uint32"),
  opt(15, "msg_next_id", "uint32"),
  opt(16, "sem_next_id", "uint32"),
  opt(17, "shm_next_id", "uint32")
]);
var ipcShmEntry = message("ipc_shm_entry", [
  req(1, "desc", () => ipcDescEntry),
  req(2, "size", "uint64"),
  opt(3, "in_pagemaps", "bool"),
  opt(4, "hugetlb_flag", "uint32")
]);
var ipcMsg = message("ipc_msg", [req(1, "mtype", "uint64"), req(2, "msize", "uint32")]);
var ipcMsgEntry = message("ipc_msg_entry", [
  req(1, "desc", () => ipcDescEntry),
  req(2, "qbytes", "uint32"),
  req(3, "qnum", "uint32")
]);
var ipcSemEntry = message("ipc_sem_entry", [
  req(1, "desc", () => ipcDescEntry),
  req(2, "nsems", "uint32")
]);

// src/image/extra.ts
var SizeError = class extends Error {
};
function u32Field(entry, name) {
  const v = entry[name];
  if (typeof v !== "number") throw new SizeError(`no '${name}' field (the size of the data after the entry)`);
  return v;
}
function u64Field(entry, name) {
  const v = entry[name];
  if (typeof v !== "bigint") throw new SizeError(`no '${name}' field (the size of the data after the entry)`);
  return v;
}
function bytesLayout(what, field2, align = 1) {
  return {
    kind: "bytes",
    what,
    expected: (_e, _i, size) => `'${field2}' = ${size}`,
    size: (entries, i) => BigInt(u32Field(entries[i], field2)),
    align
  };
}
var ghostLayout = {
  kind: "bytes",
  what: "ghost file data",
  expected: (_e, _i, size) => `chunk 'len' = ${size}`,
  size: (entries, i) => {
    const chunked = entries[0]["chunks"] === true;
    if (i === 0) return chunked ? null : "rest";
    if (!chunked) throw new SizeError("a ghost file without chunks has one entry, its data follows it");
    return u64Field(entries[i], "len");
  },
  align: 1
};
var shmLayout = {
  kind: "bytes",
  what: "shared memory contents",
  expected: (entries, i, size) => entries[i]["in_pagemaps"] === true ? "'in_pagemaps' is set: none follow the entry (the contents are in pagemap images)" : `'size' = ${size}`,
  // in_pagemaps: the contents are in pagemap/pages images, nothing follows the entry
  size: (entries, i) => entries[i]["in_pagemaps"] === true ? 0n : u64Field(entries[i], "size"),
  align: 4
};
var LAYOUTS = {
  PIPES_DATA: bytesLayout("pipe data", "bytes"),
  FIFO_DATA: bytesLayout("fifo data", "bytes"),
  SK_QUEUES: bytesLayout("socket queue packet", "length"),
  BPFMAP_DATA: {
    kind: "bytes",
    what: "BPF map keys and values",
    expected: (_e, _i, size) => `'keys_bytes' + 'values_bytes' = ${size}`,
    size: (entries, i) => BigInt(u32Field(entries[i], "keys_bytes")) + BigInt(u32Field(entries[i], "values_bytes")),
    align: 1
  },
  GHOST_FILE: ghostLayout,
  IPCNS_SHM: shmLayout,
  TCP_STREAM: { kind: "tcp" },
  IPCNS_SEM: { kind: "sem" },
  IPCNS_MSG: { kind: "msgs" }
};
function roundUp(n, to) {
  return Math.ceil(n / to) * to;
}
function formatError(e, i, at) {
  if (e instanceof SizeError) throw new ImageFormatError(`entry ${i}: ${e.message}`, at);
  throw e;
}
function sizeAt(entry, name, i, at) {
  try {
    return u32Field(entry, name);
  } catch (e) {
    return formatError(e, i, at);
  }
}
function take(buf, off, n, what, i) {
  const left = buf.length - off;
  if (BigInt(n) > BigInt(left)) {
    throw new ImageFormatError(
      `entry ${i}: expected ${n} bytes of ${what} after the entry, only ${left} remain in the file`,
      off
    );
  }
  return buf.slice(off, off + Number(n));
}
function takePad(buf, off, n, what, i) {
  if (n === 0) return void 0;
  const pad = take(buf, off, n, `padding after the ${what}`, i);
  return pad.some((b) => b !== 0) ? pad : void 0;
}
function readBytes(layout, buf, off, entries, i) {
  let size;
  try {
    size = layout.size(entries, i);
  } catch (e) {
    formatError(e, i, off);
  }
  if (size === null) return { end: off };
  if (size === "rest") return { extra: { kind: "bytes", data: buf.slice(off) }, end: buf.length };
  const data = take(buf, off, size, layout.what, i);
  const padLen = roundUp(data.length, layout.align) - data.length;
  const pad = takePad(buf, off + data.length, padLen, layout.what, i);
  const extra = pad ? { kind: "bytes", data, pad } : { kind: "bytes", data };
  return { extra, end: off + data.length + padLen };
}
function readTcp(buf, off, entry, i) {
  const inLen = sizeAt(entry, "inq_len", i, off);
  const outLen = sizeAt(entry, "outq_len", i, off);
  const inq = take(buf, off, inLen, `TCP receive queue ('inq_len' = ${inLen})`, i);
  const outq = take(buf, off + inLen, outLen, `TCP send queue ('outq_len' = ${outLen})`, i);
  return { extra: { kind: "tcp", inq, outq }, end: off + inLen + outLen };
}
function readSem(buf, off, entry, i) {
  const nsems = sizeAt(entry, "nsems", i, off);
  const what = `semaphore values ('nsems' = ${nsems})`;
  const raw = take(buf, off, 2 * nsems, what, i);
  const values = new Array(nsems);
  for (let k = 0; k < nsems; k++) values[k] = raw[2 * k] | raw[2 * k + 1] << 8;
  const padLen = roundUp(raw.length, 8) - raw.length;
  const pad = takePad(buf, off + raw.length, padLen, "semaphore values", i);
  const extra = pad ? { kind: "sem", values, pad } : { kind: "sem", values };
  return { extra, end: off + raw.length + padLen };
}
function readMsgs(buf, off, entry, i) {
  const qnum = sizeAt(entry, "qnum", i, off);
  const messages = [];
  for (let k = 0; k < qnum; k++) {
    const what = `message ${k} of ${qnum} ('qnum')`;
    if (buf.length - off < 4) {
      throw new ImageFormatError(
        `entry ${i}: ${what}: expected a 4-byte length, only ${buf.length - off} bytes remain in the file`,
        off
      );
    }
    const len = u32le(buf, off);
    if (len > buf.length - off - 4) {
      throw new ImageFormatError(
        `entry ${i}: ${what} claims ${len} bytes but only ${buf.length - off - 4} remain in the file`,
        off
      );
    }
    const msg = decodeMessage(ipcMsg, buf, off + 4, off + 4 + len, 0);
    off += 4 + len;
    const msize = msg["msize"];
    if (typeof msize !== "number") {
      throw new ImageFormatError(`entry ${i}: ${what} has no 'msize' (the size of its text)`, off);
    }
    const data = take(buf, off, msize, `text of ${what}, 'msize' = ${msize}`, i);
    const padLen = roundUp(msize, 8) - msize;
    const pad = takePad(buf, off + msize, padLen, `text of ${what}`, i);
    messages.push(pad ? { msg, data, pad } : { msg, data });
    off += msize + padLen;
  }
  return { extra: { kind: "msgs", messages }, end: off };
}
function jsonError(e, i) {
  if (e instanceof SizeError) throw new ImageJsonError(e.message, `$.entries[${i}]`);
  throw e;
}
function sizeIn(entry, name, i) {
  try {
    return u32Field(entry, name);
  } catch (e) {
    return jsonError(e, i);
  }
}
function wrongKind(extra, want, i) {
  throw new ImageJsonError(`expected ${want}, got a '${extra.kind}' payload`, `$.entries[${i}].extra`);
}
function padFor(pad, n, padPath) {
  if (pad && pad.length !== n) {
    throw new ImageJsonError(`padding of ${pad.length} bytes, expected ${n}`, padPath);
  }
  if (n === 0) return [];
  return [pad ?? new Uint8Array(n)];
}
function writeBytes(layout, extra, entries, i) {
  const path = `$.entries[${i}].extra`;
  let size;
  try {
    size = layout.size(entries, i);
  } catch (e) {
    jsonError(e, i);
  }
  if (extra && extra.kind !== "bytes") wrongKind(extra, `${layout.what} as base64 text`, i);
  const data = extra?.data ?? new Uint8Array(0);
  if (size === null) {
    if (data.length > 0 || extra?.pad) {
      throw new ImageJsonError(
        "no data may follow a ghost file entry with chunks (it is in the chunks)",
        path
      );
    }
    return [];
  }
  if (size === "rest") return [data];
  if (BigInt(data.length) !== size) {
    throw new ImageJsonError(
      `${data.length} bytes of ${layout.what}, but ${layout.expected(entries, i, size)}`,
      path
    );
  }
  const padLen = roundUp(data.length, layout.align) - data.length;
  return [data, ...padFor(extra?.pad, padLen, `$.entries[${i}]._pad`)];
}
function writeTcp(extra, entry, i) {
  const path = `$.entries[${i}].extra`;
  const inLen = sizeIn(entry, "inq_len", i);
  const outLen = sizeIn(entry, "outq_len", i);
  if (extra && extra.kind !== "tcp") wrongKind(extra, '{"inq": ..., "outq": ...}', i);
  const inq = extra?.inq ?? new Uint8Array(0);
  const outq = extra?.outq ?? new Uint8Array(0);
  if (inq.length !== inLen) {
    throw new ImageJsonError(
      `${inq.length} bytes in the receive queue, but 'inq_len' = ${inLen}`,
      `${path}.inq`
    );
  }
  if (outq.length !== outLen) {
    throw new ImageJsonError(
      `${outq.length} bytes in the send queue, but 'outq_len' = ${outLen}`,
      `${path}.outq`
    );
  }
  return [inq, outq];
}
function writeSem(extra, entry, i) {
  const path = `$.entries[${i}].extra`;
  const nsems = sizeIn(entry, "nsems", i);
  if (extra && extra.kind !== "sem") wrongKind(extra, "a list of semaphore values", i);
  const values = extra?.values ?? [];
  if (values.length !== nsems) {
    throw new ImageJsonError(`${values.length} semaphore values, but 'nsems' = ${nsems}`, path);
  }
  const raw = new Uint8Array(2 * nsems);
  values.forEach((v, k) => {
    if (!Number.isInteger(v) || v < 0 || v > 65535) {
      throw new ImageJsonError(`semaphore value ${v} is not a u16`, `${path}[${k}]`);
    }
    raw[2 * k] = v & 255;
    raw[2 * k + 1] = v >> 8;
  });
  return [raw, ...padFor(extra?.pad, roundUp(raw.length, 8) - raw.length, `$.entries[${i}]._pad`)];
}
function writeMsgs(extra, entry, i) {
  const path = `$.entries[${i}].extra`;
  const qnum = sizeIn(entry, "qnum", i);
  if (extra && extra.kind !== "msgs") wrongKind(extra, "a list of messages and their texts", i);
  const messages = extra?.messages ?? [];
  if (messages.length !== qnum) {
    throw new ImageJsonError(`${messages.length} messages, but 'qnum' = ${qnum}`, path);
  }
  const out = [];
  messages.forEach((m, k) => {
    const at = `${path}[${2 * k}]`;
    const msize = m.msg["msize"];
    if (typeof msize !== "number") throw new ImageJsonError(`message ${k} has no 'msize'`, at);
    if (m.data.length !== msize) {
      throw new ImageJsonError(
        `${m.data.length} bytes of message text, but 'msize' = ${msize}`,
        `${path}[${2 * k + 1}]`
      );
    }
    const body = encodeMessage(ipcMsg, m.msg);
    const len = new Uint8Array(4);
    putU32le(len, 0, body.length);
    out.push(len, body, m.data, ...padFor(m.pad, roundUp(msize, 8) - msize, `${at}._pad`));
  });
  return out;
}
function isObject2(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v) && typeof v !== "bigint";
}
function toHex2(b) {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}
function padFromJson(v, path) {
  if (v === void 0) return void 0;
  if (typeof v !== "string" || !/^([0-9a-fA-F]{2})*$/.test(v)) {
    throw new ImageJsonError("expected the padding as hex bytes", path);
  }
  const out = new Uint8Array(v.length / 2);
  for (let k = 0; k < out.length; k++) out[k] = Number.parseInt(v.slice(2 * k, 2 * k + 2), 16);
  return out;
}
function base64FromJson(v, what, path) {
  if (typeof v !== "string") throw new ImageJsonError(`expected ${what} as base64 text`, path);
  return decodeBytesPython(v, path);
}
function extraToJson(extra) {
  switch (extra.kind) {
    case "bytes":
      return encodeBytesPython(extra.data);
    case "tcp":
      return { inq: encodeBytesPython(extra.inq), outq: encodeBytesPython(extra.outq) };
    case "sem":
      return [...extra.values];
    case "msgs":
      return extra.messages.flatMap((m) => {
        const msg = messageToJson(ipcMsg, m.msg, false);
        if (m.pad) msg["_pad"] = toHex2(m.pad);
        return [msg, encodeBytesPython(m.data)];
      });
  }
}
function extraFromJson(layout, v, path, pad) {
  switch (layout.kind) {
    case "bytes": {
      const data = base64FromJson(v, layout.what, path);
      return pad ? { kind: "bytes", data, pad } : { kind: "bytes", data };
    }
    case "tcp":
      if (!isObject2(v)) throw new ImageJsonError('expected {"inq": "<base64>", "outq": "<base64>"}', path);
      for (const k of Object.keys(v)) {
        if (k !== "inq" && k !== "outq") throw new ImageJsonError(`unexpected key '${k}'`, `${path}.${k}`);
      }
      return {
        kind: "tcp",
        inq: base64FromJson(v["inq"] ?? "", "the receive queue", `${path}.inq`),
        outq: base64FromJson(v["outq"] ?? "", "the send queue", `${path}.outq`)
      };
    case "sem": {
      if (!Array.isArray(v)) throw new ImageJsonError("expected a list of semaphore values", path);
      const values = v.map((x, k) => {
        const n = typeof x === "bigint" ? Number(x) : x;
        if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 65535) {
          throw new ImageJsonError("expected a semaphore value (0 to 65535)", `${path}[${k}]`);
        }
        return n;
      });
      return pad ? { kind: "sem", values, pad } : { kind: "sem", values };
    }
    case "msgs": {
      if (!Array.isArray(v) || v.length % 2 !== 0) {
        throw new ImageJsonError("expected a list alternating ipc_msg objects and base64 texts", path);
      }
      const messages = [];
      for (let k = 0; k < v.length; k += 2) {
        const at = `${path}[${k}]`;
        const m = v[k];
        if (!isObject2(m))
          throw new ImageJsonError('expected an ipc_msg object {"mtype": ..., "msize": ...}', at);
        const { _pad, ...fields } = m;
        const msg = messageFromJson(ipcMsg, fields, at);
        const data = base64FromJson(v[k + 1], "the message text", `${path}[${k + 1}]`);
        const p = padFromJson(_pad, `${at}._pad`);
        messages.push(p ? { msg, data, pad: p } : { msg, data });
      }
      return { kind: "msgs", messages };
    }
  }
}
function codecFor(layout) {
  return {
    read(buf, off, entries, i) {
      switch (layout.kind) {
        case "bytes":
          return readBytes(layout, buf, off, entries, i);
        case "tcp":
          return readTcp(buf, off, entries[i], i);
        case "sem":
          return readSem(buf, off, entries[i], i);
        case "msgs":
          return readMsgs(buf, off, entries[i], i);
      }
    },
    write(extra, entries, i) {
      switch (layout.kind) {
        case "bytes":
          return writeBytes(layout, extra, entries, i);
        case "tcp":
          return writeTcp(extra, entries[i], i);
        case "sem":
          return writeSem(extra, entries[i], i);
        case "msgs":
          return writeMsgs(extra, entries[i], i);
      }
    },
    toJson(json, extra) {
      if (!extra || !isObject2(json)) return json;
      json["extra"] = extraToJson(extra);
      if ((extra.kind === "bytes" || extra.kind === "sem") && extra.pad) json["_pad"] = toHex2(extra.pad);
      return json;
    },
    withoutExtra(json) {
      if (!isObject2(json)) return json;
      const { extra: _x, _pad: _p, ...rest } = json;
      return rest;
    },
    fromJson(json) {
      return json.map((e, i) => {
        if (!isObject2(e)) return void 0;
        const path = `$.entries[${i}]`;
        const pad = padFromJson(e["_pad"], `${path}._pad`);
        if (pad && layout.kind !== "bytes" && layout.kind !== "sem") {
          throw new ImageJsonError("no padding follows this payload", `${path}._pad`);
        }
        const v = e["extra"];
        if (v === void 0) {
          if (pad) throw new ImageJsonError("padding without 'extra'", `${path}._pad`);
          return void 0;
        }
        return extraFromJson(layout, v, `${path}.extra`, pad);
      });
    }
  };
}
var CODECS = new Map(Object.entries(LAYOUTS).map(([m, l]) => [m, codecFor(l)]));
function extraCodec(magic) {
  return CODECS.get(magic);
}
var EXTRA_PAYLOAD_TYPES = Object.keys(LAYOUTS);

// src/image/jsontext.ts
var PLAIN_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
function quoteJson(s) {
  if (PLAIN_STRING.test(s)) return `"${s}"`;
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}
var keyCache = /* @__PURE__ */ new Map();
function quoteKey(k) {
  let q = keyCache.get(k);
  if (q === void 0) {
    q = `${quoteJson(k)}: `;
    if (keyCache.size < 4096) keyCache.set(k, q);
  }
  return q;
}
function scalar(v) {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return v ? "true" : "false";
    case "bigint":
      return v.toString();
    case "number":
      if (Number.isInteger(v)) return Number.isSafeInteger(v) ? String(v) : `${v.toFixed(1)}`;
      if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
      return String(v);
    case "string":
      return quoteJson(v);
    default:
      return void 0;
  }
}
function stringifyJson(v, pretty = false, indent = "") {
  let out = "";
  const walk = (x, ind) => {
    const s = scalar(x);
    if (s !== void 0) {
      out += s;
      return;
    }
    const inner = pretty ? `${ind}    ` : "";
    const sep = pretty ? `,
${inner}` : ", ";
    if (Array.isArray(x)) {
      if (x.length === 0) {
        out += "[]";
        return;
      }
      out += pretty ? `[
${inner}` : "[";
      for (let i = 0; i < x.length; i++) {
        if (i > 0) out += sep;
        walk(x[i], inner);
      }
      out += pretty ? `
${ind}]` : "]";
      return;
    }
    const obj = x;
    let first = true;
    for (const k in obj) {
      if (!Object.hasOwn(obj, k)) continue;
      out += first ? pretty ? `{
${inner}` : "{" : sep;
      first = false;
      out += quoteKey(k);
      walk(obj[k], inner);
    }
    out += first ? "{}" : pretty ? `
${ind}}` : "}";
  };
  walk(v, indent);
  return out;
}
function parseJson(text) {
  let i = 0;
  const n = text.length;
  const fail = (what) => {
    let line = 1;
    let col = 1;
    for (let k = 0; k < i && k < n; k++) {
      if (text.charCodeAt(k) === 10) {
        line++;
        col = 1;
      } else col++;
    }
    throw new ImageJsonError(`invalid JSON at line ${line} column ${col}: ${what}`, "$");
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else break;
    }
  };
  let depth = 0;
  const value = () => {
    ws();
    if (i >= n) fail("unexpected end of input, expected a value");
    const c = text[i];
    if (c === "{") {
      if (++depth > 512) fail("nested too deep, expected at most 512 levels");
      i++;
      const obj = {};
      ws();
      if (text[i] === "}") {
        i++;
        depth--;
        return obj;
      }
      for (; ; ) {
        ws();
        if (text[i] !== '"') fail("expected a string key");
        const k = str();
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        Object.defineProperty(obj, k, {
          value: value(),
          enumerable: true,
          writable: true,
          configurable: true
        });
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          depth--;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      if (++depth > 512) fail("nested too deep, expected at most 512 levels");
      i++;
      const arr = [];
      ws();
      if (text[i] === "]") {
        i++;
        depth--;
        return arr;
      }
      for (; ; ) {
        arr.push(value());
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          depth--;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (text.startsWith("true", i)) {
      i += 4;
      return true;
    }
    if (text.startsWith("false", i)) {
      i += 5;
      return false;
    }
    if (text.startsWith("null", i)) {
      i += 4;
      return null;
    }
    if (text.startsWith("NaN", i)) {
      i += 3;
      return Number.NaN;
    }
    if (text.startsWith("Infinity", i)) {
      i += 8;
      return Number.POSITIVE_INFINITY;
    }
    if (text.startsWith("-Infinity", i)) {
      i += 9;
      return Number.NEGATIVE_INFINITY;
    }
    return num();
  };
  const str = () => {
    const start = ++i;
    let out = "";
    let seg = start;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        out += text.slice(seg, i);
        i++;
        return out;
      }
      if (c === 92) {
        out += text.slice(seg, i);
        const e = text[i + 1];
        i += 2;
        switch (e) {
          case '"':
            out += '"';
            break;
          case "\\":
            out += "\\";
            break;
          case "/":
            out += "/";
            break;
          case "b":
            out += "\b";
            break;
          case "f":
            out += "\f";
            break;
          case "n":
            out += "\n";
            break;
          case "r":
            out += "\r";
            break;
          case "t":
            out += "	";
            break;
          case "u": {
            const h = text.slice(i, i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(h)) fail("bad \\u escape, expected 4 hex digits");
            out += String.fromCharCode(Number.parseInt(h, 16));
            i += 4;
            break;
          }
          default:
            i -= 2;
            fail('bad escape, expected one of \\" \\\\ / b f n r t u');
        }
        seg = i;
        continue;
      }
      if (c < 32) fail("control character in a string, expected it escaped");
      i++;
    }
    return fail("unterminated string, expected a closing quote");
  };
  const num = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail(`unexpected character ${JSON.stringify(text[i])}, expected a value`);
    const lit = m[0];
    i += lit.length;
    if (m[2] === void 0 && m[3] === void 0) {
      const v2 = Number(lit);
      return Number.isSafeInteger(v2) ? v2 : BigInt(lit);
    }
    return Number(lit);
  };
  const v = value();
  ws();
  if (i < n) fail("trailing characters after the JSON value, expected the end");
  return v;
}

// src/image/magic.ts
var IMG_COMMON_MAGIC = 1414939417;
var IMG_SERVICE_MAGIC = 1427134784;
var MAGICS = {
  INVENTORY: 1479618838,
  PSTREE: 1344745520,
  FDINFO: 1445017394,
  PAGEMAP: 1443381285,
  CORE: 1426405447,
  IDS: 1413685296,
  VMAS: 1410479927,
  PIPES: 1448162645,
  PIPES_DATA: 1447376649,
  FIFO: 1479952697,
  FIFO_DATA: 1496526932,
  SIGACT: 1429488129,
  UNIXSK: 1412905283,
  INETSK: 1447311441,
  PACKETSK: 1615152664,
  ITIMERS: 1464221782,
  POSIX_TIMERS: 1382037847,
  SK_QUEUES: 1445347366,
  UTSNS: 1413952003,
  CREDS: 1409430855,
  IPC_VAR: 1393643527,
  IPCNS_SHM: 1177038916,
  IPCNS_MSG: 1430599479,
  IPCNS_SEM: 1498886169,
  REG_FILES: 1345730102,
  EXT_FILES: 1495619137,
  FS: 1363163410,
  MM: 1464412192,
  REMAP_FPATH: 1494432084,
  GHOST_FILE: 1381512709,
  TCP_STREAM: 1363563782,
  EVENTFD_FILE: 1146238754,
  EVENTPOLL_FILE: 1157773400,
  EVENTPOLL_TFD: 1145255750,
  SIGNALFD: 1462908960,
  INOTIFY_FILE: 1212302385,
  INOTIFY_WD: 1414930441,
  MNTS: 1431714088,
  NETDEV: 1463236945,
  NETNS: 1435711314,
  TTY_FILES: 1497575461,
  TTY_INFO: 1497706550,
  TTY_DATA: 1497444390,
  FILE_LOCKS: 1412576790,
  RLIMIT: 1460746533,
  FANOTIFY_FILE: 1426678050,
  FANOTIFY_MARK: 1448108085,
  SIGNAL: 1495619143,
  NETLINK_SK: 1476417044,
  NS_FILES: 1631141905,
  TUNFILE: 1460942673,
  CGROUP: 1496855344,
  TIMERFD: 1346975506,
  CPUINFO: 1631600659,
  USERNS: 1430735110,
  SECCOMP: 1681993801,
  BINFMT_MISC: 1731474211,
  AUTOFS: 1228224835,
  FILES: 1445998904,
  MEMFD_INODE: 1212495001,
  TIMENS: 1125205043,
  PIDNS: 1628795686,
  BPFMAP_FILE: 1464885570,
  BPFMAP_DATA: 1681014835,
  APPARMOR: 1497509959,
  PIDFD: 1413698902,
  STATS: 1460220678,
  IRMAP_CACHE: 1459634265,
  KDAT: 1459762264
};
var BY_VALUE = /* @__PURE__ */ new Map();
for (const [name, value] of Object.entries(MAGICS)) {
  if (!BY_VALUE.has(value)) BY_VALUE.set(value, name);
}
function magicName(value) {
  return BY_VALUE.get(value >>> 0);
}
function framingOf(name) {
  if (name === "INVENTORY") return "inventory";
  if (name === "STATS" || name === "IRMAP_CACHE") return "service";
  return "common";
}

// src/image/schemas/core-arch.ts
var numbered = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
var userArmRegsEntry = message("user_arm_regs_entry", [
  ...seq(1, "uint32", [...numbered("r", 11), "fp", "ip", "sp", "lr", "pc", "cpsr", "orig_r0"])
]);
var userArmVfpstateEntry = message("user_arm_vfpstate_entry", [
  rep(1, "vfp_regs", "uint64"),
  req(2, "fpscr", "uint32"),
  req(3, "fpexc", "uint32"),
  req(4, "fpinst", "uint32"),
  req(5, "fpinst2", "uint32")
]);
var threadInfoArm = message("thread_info_arm", [
  req(1, "clear_tid_addr", "uint64", HEX),
  req(2, "tls", "uint32"),
  req(3, "gpregs", () => userArmRegsEntry, HEX),
  req(4, "fpstate", () => userArmVfpstateEntry)
]);
var userAarch64RegsEntry = message("user_aarch64_regs_entry", [
  rep(1, "regs", "uint64"),
  req(2, "sp", "uint64"),
  req(3, "pc", "uint64"),
  req(4, "pstate", "uint64")
]);
var userAarch64FpsimdContextEntry = message("user_aarch64_fpsimd_context_entry", [
  rep(1, "vregs", "uint64"),
  req(2, "fpsr", "uint32"),
  req(3, "fpcr", "uint32")
]);
var pacAddressKeys = message("pac_address_keys", [
  ...seq(1, "uint64", [
    "apiakey_lo",
    "apiakey_hi",
    "apibkey_lo",
    "apibkey_hi",
    "apdakey_lo",
    "apdakey_hi",
    "apdbkey_lo",
    "apdbkey_hi",
    "pac_enabled_key"
  ])
]);
var pacGenericKeys = message("pac_generic_keys", [
  ...seq(1, "uint64", ["apgakey_lo", "apgakey_hi"])
]);
var pacKeys = message("pac_keys", [
  opt(6, "pac_address_keys", () => pacAddressKeys),
  opt(7, "pac_generic_keys", () => pacGenericKeys)
]);
var threadInfoAarch64 = message("thread_info_aarch64", [
  req(1, "clear_tid_addr", "uint64", HEX),
  req(2, "tls", "uint64"),
  req(3, "gpregs", () => userAarch64RegsEntry, HEX),
  req(4, "fpsimd", () => userAarch64FpsimdContextEntry),
  opt(5, "pac_keys", () => pacKeys)
]);
var userPpc64RegsEntry = message("user_ppc64_regs_entry", [
  rep(1, "gpr", "uint64"),
  ...seq(2, "uint64", ["nip", "msr", "orig_gpr3", "ctr", "link", "xer", "ccr", "trap"]),
  opt(10, "texasr", "uint64"),
  opt(11, "tfhar", "uint64"),
  opt(12, "tfiar", "uint64")
]);
var userPpc64FpstateEntry = message("user_ppc64_fpstate_entry", [rep(1, "fpregs", "uint64")]);
var userPpc64VrstateEntry = message("user_ppc64_vrstate_entry", [
  rep(1, "vrregs", "uint64"),
  req(2, "vrsave", "uint32")
]);
var userPpc64VsxstateEntry = message("user_ppc64_vsxstate_entry", [rep(1, "vsxregs", "uint64")]);
var userPpc64TmRegsEntry = message("user_ppc64_tm_regs_entry", [
  req(1, "gpregs", () => userPpc64RegsEntry),
  opt(2, "fpstate", () => userPpc64FpstateEntry),
  opt(3, "vrstate", () => userPpc64VrstateEntry),
  opt(4, "vsxstate", () => userPpc64VsxstateEntry)
]);
var threadInfoPpc64 = message("thread_info_ppc64", [
  req(1, "clear_tid_addr", "uint64", HEX),
  req(2, "gpregs", () => userPpc64RegsEntry, HEX),
  opt(3, "fpstate", () => userPpc64FpstateEntry),
  opt(4, "vrstate", () => userPpc64VrstateEntry),
  opt(5, "vsxstate", () => userPpc64VsxstateEntry),
  opt(6, "tmstate", () => userPpc64TmRegsEntry)
]);
var userS390RegsEntry = message("user_s390_regs_entry", [
  req(1, "psw_mask", "uint64"),
  req(2, "psw_addr", "uint64"),
  rep(3, "gprs", "uint64"),
  rep(4, "acrs", "uint32"),
  req(5, "orig_gpr2", "uint64"),
  req(6, "system_call", "uint32")
]);
var userS390VxrsLowEntry = message("user_s390_vxrs_low_entry", [rep(1, "regs", "uint64")]);
var userS390VxrsHighEntry = message("user_s390_vxrs_high_entry", [rep(1, "regs", "uint64")]);
var userS390FpregsEntry = message("user_s390_fpregs_entry", [
  req(1, "fpc", "uint32"),
  rep(2, "fprs", "uint64")
]);
var userS390GsCbEntry = message("user_s390_gs_cb_entry", [rep(1, "regs", "uint64")]);
var userS390RiEntry = message("user_s390_ri_entry", [
  req(1, "ri_on", "uint32"),
  rep(2, "regs", "uint64")
]);
var threadInfoS390 = message("thread_info_s390", [
  req(1, "clear_tid_addr", "uint64", HEX),
  req(2, "gpregs", () => userS390RegsEntry, HEX),
  req(3, "fpregs", () => userS390FpregsEntry, HEX),
  opt(4, "vxrs_low", () => userS390VxrsLowEntry, HEX),
  opt(5, "vxrs_high", () => userS390VxrsHighEntry, HEX),
  opt(6, "gs_cb", () => userS390GsCbEntry, HEX),
  opt(7, "gs_bc", () => userS390GsCbEntry, HEX),
  opt(8, "ri_cb", () => userS390RiEntry, HEX)
]);
var userMipsRegsEntry = message("user_mips_regs_entry", [
  ...seq(1, "uint64", [
    ...numbered("r", 32),
    "lo",
    "hi",
    "cp0_epc",
    "cp0_badvaddr",
    "cp0_status",
    "cp0_cause"
  ])
]);
var userMipsFpregsEntry = message("user_mips_fpregs_entry", [
  ...seq(1, "uint64", [...numbered("r", 32), "lo", "hi"]),
  req(35, "fpu_fcr31", "uint32"),
  req(36, "fpu_id", "uint32")
]);
var threadInfoMips = message("thread_info_mips", [
  req(1, "clear_tid_addr", "uint64", HEX),
  req(2, "tls", "uint64"),
  req(3, "gpregs", () => userMipsRegsEntry, HEX),
  req(4, "fpregs", () => userMipsFpregsEntry, HEX)
]);
var userLoongarch64GpregsEntry = message("user_loongarch64_gpregs_entry", [
  rep(1, "regs", "uint64"),
  req(2, "pc", "uint64")
]);
var userLoongarch64FpregsEntry = message("user_loongarch64_fpregs_entry", [
  rep(1, "regs", "uint64"),
  req(2, "fcc", "uint64"),
  req(3, "fcsr", "uint32")
]);
var threadInfoLoongarch64 = message("thread_info_loongarch64", [
  req(1, "clear_tid_addr", "uint64", HEX),
  req(2, "tls", "uint64"),
  req(3, "gpregs", () => userLoongarch64GpregsEntry, HEX),
  req(4, "fpregs", () => userLoongarch64FpregsEntry, HEX)
]);
var userRiscv64RegsEntry = message("user_riscv64_regs_entry", [
  ...seq(1, "uint64", [
    "pc",
    "ra",
    "sp",
    "gp",
    "tp",
    "t0",
    "t1",
    "t2",
    "s0",
    "s1",
    "a0",
    "a1",
    "a2",
    "a3",
    "a4",
    "a5",
    "a6",
    "a7",
    "s2",
    "s3",
    "s4",
    "s5",
    "s6",
    "s7",
    "s8",
    "s9",
    "s10",
    "s11",
    "t3",
    "t4",
    "t5",
    "t6"
  ])
]);
var userRiscv64DExtEntry = message("user_riscv64_d_ext_entry", [
  rep(1, "f", "uint64"),
  req(2, "fcsr", "uint32")
]);
var threadInfoRiscv64 = message("thread_info_riscv64", [
  req(1, "clear_tid_addr", "uint64", HEX),
  req(2, "tls", "uint64"),
  req(3, "gpregs", () => userRiscv64RegsEntry, HEX),
  req(4, "fpsimd", () => userRiscv64DExtEntry)
]);
var cpuinfoX86Vendor = enumOf("vendor", { UNKNOWN: 0, INTEL: 1, AMD: 2 });
var cpuinfoX86Entry = message("cpuinfo_x86_entry", [
  req(1, "vendor_id", cpuinfoX86Vendor),
  req(2, "cpu_family", "uint32"),
  req(3, "model", "uint32"),
  req(4, "stepping", "uint32"),
  req(5, "capability_ver", "uint32"),
  rep(6, "capability", "uint32"),
  opt(7, "model_id", "string"),
  opt(8, "xfeatures_mask", "uint64"),
  opt(9, "xsave_size", "uint32"),
  opt(10, "xsave_size_max", "uint32")
]);
var cpuinfoPpc64Endianness = enumOf("endianness", { BIGENDIAN: 0, LITTLEENDIAN: 1 });
var cpuinfoPpc64Entry = message("cpuinfo_ppc64_entry", [
  req(1, "endian", cpuinfoPpc64Endianness),
  rep(2, "hwcap", "uint64")
]);
var cpuinfoS390Entry = message("cpuinfo_s390_entry", [rep(2, "hwcap", "uint64")]);
var cpuinfoEntry = message("cpuinfo_entry", [
  rep(1, "x86_entry", () => cpuinfoX86Entry),
  rep(2, "ppc64_entry", () => cpuinfoPpc64Entry),
  rep(3, "s390_entry", () => cpuinfoS390Entry)
]);

// src/image/schemas/core-x86.ts
var userX86RegsMode = enumOf("user_x86_regs_mode", { NATIVE: 1, COMPAT: 2 });
var USER_X86_REGS = [
  "r15",
  "r14",
  "r13",
  "r12",
  "bp",
  "bx",
  "r11",
  "r10",
  "r9",
  "r8",
  "ax",
  "cx",
  "dx",
  "si",
  "di",
  "orig_ax",
  "ip",
  "cs",
  "flags",
  "sp",
  "ss",
  "fs_base",
  "gs_base",
  "ds",
  "es",
  "fs",
  "gs"
];
var userX86RegsEntry = message("user_x86_regs_entry", [
  ...seq(1, "uint64", USER_X86_REGS),
  opt(28, "mode", userX86RegsMode)
]);
var userX86CetEntry = message("user_x86_cet_entry", [
  req(1, "cet", "uint64", HEX),
  req(2, "ssp", "uint64", HEX)
]);
var userX86XsaveEntry = message("user_x86_xsave_entry", [
  req(1, "xstate_bv", "uint64"),
  rep(2, "ymmh_space", "uint32"),
  rep(3, "bndreg_state", "uint64"),
  rep(4, "bndcsr_state", "uint64"),
  rep(5, "opmask_reg", "uint64"),
  rep(6, "zmm_upper", "uint64"),
  rep(7, "hi16_zmm", "uint64"),
  rep(8, "pkru", "uint32"),
  opt(9, "cet", () => userX86CetEntry)
]);
var userX86FpregsEntry = message("user_x86_fpregs_entry", [
  req(1, "cwd", "uint32"),
  req(2, "swd", "uint32"),
  req(3, "twd", "uint32"),
  req(4, "fop", "uint32"),
  req(5, "rip", "uint64"),
  req(6, "rdp", "uint64"),
  req(7, "mxcsr", "uint32"),
  req(8, "mxcsr_mask", "uint32"),
  rep(9, "st_space", "uint32"),
  rep(10, "xmm_space", "uint32"),
  rep(11, "padding", "uint32"),
  opt(13, "xsave", () => userX86XsaveEntry)
]);
var userDescT = message("user_desc_t", [
  req(1, "entry_number", "uint32"),
  req(2, "base_addr", "uint32"),
  req(3, "limit", "uint32"),
  req(4, "seg_32bit", "bool"),
  req(5, "contents_h", "bool"),
  req(6, "contents_l", "bool"),
  req(7, "read_exec_only", "bool"),
  req(8, "limit_in_pages", "bool"),
  req(9, "seg_not_present", "bool"),
  req(10, "usable", "bool")
]);
var threadInfoX86 = message("thread_info_x86", [
  req(1, "clear_tid_addr", "uint64", HEX),
  req(2, "gpregs", () => userX86RegsEntry, HEX),
  req(3, "fpregs", () => userX86FpregsEntry),
  rep(4, "tls", () => userDescT)
]);

// src/image/schemas/core.ts
var credsEntry = message("creds_entry", [
  req(1, "uid", "uint32"),
  req(2, "gid", "uint32"),
  req(3, "euid", "uint32"),
  req(4, "egid", "uint32"),
  req(5, "suid", "uint32"),
  req(6, "sgid", "uint32"),
  req(7, "fsuid", "uint32"),
  req(8, "fsgid", "uint32"),
  rep(9, "cap_inh", "uint32"),
  rep(10, "cap_prm", "uint32"),
  rep(11, "cap_eff", "uint32"),
  rep(12, "cap_bnd", "uint32"),
  req(13, "secbits", "uint32"),
  rep(14, "groups", "uint32"),
  opt(15, "lsm_profile", "string"),
  opt(16, "lsm_sockcreate", "string"),
  opt(17, "apparmor_data", "bytes"),
  opt(18, "no_new_privs", "uint32"),
  rep(19, "cap_amb", "uint32")
]);
var saEntry = message("sa_entry", [
  req(1, "sigaction", "uint64", HEX),
  req(2, "flags", "uint64", HEX),
  req(3, "restorer", "uint64", HEX),
  req(4, "mask", "uint64", HEX),
  opt(5, "compat_sigaction", "bool"),
  opt(6, "mask_extended", "uint64", HEX)
]);
var siginfoEntry = message("siginfo_entry", [req(1, "siginfo", "bytes")]);
var signalQueueEntry = message("signal_queue_entry", [rep(1, "signals", () => siginfoEntry)]);
var rseqEntry = message("rseq_entry", [
  req(1, "rseq_abi_pointer", "uint64"),
  req(2, "rseq_abi_size", "uint32"),
  req(3, "signature", "uint32"),
  opt(4, "rseq_cs_pointer", "uint64")
]);
var itimerEntry = message("itimer_entry", [
  req(1, "isec", "uint64"),
  req(2, "iusec", "uint64"),
  req(3, "vsec", "uint64"),
  req(4, "vusec", "uint64")
]);
var posixTimerEntry = message("posix_timer_entry", [
  req(1, "it_id", "uint32"),
  req(2, "clock_id", "uint32"),
  req(3, "si_signo", "uint32"),
  req(4, "it_sigev_notify", "uint32"),
  req(5, "sival_ptr", "uint64"),
  req(6, "overrun", "uint32"),
  req(7, "isec", "uint64"),
  req(8, "insec", "uint64"),
  req(9, "vsec", "uint64"),
  req(10, "vnsec", "uint64"),
  opt(11, "notify_thread_id", "int32")
]);
var taskTimersEntry = message("task_timers_entry", [
  req(1, "real", () => itimerEntry),
  req(2, "virt", () => itimerEntry),
  req(3, "prof", () => itimerEntry),
  rep(4, "posix", () => posixTimerEntry)
]);
var rlimitEntry = message("rlimit_entry", [req(1, "cur", "uint64"), req(2, "max", "uint64")]);
var seccompMode = enumOf("seccomp_mode", { disabled: 0, strict: 1, filter: 2 });
var taskCoreEntry = message("task_core_entry", [
  req(1, "task_state", "uint32", { dict: "gen" }),
  req(2, "exit_code", "uint32"),
  req(3, "personality", "uint32"),
  req(4, "flags", "uint32"),
  req(5, "blk_sigset", "uint64", HEX),
  req(6, "comm", "string"),
  opt(7, "timers", () => taskTimersEntry),
  opt(8, "rlimits", () => taskRlimitsEntry),
  opt(9, "cg_set", "uint32"),
  opt(10, "signals_s", () => signalQueueEntry),
  opt(11, "old_seccomp_mode", seccompMode),
  opt(12, "old_seccomp_filter", "uint32"),
  opt(13, "loginuid", "uint32"),
  opt(14, "oom_score_adj", "int32"),
  rep(15, "sigactions", () => saEntry),
  opt(18, "child_subreaper", "bool"),
  opt(20, "blk_sigset_extended", "uint64", HEX),
  opt(21, "stop_signo", "uint32"),
  opt(22, "membarrier_registration_mask", "uint32", HEX)
]);
var taskKobjIdsEntry = message("task_kobj_ids_entry", [
  req(1, "vm_id", "uint32"),
  req(2, "files_id", "uint32"),
  req(3, "fs_id", "uint32"),
  req(4, "sighand_id", "uint32"),
  opt(5, "pid_ns_id", "uint32"),
  opt(6, "net_ns_id", "uint32"),
  opt(7, "ipc_ns_id", "uint32"),
  opt(8, "uts_ns_id", "uint32"),
  opt(9, "mnt_ns_id", "uint32"),
  opt(10, "user_ns_id", "uint32"),
  opt(11, "cgroup_ns_id", "uint32"),
  opt(12, "time_ns_id", "uint32")
]);
var threadSasEntry = message("thread_sas_entry", [
  req(1, "ss_sp", "uint64"),
  req(2, "ss_size", "uint64"),
  req(3, "ss_flags", "uint32")
]);
var threadCoreEntry = message("thread_core_entry", [
  req(1, "futex_rla", "uint64"),
  req(2, "futex_rla_len", "uint32"),
  opt(3, "sched_nice", "sint32"),
  opt(4, "sched_policy", "uint32"),
  opt(5, "sched_prio", "uint32"),
  opt(6, "blk_sigset", "uint64"),
  opt(7, "sas", () => threadSasEntry),
  opt(8, "pdeath_sig", "uint32"),
  opt(9, "signals_p", () => signalQueueEntry),
  opt(10, "creds", () => credsEntry),
  opt(11, "seccomp_mode", seccompMode),
  opt(12, "seccomp_filter", "uint32"),
  opt(13, "comm", "string"),
  opt(14, "blk_sigset_extended", "uint64"),
  opt(15, "rseq_entry", () => rseqEntry),
  opt(16, "cg_set", "uint32")
]);
var taskRlimitsEntry = message("task_rlimits_entry", [rep(1, "rlimits", () => rlimitEntry)]);
var coreMarch = enumOf("march", {
  UNKNOWN: 0,
  X86_64: 1,
  ARM: 2,
  AARCH64: 3,
  PPC64: 4,
  S390: 5,
  MIPS: 6,
  LOONGARCH64: 7,
  RISCV64: 8
});
var coreEntry = message("core_entry", [
  req(1, "mtype", coreMarch),
  opt(2, "thread_info", () => threadInfoX86),
  opt(3, "tc", () => taskCoreEntry),
  opt(4, "ids", () => taskKobjIdsEntry),
  opt(5, "thread_core", () => threadCoreEntry),
  opt(6, "ti_arm", () => threadInfoArm),
  opt(8, "ti_aarch64", () => threadInfoAarch64),
  opt(9, "ti_ppc64", () => threadInfoPpc64),
  opt(10, "ti_s390", () => threadInfoS390),
  opt(11, "ti_mips", () => threadInfoMips),
  opt(12, "ti_loongarch64", () => threadInfoLoongarch64),
  opt(13, "ti_riscv64", () => threadInfoRiscv64)
]);

// src/image/schemas/sockets.ts
var SK = { dict: "sk" };
var skOptsEntry = message("sk_opts_entry", [
  req(1, "so_sndbuf", "uint32"),
  req(2, "so_rcvbuf", "uint32"),
  req(3, "so_snd_tmo_sec", "uint64"),
  req(4, "so_snd_tmo_usec", "uint64"),
  req(5, "so_rcv_tmo_sec", "uint64"),
  req(6, "so_rcv_tmo_usec", "uint64"),
  opt(7, "reuseaddr", "bool"),
  opt(8, "so_priority", "uint32"),
  opt(9, "so_rcvlowat", "uint32"),
  opt(10, "so_mark", "uint32"),
  opt(11, "so_passcred", "bool"),
  opt(12, "so_passsec", "bool"),
  opt(13, "so_dontroute", "bool"),
  opt(14, "so_no_check", "bool"),
  opt(15, "so_bound_dev", "string"),
  rep(16, "so_filter", "fixed64"),
  opt(17, "so_reuseport", "bool"),
  opt(18, "so_broadcast", "bool"),
  opt(19, "so_keepalive", "bool"),
  opt(20, "tcp_keepcnt", "uint32"),
  opt(21, "tcp_keepidle", "uint32"),
  opt(22, "tcp_keepintvl", "uint32"),
  opt(23, "so_oobinline", "uint32"),
  opt(24, "so_linger", "uint32"),
  opt(25, "so_buf_lock", "uint32")
]);
var skShutdown = enumOf("sk_shutdown", { NONE: 0, READ: 1, WRITE: 2, BOTH: 3 });
var tcpOptsEntry = message("tcp_opts_entry", [
  opt(1, "cork", "bool"),
  opt(2, "nodelay", "bool"),
  opt(3, "keepcnt", "uint32"),
  opt(4, "keepidle", "uint32"),
  opt(5, "keepintvl", "uint32")
]);
var tcpStreamEntry = message("tcp_stream_entry", [
  req(1, "inq_len", "uint32"),
  req(2, "inq_seq", "uint32"),
  req(3, "outq_len", "uint32"),
  req(4, "outq_seq", "uint32"),
  req(5, "opt_mask", "uint32", HEX),
  req(6, "snd_wscale", "uint32"),
  req(7, "mss_clamp", "uint32"),
  opt(8, "rcv_wscale", "uint32"),
  opt(9, "timestamp", "uint32"),
  opt(10, "cork", "bool"),
  opt(11, "nodelay", "bool"),
  opt(12, "unsq_len", "uint32"),
  opt(13, "snd_wl1", "uint32"),
  opt(14, "snd_wnd", "uint32"),
  opt(15, "max_window", "uint32"),
  opt(16, "rcv_wnd", "uint32"),
  opt(17, "rcv_wup", "uint32")
]);
var ipOptsRawEntry = message("ip_opts_raw_entry", [
  opt(1, "hdrincl", "bool"),
  opt(2, "nodefrag", "bool"),
  opt(3, "checksum", "bool"),
  rep(4, "icmpv_filter", "uint32")
]);
var ipOptsEntry = message("ip_opts_entry", [
  opt(1, "freebind", "bool"),
  opt(4, "raw", () => ipOptsRawEntry),
  opt(5, "pktinfo", "bool"),
  opt(6, "tos", "uint32"),
  opt(7, "ttl", "uint32")
]);
var inetSkEntry = message("inet_sk_entry", [
  req(1, "id", "uint32"),
  req(2, "ino", "uint32"),
  req(3, "family", "uint32", SK),
  req(4, "type", "uint32", SK),
  req(5, "proto", "uint32", SK),
  req(6, "state", "uint32", SK),
  req(7, "src_port", "uint32"),
  req(8, "dst_port", "uint32"),
  req(9, "flags", "uint32", HEX),
  req(10, "backlog", "uint32"),
  rep(11, "src_addr", "uint32", { ipadd: true }),
  rep(12, "dst_addr", "uint32", { ipadd: true }),
  req(13, "fown", () => fownEntry),
  req(14, "opts", () => skOptsEntry),
  opt(15, "v6only", "bool"),
  opt(16, "ip_opts", () => ipOptsEntry),
  opt(17, "ifname", "string"),
  opt(18, "ns_id", "uint32"),
  opt(19, "shutdown", skShutdown),
  opt(20, "tcp_opts", () => tcpOptsEntry)
]);
var filePermsEntry = message("file_perms_entry", [
  req(1, "mode", "uint32"),
  req(2, "uid", "uint32"),
  req(3, "gid", "uint32")
]);
var unixSkEntry = message("unix_sk_entry", [
  req(1, "id", "uint32"),
  req(2, "ino", "uint32"),
  req(3, "type", "uint32", SK),
  req(4, "state", "uint32", SK),
  req(5, "flags", "uint32", HEX),
  req(6, "uflags", "uint32", HEX),
  req(7, "backlog", "uint32"),
  req(8, "peer", "uint32"),
  req(9, "fown", () => fownEntry),
  req(10, "opts", () => skOptsEntry),
  // an abstract name may hold NULs anywhere: bytes, shown quoted-printable
  req(11, "name", "bytes", { conv: "unix_name" }),
  opt(12, "shutdown", skShutdown),
  opt(13, "file_perms", () => filePermsEntry),
  opt(14, "name_dir", "string"),
  opt(15, "deleted", "bool"),
  opt(16, "ns_id", "uint32"),
  opt(17, "mnt_id", "sint32")
]);
var netlinkSkEntry = message("netlink_sk_entry", [
  req(1, "id", "uint32"),
  req(2, "ino", "uint32"),
  req(3, "protocol", "uint32"),
  req(4, "state", "uint32"),
  req(6, "flags", "uint32", HEX),
  req(7, "portid", "uint32"),
  rep(8, "groups", "uint32"),
  req(9, "dst_portid", "uint32"),
  req(10, "dst_group", "uint32"),
  req(11, "fown", () => fownEntry),
  req(12, "opts", () => skOptsEntry),
  opt(13, "ns_id", "uint32")
]);
var packetMclist = message("packet_mclist", [
  req(1, "index", "uint32"),
  req(2, "type", "uint32"),
  req(3, "addr", "bytes")
]);
var packetRing = message("packet_ring", [
  req(1, "block_size", "uint32"),
  req(2, "block_nr", "uint32"),
  req(3, "frame_size", "uint32"),
  req(4, "frame_nr", "uint32"),
  req(5, "retire_tmo", "uint32"),
  req(6, "sizeof_priv", "uint32"),
  req(7, "features", "uint32")
]);
var packetSockEntry = message("packet_sock_entry", [
  req(1, "id", "uint32"),
  req(2, "type", "uint32"),
  req(3, "protocol", "uint32"),
  req(4, "flags", "uint32", HEX),
  req(5, "ifindex", "uint32"),
  req(6, "fown", () => fownEntry),
  req(7, "opts", () => skOptsEntry),
  req(8, "version", "uint32"),
  req(9, "reserve", "uint32"),
  req(10, "aux_data", "bool"),
  req(11, "orig_dev", "bool"),
  req(12, "vnet_hdr", "bool"),
  req(13, "loss", "bool"),
  req(14, "timestamp", "uint32"),
  req(15, "copy_thresh", "uint32"),
  rep(16, "mclist", () => packetMclist),
  opt(17, "fanout", "uint32"),
  opt(18, "rx_ring", () => packetRing),
  opt(19, "tx_ring", () => packetRing),
  opt(20, "ns_id", "uint32")
]);
var scmEntry = message("scm_entry", [req(1, "type", "uint32"), rep(2, "rights", "uint32")]);
var skPacketEntry = message("sk_packet_entry", [
  req(1, "id_for", "uint32"),
  req(2, "length", "uint32"),
  rep(4, "scm", () => scmEntry)
]);

// src/image/schemas/files.ts
var fdTypes = enumOf("fd_types", {
  UND: 0,
  REG: 1,
  PIPE: 2,
  FIFO: 3,
  INETSK: 4,
  UNIXSK: 5,
  EVENTFD: 6,
  EVENTPOLL: 7,
  INOTIFY: 8,
  SIGNALFD: 9,
  PACKETSK: 10,
  TTY: 11,
  FANOTIFY: 12,
  NETLINKSK: 13,
  NS: 14,
  TUNF: 15,
  EXT: 16,
  TIMERFD: 17,
  MEMFD: 18,
  BPFMAP: 19,
  PIDFD: 20,
  // above any real type; never stored in an image
  CTL_TTY: 65534,
  AUTOFS_PIPE: 65535
});
var fownEntry = message("fown_entry", [
  req(1, "uid", "uint32"),
  req(2, "euid", "uint32"),
  req(3, "signum", "uint32"),
  req(4, "pid_type", "uint32"),
  req(5, "pid", "uint32")
]);
var regFileEntry = message("reg_file_entry", [
  req(1, "id", "uint32"),
  req(2, "flags", "uint32", { flags: "rfile.flags" }),
  req(3, "pos", "uint64"),
  req(5, "fown", () => fownEntry),
  req(6, "name", "string"),
  opt(7, "mnt_id", "sint32"),
  opt(8, "size", "uint64"),
  opt(9, "ext", "bool"),
  opt(10, "mode", "uint32"),
  rep(11, "build_id", "uint32"),
  opt(12, "checksum", "uint32"),
  opt(13, "checksum_config", "uint32"),
  opt(14, "checksum_parameter", "uint32")
]);
var pipeEntry = message("pipe_entry", [
  req(1, "id", "uint32"),
  req(2, "pipe_id", "uint32"),
  req(3, "flags", "uint32", HEX),
  req(4, "fown", () => fownEntry)
]);
var pipeDataEntry = message("pipe_data_entry", [
  req(1, "pipe_id", "uint32"),
  req(2, "bytes", "uint32"),
  opt(3, "size", "uint32")
]);
var fifoEntry = message("fifo_entry", [
  req(1, "id", "uint32"),
  req(2, "pipe_id", "uint32"),
  opt(3, "regf_id", "uint32")
]);
var memfdFileEntry = message("memfd_file_entry", [
  req(1, "id", "uint32"),
  req(2, "flags", "uint32", { flags: "rfile.flags" }),
  req(3, "pos", "uint64"),
  req(4, "fown", () => fownEntry),
  req(5, "inode_id", "uint32")
]);
var memfdInodeEntry = message("memfd_inode_entry", [
  req(1, "name", "string"),
  req(2, "uid", "uint32"),
  req(3, "gid", "uint32"),
  req(4, "size", "uint64"),
  req(5, "shmid", "uint32"),
  req(6, "seals", "uint32", { flags: "seals.flags" }),
  req(7, "inode_id", "uint64"),
  opt(8, "hugetlb_flag", "uint32"),
  opt(9, "mode", "uint32")
]);
var nsFileEntry = message("ns_file_entry", [
  req(1, "id", "uint32"),
  req(2, "ns_id", "uint32"),
  req(3, "ns_cflag", "uint32"),
  req(4, "flags", "uint32")
]);
var extFileEntry = message("ext_file_entry", [
  req(1, "id", "uint32"),
  req(5, "fown", () => fownEntry)
]);
var pidfdEntry = message("pidfd_entry", [
  req(1, "id", "uint32"),
  req(2, "ino", "uint32"),
  req(3, "flags", "uint32"),
  req(4, "nspid", "int32"),
  req(5, "fown", () => fownEntry)
]);
var eventfdFileEntry = message("eventfd_file_entry", [
  req(1, "id", "uint32"),
  req(2, "flags", "uint32"),
  req(3, "fown", () => fownEntry),
  req(4, "counter", "uint64")
]);
var eventpollTfdEntry = message("eventpoll_tfd_entry", [
  req(1, "id", "uint32"),
  req(2, "tfd", "uint32"),
  req(3, "events", "uint32"),
  req(4, "data", "uint64"),
  opt(5, "dev", "uint32"),
  opt(6, "inode", "uint64"),
  opt(7, "pos", "uint64")
]);
var eventpollFileEntry = message("eventpoll_file_entry", [
  req(1, "id", "uint32"),
  req(2, "flags", "uint32"),
  req(3, "fown", () => fownEntry),
  rep(4, "tfd", () => eventpollTfdEntry)
]);
var signalfdEntry = message("signalfd_entry", [
  req(1, "id", "uint32"),
  req(2, "flags", "uint32", HEX),
  req(3, "fown", () => fownEntry),
  req(4, "sigmask", "uint64", HEX)
]);
var timerfdEntry = message("timerfd_entry", [
  req(1, "id", "uint32"),
  req(2, "flags", "uint32", HEX),
  req(3, "fown", () => fownEntry),
  req(4, "clockid", "uint32"),
  req(5, "ticks", "uint64"),
  req(6, "settime_flags", "uint32", HEX),
  req(7, "vsec", "uint64"),
  req(8, "vnsec", "uint64"),
  req(9, "isec", "uint64"),
  req(10, "insec", "uint64")
]);
var fhEntry = message("fh_entry", [
  req(1, "bytes", "uint32"),
  req(2, "type", "uint32"),
  rep(3, "handle", "uint64"),
  opt(4, "path", "string"),
  opt(5, "mnt_id", "uint32")
]);
var irmapCacheEntry = message("irmap_cache_entry", [
  req(1, "dev", "uint32", { dev: true, odev: true }),
  req(2, "inode", "uint64"),
  req(3, "path", "string")
]);
var inotifyWdEntry = message("inotify_wd_entry", [
  req(1, "id", "uint32"),
  req(2, "i_ino", "uint64"),
  req(3, "mask", "uint32", HEX),
  req(4, "ignored_mask", "uint32", HEX),
  req(5, "s_dev", "uint32", { dev: true }),
  req(6, "wd", "uint32"),
  req(7, "f_handle", () => fhEntry)
]);
var inotifyFileEntry = message("inotify_file_entry", [
  req(1, "id", "uint32"),
  req(2, "flags", "uint32", HEX),
  req(4, "fown", () => fownEntry),
  rep(5, "wd", () => inotifyWdEntry)
]);
var markType = enumOf("mark_type", { INODE: 1, MOUNT: 2 });
var fanotifyInodeMarkEntry = message("fanotify_inode_mark_entry", [
  req(1, "i_ino", "uint64"),
  req(2, "f_handle", () => fhEntry)
]);
var fanotifyMountMarkEntry = message("fanotify_mount_mark_entry", [
  req(1, "mnt_id", "uint32"),
  opt(2, "path", "string")
]);
var fanotifyMarkEntry = message("fanotify_mark_entry", [
  req(1, "id", "uint32"),
  req(2, "type", markType),
  req(3, "mflags", "uint32", HEX),
  req(4, "mask", "uint32", HEX),
  req(5, "ignored_mask", "uint32", HEX),
  req(6, "s_dev", "uint32", { dev: true }),
  opt(7, "ie", () => fanotifyInodeMarkEntry),
  opt(8, "me", () => fanotifyMountMarkEntry)
]);
var fanotifyFileEntry = message("fanotify_file_entry", [
  req(1, "id", "uint32"),
  req(2, "flags", "uint32", HEX),
  req(3, "fown", () => fownEntry),
  req(4, "faflags", "uint32", HEX),
  req(5, "evflags", "uint32", HEX),
  rep(6, "mark", () => fanotifyMarkEntry)
]);
var winsizeEntry = message("winsize_entry", [
  req(1, "ws_row", "uint32"),
  req(2, "ws_col", "uint32"),
  req(3, "ws_xpixel", "uint32"),
  req(4, "ws_ypixel", "uint32")
]);
var termiosEntry = message("termios_entry", [
  req(1, "c_iflag", "uint32"),
  req(2, "c_oflag", "uint32"),
  req(3, "c_cflag", "uint32"),
  req(4, "c_lflag", "uint32"),
  req(5, "c_line", "uint32"),
  req(6, "c_ispeed", "uint32"),
  req(7, "c_ospeed", "uint32"),
  rep(8, "c_cc", "uint32")
]);
var ttyPtyEntry = message("tty_pty_entry", [req(1, "index", "uint32")]);
var ttyType = enumOf("TtyType", {
  UNKNOWN: 0,
  PTY: 1,
  CONSOLE: 2,
  VT: 3,
  CTTY: 4,
  EXT_TTY: 5,
  SERIAL: 6
});
var ttyDataEntry = message("tty_data_entry", [req(1, "tty_id", "uint32"), req(2, "data", "bytes")]);
var ttyInfoEntry = message("tty_info_entry", [
  req(1, "id", "uint32"),
  req(2, "type", ttyType),
  req(3, "locked", "bool"),
  req(4, "exclusive", "bool"),
  req(5, "packet_mode", "bool"),
  req(6, "sid", "uint32"),
  req(7, "pgrp", "uint32"),
  req(8, "rdev", "uint32"),
  opt(9, "termios", () => termiosEntry),
  opt(10, "termios_locked", () => termiosEntry),
  opt(11, "winsize", () => winsizeEntry),
  opt(12, "pty", () => ttyPtyEntry),
  opt(13, "dev", "uint32"),
  opt(14, "uid", "uint32"),
  opt(15, "gid", "uint32")
]);
var ttyFileEntry = message("tty_file_entry", [
  req(1, "id", "uint32"),
  req(2, "tty_info_id", "uint32"),
  req(3, "flags", "uint32", HEX),
  req(4, "fown", () => fownEntry),
  opt(6, "regf_id", "uint32")
]);
var tunfileEntry = message("tunfile_entry", [
  req(1, "id", "uint32"),
  opt(2, "netdev", "string"),
  opt(3, "detached", "bool"),
  opt(4, "ns_id", "uint32")
]);
var tunLinkEntry = message("tun_link_entry", [
  req(1, "flags", "uint32", HEX),
  req(2, "owner", "int32"),
  req(3, "group", "int32"),
  req(4, "vnethdr", "uint32"),
  req(5, "sndbuf", "uint32")
]);
var bpfmapFileEntry = message("bpfmap_file_entry", [
  req(1, "id", "uint32"),
  req(2, "flags", "uint32", { flags: "rfile.flags" }),
  req(3, "pos", "uint64"),
  req(4, "fown", () => fownEntry),
  req(5, "map_type", "uint32"),
  req(6, "key_size", "uint32"),
  req(7, "value_size", "uint32"),
  req(8, "map_id", "uint32"),
  req(9, "max_entries", "uint32"),
  req(10, "map_flags", "uint32"),
  req(11, "memlock", "uint64"),
  req(12, "frozen", "bool"),
  req(13, "map_name", "string"),
  req(14, "ifindex", "uint32"),
  opt(15, "mnt_id", "sint32"),
  opt(16, "map_extra", "uint64")
]);
var bpfmapDataEntry = message("bpfmap_data_entry", [
  req(1, "map_id", "uint32"),
  req(2, "keys_bytes", "uint32"),
  req(3, "values_bytes", "uint32"),
  req(4, "count", "uint32")
]);
var remapType = enumOf("remap_type", { LINKED: 0, GHOST: 1, PROCFS: 2 });
var remapFilePathEntry = message("remap_file_path_entry", [
  req(1, "orig_id", "uint32"),
  req(2, "remap_id", "uint32"),
  opt(3, "remap_type", remapType)
]);
var timeval = message("timeval", [req(1, "tv_sec", "uint64"), req(2, "tv_usec", "uint64")]);
var ghostFileEntry = message("ghost_file_entry", [
  req(1, "uid", "uint32"),
  req(2, "gid", "uint32"),
  req(3, "mode", "uint32"),
  opt(4, "dev", "uint32", { dev: true }),
  opt(5, "ino", "uint64"),
  opt(6, "rdev", "uint32", { dev: true, odev: true }),
  opt(7, "atim", () => timeval),
  opt(8, "mtim", () => timeval),
  opt(9, "chunks", "bool"),
  opt(10, "size", "uint64"),
  opt(11, "symlnk_target", "string")
]);
var ghostChunkEntry = message("ghost_chunk_entry", [
  req(1, "len", "uint64"),
  req(2, "off", "uint64")
]);
var fileLockEntry = message("file_lock_entry", [
  req(1, "flag", "uint32"),
  req(2, "type", "uint32"),
  req(3, "pid", "int32"),
  req(4, "fd", "int32"),
  req(5, "start", "int64"),
  req(6, "len", "int64")
]);
var fdinfoEntry = message("fdinfo_entry", [
  req(1, "id", "uint32"),
  req(2, "flags", "uint32"),
  req(3, "type", fdTypes),
  req(4, "fd", "uint32"),
  opt(5, "xattr_security_selinux", "string")
]);
var fileEntry = message("file_entry", [
  req(1, "type", fdTypes),
  req(2, "id", "uint32"),
  opt(3, "reg", () => regFileEntry),
  opt(4, "isk", () => inetSkEntry),
  opt(5, "nsf", () => nsFileEntry),
  opt(6, "psk", () => packetSockEntry),
  opt(7, "nlsk", () => netlinkSkEntry),
  opt(8, "efd", () => eventfdFileEntry),
  opt(9, "epfd", () => eventpollFileEntry),
  opt(10, "sgfd", () => signalfdEntry),
  opt(11, "tunf", () => tunfileEntry),
  opt(12, "tfd", () => timerfdEntry),
  opt(13, "ify", () => inotifyFileEntry),
  opt(14, "ffy", () => fanotifyFileEntry),
  opt(15, "ext", () => extFileEntry),
  opt(16, "usk", () => unixSkEntry),
  opt(17, "fifo", () => fifoEntry),
  opt(18, "pipe", () => pipeEntry),
  opt(19, "tty", () => ttyFileEntry),
  opt(20, "memfd", () => memfdFileEntry),
  opt(21, "bpf", () => bpfmapFileEntry),
  opt(22, "pidfd", () => pidfdEntry)
]);

// src/image/schemas/inventory.ts
var lsmtype = enumOf("lsmtype", { NO_LSM: 0, SELINUX: 1, APPARMOR: 2 });
var pluginsEntry = message("plugins_entry", [rep(12, "plugins", "string")]);
var inventoryEntry = message("inventory_entry", [
  req(1, "img_version", "uint32"),
  opt(2, "fdinfo_per_id", "bool"),
  opt(3, "root_ids", () => taskKobjIdsEntry),
  opt(4, "ns_per_id", "bool"),
  opt(5, "root_cg_set", "uint32"),
  opt(6, "lsmtype", lsmtype),
  opt(8, "dump_uptime", "uint64"),
  opt(9, "pre_dump_mode", "uint32"),
  opt(10, "tcp_close", "bool"),
  opt(11, "network_lock_method", "uint32"),
  opt(12, "plugins_entry", () => pluginsEntry),
  opt(13, "dump_criu_run_id", "string"),
  opt(14, "allow_uprobes", "bool")
]);

// src/image/schemas/mm.ts
var vmaEntry = message("vma_entry", [
  req(1, "start", "uint64", HEX),
  req(2, "end", "uint64", HEX),
  req(3, "pgoff", "uint64"),
  req(4, "shmid", "uint64"),
  req(5, "prot", "uint32", { flags: "mmap.prot" }),
  req(6, "flags", "uint32", { flags: "mmap.flags" }),
  req(7, "status", "uint32", { flags: "mmap.status" }),
  // unused since the execve restore model went away; -1
  req(8, "fd", "sint64"),
  opt(9, "madv", "uint64", HEX),
  opt(10, "fdflags", "uint32", HEX)
]);
var aioRingEntry = message("aio_ring_entry", [
  req(1, "id", "uint64"),
  req(2, "nr_req", "uint32"),
  req(3, "ring_len", "uint32")
]);
var mmEntry = message("mm_entry", [
  req(1, "mm_start_code", "uint64", HEX),
  req(2, "mm_end_code", "uint64", HEX),
  req(3, "mm_start_data", "uint64", HEX),
  req(4, "mm_end_data", "uint64", HEX),
  req(5, "mm_start_stack", "uint64", HEX),
  req(6, "mm_start_brk", "uint64", HEX),
  req(7, "mm_brk", "uint64", HEX),
  req(8, "mm_arg_start", "uint64", HEX),
  req(9, "mm_arg_end", "uint64", HEX),
  req(10, "mm_env_start", "uint64", HEX),
  req(11, "mm_env_end", "uint64", HEX),
  req(12, "exe_file_id", "uint32"),
  rep(13, "mm_saved_auxv", "uint64"),
  rep(14, "vmas", () => vmaEntry),
  opt(15, "dumpable", "int32"),
  rep(16, "aios", () => aioRingEntry),
  opt(17, "thp_disabled", "bool")
]);

// src/image/schemas/mnt.ts
var fstype = enumOf("fstype", {
  UNSUPPORTED: 0,
  PROC: 1,
  SYSFS: 2,
  DEVTMPFS: 3,
  BINFMT_MISC: 4,
  TMPFS: 5,
  DEVPTS: 6,
  SIMFS: 7,
  PSTORE: 8,
  SECURITYFS: 9,
  FUSECTL: 10,
  DEBUGFS: 11,
  CGROUP: 12,
  AUFS: 13,
  MQUEUE: 14,
  FUSE: 15,
  AUTO: 16,
  OVERLAYFS: 17,
  AUTOFS: 18,
  TRACEFS: 19,
  CGROUP2: 23
});
var mntEntry = message("mnt_entry", [
  req(1, "fstype", "uint32"),
  req(2, "mnt_id", "uint32"),
  req(3, "root_dev", "uint32", { dev: true }),
  req(4, "parent_mnt_id", "uint32"),
  req(5, "flags", "uint32", HEX),
  req(6, "root", "string"),
  req(7, "mountpoint", "string"),
  req(8, "source", "string"),
  req(9, "options", "string"),
  opt(10, "shared_id", "uint32"),
  opt(11, "master_id", "uint32"),
  opt(12, "with_plugin", "bool"),
  opt(13, "ext_mount", "bool"),
  opt(14, "fsname", "string"),
  opt(15, "internal_sharing", "bool"),
  opt(16, "deleted", "bool"),
  opt(17, "sb_flags", "uint32", HEX),
  opt(18, "ext_key", "string")
]);
var cgroupPerms = message("cgroup_perms", [
  req(1, "mode", "uint32"),
  req(2, "uid", "uint32"),
  req(3, "gid", "uint32")
]);
var cgroupPropEntry = message("cgroup_prop_entry", [
  req(1, "name", "string"),
  req(2, "value", "string"),
  opt(3, "perms", () => cgroupPerms)
]);
var cgroupDirEntry = message("cgroup_dir_entry", [
  req(1, "dir_name", "string"),
  rep(2, "children", () => cgroupDirEntry),
  rep(3, "properties", () => cgroupPropEntry),
  opt(4, "dir_perms", () => cgroupPerms)
]);
var cgControllerEntry = message("cg_controller_entry", [
  rep(1, "cnames", "string"),
  rep(2, "dirs", () => cgroupDirEntry),
  opt(3, "is_threaded", "bool")
]);
var cgMemberEntry = message("cg_member_entry", [
  req(1, "name", "string"),
  req(2, "path", "string"),
  opt(3, "cgns_prefix", "uint32")
]);
var cgSetEntry = message("cg_set_entry", [
  req(1, "id", "uint32"),
  rep(2, "ctls", () => cgMemberEntry)
]);
var cgroupEntry = message("cgroup_entry", [
  rep(1, "sets", () => cgSetEntry),
  rep(2, "controllers", () => cgControllerEntry)
]);
var autofsEntry = message("autofs_entry", [
  req(1, "fd", "int32"),
  req(2, "pgrp", "int32"),
  req(3, "timeout", "int32"),
  req(4, "minproto", "int32"),
  req(5, "maxproto", "int32"),
  req(6, "mode", "int32"),
  opt(7, "uid", "int32"),
  opt(8, "gid", "int32"),
  opt(9, "read_fd", "int32")
]);
var binfmtMiscEntry = message("binfmt_misc_entry", [
  req(1, "name", "string"),
  req(2, "enabled", "bool"),
  req(3, "interpreter", "string"),
  opt(4, "flags", "string"),
  opt(5, "extension", "string"),
  opt(6, "magic", "string"),
  opt(7, "mask", "string"),
  opt(8, "offset", "int32")
]);

// src/image/schemas/net.ts
var IP = { ipadd: true };
var sysctlType = enumOf("SysctlType", { CTL_STR: 5, CTL_32: 6 });
var sysctlEntry = message("sysctl_entry", [
  req(1, "type", sysctlType),
  opt(2, "iarg", "int32"),
  opt(3, "sarg", "string")
]);
var macvlanLinkEntry = message("macvlan_link_entry", [
  req(1, "mode", "uint32"),
  opt(2, "flags", "uint32")
]);
var sitEntry = message("sit_entry", [
  opt(1, "link", "uint32"),
  rep(2, "local", "uint32", IP),
  rep(3, "remote", "uint32", IP),
  opt(4, "ttl", "uint32"),
  opt(5, "tos", "uint32"),
  opt(6, "pmtudisc", "bool"),
  opt(7, "proto", "uint32"),
  opt(8, "flags", "uint32"),
  opt(9, "encap_type", "uint32"),
  opt(10, "encap_flags", "uint32"),
  opt(11, "encap_sport", "uint32"),
  opt(12, "encap_dport", "uint32"),
  opt(13, "rd_prefixlen", "uint32"),
  rep(14, "rd_prefix", "uint32", IP),
  opt(15, "relay_prefixlen", "uint32"),
  rep(16, "relay_prefix", "uint32", IP)
]);
var ndType = enumOf("nd_type", {
  LOOPBACK: 1,
  VETH: 2,
  TUN: 3,
  EXTLINK: 4,
  VENET: 5,
  BRIDGE: 6,
  MACVLAN: 7,
  SIT: 8
});
var netDeviceEntry = message("net_device_entry", [
  req(1, "type", ndType),
  req(2, "ifindex", "uint32"),
  req(3, "mtu", "uint32"),
  req(4, "flags", "uint32", HEX),
  req(5, "name", "string"),
  opt(6, "tun", () => tunLinkEntry),
  opt(7, "address", "bytes"),
  rep(8, "conf", "int32"),
  rep(9, "conf4", () => sysctlEntry),
  rep(10, "conf6", () => sysctlEntry),
  opt(11, "macvlan", () => macvlanLinkEntry),
  opt(12, "peer_ifindex", "uint32"),
  opt(13, "peer_nsid", "uint32"),
  opt(14, "master", "uint32"),
  opt(15, "sit", () => sitEntry)
]);
var netnsId = message("netns_id", [
  req(1, "target_ns_id", "uint32"),
  req(2, "netnsid_value", "int32")
]);
var netnsEntry = message("netns_entry", [
  rep(1, "def_conf", "int32"),
  rep(2, "all_conf", "int32"),
  rep(3, "def_conf4", () => sysctlEntry),
  rep(4, "all_conf4", () => sysctlEntry),
  rep(5, "def_conf6", () => sysctlEntry),
  rep(6, "all_conf6", () => sysctlEntry),
  rep(7, "nsids", () => netnsId),
  opt(8, "ext_key", "string"),
  rep(9, "unix_conf", () => sysctlEntry),
  rep(10, "ipv4_sysctl", () => sysctlEntry)
]);

// src/image/schemas/pagemap.ts
var pagemapHead = message("pagemap_head", [
  { no: 1, name: "pages_id", type: "uint32", label: "required" }
]);
var pagemapEntry = message("pagemap_entry", [
  { no: 1, name: "vaddr", type: "uint64", label: "required", hex: true },
  { no: 2, name: "compat_nr_pages", type: "uint32", label: "required" },
  { no: 3, name: "in_parent", type: "bool", label: "optional" },
  { no: 4, name: "flags", type: "uint32", label: "optional", flags: "pmap.flags" },
  { no: 5, name: "nr_pages", type: "uint64", label: "optional" }
]);

// src/image/schemas/task.ts
var pstreeEntry = message("pstree_entry", [
  req(1, "pid", "uint32"),
  req(2, "ppid", "uint32"),
  req(3, "pgid", "uint32"),
  req(4, "sid", "uint32"),
  rep(5, "threads", "uint32")
]);
var fsEntry = message("fs_entry", [
  req(1, "cwd_id", "uint32"),
  req(2, "root_id", "uint32"),
  opt(3, "umask", "uint32")
]);
var seccompFilter = message("seccomp_filter", [
  req(1, "filter", "bytes"),
  opt(2, "prev", "uint32"),
  opt(3, "flags", "uint32")
]);
var seccompEntry = message("seccomp_entry", [rep(1, "seccomp_filters", () => seccompFilter)]);
var dumpStatsEntry = message("dump_stats_entry", [
  req(1, "freezing_time", "uint32"),
  req(2, "frozen_time", "uint32"),
  req(3, "memdump_time", "uint32"),
  req(4, "memwrite_time", "uint32"),
  req(5, "pages_scanned", "uint64"),
  req(6, "pages_skipped_parent", "uint64"),
  req(7, "pages_written", "uint64"),
  opt(8, "irmap_resolve", "uint32"),
  req(9, "pages_lazy", "uint64"),
  opt(10, "page_pipes", "uint64"),
  opt(11, "page_pipe_bufs", "uint64"),
  opt(12, "shpages_scanned", "uint64"),
  opt(13, "shpages_skipped_parent", "uint64"),
  opt(14, "shpages_written", "uint64")
]);
var restoreStatsEntry = message("restore_stats_entry", [
  req(1, "pages_compared", "uint64"),
  req(2, "pages_skipped_cow", "uint64"),
  req(3, "forking_time", "uint32"),
  req(4, "restore_time", "uint32"),
  opt(5, "pages_restored", "uint64")
]);
var statsEntry = message("stats_entry", [
  opt(1, "dump", () => dumpStatsEntry),
  opt(2, "restore", () => restoreStatsEntry)
]);
var timespec = message("timespec", [req(1, "tv_sec", "uint64"), req(2, "tv_nsec", "uint64")]);
var timensEntry = message("timens_entry", [
  req(1, "monotonic", () => timespec),
  req(2, "boottime", () => timespec)
]);
var utsnsEntry = message("utsns_entry", [
  req(1, "nodename", "string"),
  req(2, "domainname", "string")
]);
var pidnsEntry = message("pidns_entry", [opt(1, "ext_key", "string")]);
var uidGidExtent = message("uid_gid_extent", [
  req(1, "first", "uint32"),
  req(2, "lower_first", "uint32"),
  req(3, "count", "uint32")
]);
var usernsEntry = message("userns_entry", [
  rep(1, "uid_map", () => uidGidExtent),
  rep(2, "gid_map", () => uidGidExtent)
]);
var aaPolicy = message("aa_policy", [req(1, "name", "string"), req(2, "blob", "bytes")]);
var aaNamespace = message("aa_namespace", [
  req(1, "name", "string"),
  rep(2, "policies", () => aaPolicy),
  rep(3, "namespaces", () => aaNamespace)
]);
var apparmorEntry = message("apparmor_entry", [rep(1, "namespaces", () => aaNamespace)]);

// src/image/schemas/index.ts
var one = (entry) => ({ entry });
var IMAGE_SCHEMAS = {
  INVENTORY: one(inventoryEntry),
  CORE: one(coreEntry),
  IDS: one(taskKobjIdsEntry),
  CREDS: one(credsEntry),
  UTSNS: one(utsnsEntry),
  TIMENS: one(timensEntry),
  PIDNS: one(pidnsEntry),
  IPC_VAR: one(ipcVarEntry),
  FS: one(fsEntry),
  MM: one(mmEntry),
  CGROUP: one(cgroupEntry),
  STATS: one(statsEntry),
  PAGEMAP: { head: pagemapHead, entry: pagemapEntry },
  PSTREE: one(pstreeEntry),
  REG_FILES: one(regFileEntry),
  NS_FILES: one(nsFileEntry),
  EVENTFD_FILE: one(eventfdFileEntry),
  EVENTPOLL_FILE: one(eventpollFileEntry),
  EVENTPOLL_TFD: one(eventpollTfdEntry),
  SIGNALFD: one(signalfdEntry),
  TIMERFD: one(timerfdEntry),
  INOTIFY_FILE: one(inotifyFileEntry),
  INOTIFY_WD: one(inotifyWdEntry),
  FANOTIFY_FILE: one(fanotifyFileEntry),
  FANOTIFY_MARK: one(fanotifyMarkEntry),
  VMAS: one(vmaEntry),
  PIPES: one(pipeEntry),
  FIFO: one(fifoEntry),
  SIGACT: one(saEntry),
  NETLINK_SK: one(netlinkSkEntry),
  REMAP_FPATH: one(remapFilePathEntry),
  MNTS: one(mntEntry),
  TTY_FILES: one(ttyFileEntry),
  TTY_INFO: one(ttyInfoEntry),
  TTY_DATA: one(ttyDataEntry),
  RLIMIT: one(rlimitEntry),
  TUNFILE: one(tunfileEntry),
  EXT_FILES: one(extFileEntry),
  IRMAP_CACHE: one(irmapCacheEntry),
  FILE_LOCKS: one(fileLockEntry),
  FDINFO: one(fdinfoEntry),
  UNIXSK: one(unixSkEntry),
  INETSK: one(inetSkEntry),
  PACKETSK: one(packetSockEntry),
  ITIMERS: one(itimerEntry),
  POSIX_TIMERS: one(posixTimerEntry),
  NETDEV: one(netDeviceEntry),
  NETNS: one(netnsEntry),
  USERNS: one(usernsEntry),
  SECCOMP: one(seccompEntry),
  AUTOFS: one(autofsEntry),
  FILES: one(fileEntry),
  CPUINFO: one(cpuinfoEntry),
  MEMFD_INODE: one(memfdInodeEntry),
  BPFMAP_FILE: one(bpfmapFileEntry),
  APPARMOR: one(apparmorEntry),
  // entries followed by raw data (../extra.ts); a ghost file with chunks has chunk entries after it
  PIPES_DATA: one(pipeDataEntry),
  FIFO_DATA: one(pipeDataEntry),
  SK_QUEUES: one(skPacketEntry),
  TCP_STREAM: one(tcpStreamEntry),
  GHOST_FILE: { head: ghostFileEntry, entry: ghostChunkEntry },
  IPCNS_SHM: one(ipcShmEntry),
  IPCNS_SEM: one(ipcSemEntry),
  IPCNS_MSG: one(ipcMsgEntry),
  BPFMAP_DATA: one(bpfmapDataEntry),
  // CRIU reads these too, though crit 4.2 has no handler for them
  SIGNAL: one(siginfoEntry),
  BINFMT_MISC: one(binfmtMiscEntry),
  PIDFD: one(pidfdEntry)
};

// src/image/image.ts
function schemaForEntry(magic, index) {
  const s = Object.hasOwn(IMAGE_SCHEMAS, magic) ? IMAGE_SCHEMAS[magic] : void 0;
  if (!s) return RAW_MESSAGE;
  return index === 0 && s.head ? s.head : s.entry;
}
function readFraming(buf) {
  if (buf.length < 4) {
    throw new ImageFormatError(`truncated header: ${buf.length} bytes, expected at least 4 (the magic)`, 0);
  }
  const first = u32le(buf, 0);
  if (first === IMG_COMMON_MAGIC || first === IMG_SERVICE_MAGIC) {
    if (buf.length < 8) {
      throw new ImageFormatError(
        `truncated header: ${buf.length} bytes, expected 8 (common magic + type magic)`,
        0
      );
    }
    const type = u32le(buf, 4);
    const name2 = magicName(type);
    if (!name2) throw new ImageFormatError(`unknown image magic 0x${type.toString(16).padStart(8, "0")}`, 4);
    return { magic: name2, framing: first === IMG_COMMON_MAGIC ? "common" : "service", start: 8 };
  }
  const name = magicName(first);
  if (name === "INVENTORY") return { magic: name, framing: "inventory", start: 4 };
  if (name) return { magic: name, framing: "v1", start: 4 };
  if (first === 0) {
    throw new RawImageError("raw image (no magic): this looks like a pages file", 0);
  }
  throw new ImageFormatError(
    `unknown magic 0x${first.toString(16).padStart(8, "0")}, expected a CRIU image (0x${IMG_COMMON_MAGIC.toString(16)} ...)`,
    0
  );
}
function forEachEntry(buf, start, fn) {
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
function entryLength(buf, off, i) {
  if (buf.length - off < 4) {
    throw new ImageFormatError(
      `truncated entry header: ${buf.length - off} bytes left, expected a 4-byte length`,
      off
    );
  }
  const len = u32le(buf, off);
  if (len > buf.length - off - 4) {
    throw new ImageFormatError(
      `entry ${i} claims ${len} bytes but only ${buf.length - off - 4} remain in the file`,
      off
    );
  }
  return len;
}
function decodeImage(buf) {
  const { magic, framing, start } = readFraming(buf);
  const codec = extraCodec(magic);
  if (codec) return { magic, framing, ...decodeWithExtra(buf, start, magic, codec) };
  const entries = [];
  forEachEntry(buf, start, (s, e, i) => {
    entries.push(decodeMessage(schemaForEntry(magic, i), buf, s, e, 0));
  });
  return { magic, framing, entries };
}
function decodeWithExtra(buf, start, magic, codec) {
  const entries = [];
  const extra = [];
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
function encodeImage(img) {
  const value = Object.hasOwn(MAGICS, img.magic) ? MAGICS[img.magic] : void 0;
  if (value === void 0) throw new ImageJsonError(`unknown magic '${img.magic}'`, "$.magic");
  const parts = [];
  const framing = img.framing === "v1" ? "v1" : framingOf(img.magic);
  const header = new Uint8Array(framing === "common" || framing === "service" ? 8 : 4);
  if (framing === "common" || framing === "service") {
    putU32le(header, 0, framing === "common" ? IMG_COMMON_MAGIC : IMG_SERVICE_MAGIC);
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
function imageToJson(img, pretty) {
  const codec = extraCodec(img.magic);
  return {
    magic: img.magic,
    entries: img.entries.map((m, i) => {
      const json = messageToJson(schemaForEntry(img.magic, i), m, pretty);
      return codec ? codec.toJson(json, img.extra?.[i]) : json;
    })
  };
}
function imageFromJson(doc) {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc) || typeof doc === "bigint") {
    throw new ImageJsonError('expected an object {"magic": ..., "entries": [...]}', "$");
  }
  const magic = doc["magic"];
  if (typeof magic !== "string")
    throw new ImageJsonError("expected the image magic name as a string", "$.magic");
  if (!Object.hasOwn(MAGICS, magic)) throw new ImageJsonError(`unknown magic '${magic}'`, "$.magic");
  const entries = doc["entries"];
  if (!Array.isArray(entries)) throw new ImageJsonError("expected an array of entries", "$.entries");
  const codec = extraCodec(magic);
  return {
    magic,
    framing: framingOf(magic),
    entries: entries.map(
      (e, i) => messageFromJson(schemaForEntry(magic, i), codec ? codec.withoutExtra(e) : e, `$.entries[${i}]`)
    ),
    ...codec && { extra: codec.fromJson(entries) }
  };
}
function decodeToJsonText(buf, pretty) {
  return stringifyJson(imageToJson(decodeImage(buf), pretty), pretty);
}
function encodeFromJsonText(text) {
  return encodeImage(imageFromJson(parseJson(text)));
}

export {
  WireReader,
  u32le,
  putU32le,
  decodeMessage,
  encodeMessage,
  formatFlags,
  messageToJson,
  quoteJson,
  stringifyJson,
  USER_X86_REGS,
  IMAGE_SCHEMAS,
  schemaForEntry,
  readFraming,
  forEachEntry,
  entryLength,
  decodeImage,
  encodeImage,
  decodeToJsonText,
  encodeFromJsonText
};
