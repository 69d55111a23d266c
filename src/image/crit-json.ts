/**
 * crit's JSON mapping of messages (pycriu `pb2dict`), both ways.
 *
 * Plain: fields in field-number order, integers as JSON numbers (exact, also above 2^53), enums by
 * name, bytes as base64 in Python's `encodebytes` layout (76-character lines, each ending "\n").
 * Pretty (`crit --pretty`): fields marked `(criu).hex` — and everything nested under them — as
 * "0x..." strings, `(criu).flags` as "A | B | 0x..", `(criu).dev` as "major:minor",
 * `(criu).dict` values by name, `(criu).ipadd` arrays as one address string.
 *
 * The reverse accepts both forms (and numbers or strings for any integer), so `decode --pretty`
 * output encodes back to the same bytes.
 */
import { ImageJsonError } from '../errors.js';
import type { JsonValue } from './jsontext.js';
import {
  type FieldSchema,
  fieldByName,
  isSixtyFourBit,
  type Message,
  type MessageSchema,
  type ScalarValue,
  UNKNOWN,
  type UnknownField,
} from './schema.js';
import type { WireType } from './wire.js';

type FlagsTable = readonly (readonly [string, number])[];

const FLAG_TABLES: Record<string, FlagsTable> = {
  'mmap.prot': [
    ['PROT_READ', 0x1],
    ['PROT_WRITE', 0x2],
    ['PROT_EXEC', 0x4],
  ],
  'mmap.flags': [
    ['MAP_SHARED', 0x1],
    ['MAP_PRIVATE', 0x2],
    ['MAP_DROPPABLE', 0x08],
    ['MAP_ANON', 0x20],
    ['MAP_GROWSDOWN', 0x0100],
  ],
  'mmap.status': [
    ['VMA_AREA_NONE', 0],
    ['VMA_AREA_REGULAR', 1 << 0],
    ['VMA_AREA_STACK', 1 << 1],
    ['VMA_AREA_VSYSCALL', 1 << 2],
    ['VMA_AREA_VDSO', 1 << 3],
    ['VMA_AREA_HEAP', 1 << 5],
    ['VMA_FILE_PRIVATE', 1 << 6],
    ['VMA_FILE_SHARED', 1 << 7],
    ['VMA_ANON_SHARED', 1 << 8],
    ['VMA_ANON_PRIVATE', 1 << 9],
    ['VMA_AREA_SYSVIPC', 1 << 10],
    ['VMA_AREA_SOCKET', 1 << 11],
    ['VMA_AREA_VVAR', 1 << 12],
    ['VMA_AREA_AIORING', 1 << 13],
    ['VMA_AREA_MEMFD', 1 << 14],
    ['VMA_AREA_SHSTK', 1 << 15],
    ['VMA_AREA_UPROBES', 1 << 17],
    ['VMA_UNSUPP', 2 ** 31],
  ],
  'rfile.flags': [
    ['O_WRONLY', 0o1],
    ['O_RDWR', 0o2],
    ['O_CREAT', 0o100],
    ['O_EXCL', 0o200],
    ['O_NOCTTY', 0o400],
    ['O_TRUNC', 0o1000],
    ['O_APPEND', 0o2000],
    ['O_NONBLOCK', 0o4000],
    ['O_DSYNC', 0o10000],
    ['FASYNC', 0o20000],
    ['O_DIRECT', 0o40000],
    ['O_LARGEFILE', 0o100000],
    ['O_DIRECTORY', 0o200000],
    ['O_NOFOLLOW', 0o400000],
    ['O_NOATIME', 0o1000000],
    ['O_CLOEXEC', 0o2000000],
  ],
  'pmap.flags': [
    ['PE_PARENT', 1],
    ['PE_LAZY', 2],
    ['PE_PRESENT', 4],
  ],
  'seals.flags': [
    ['F_SEAL_SEAL', 0x1],
    ['F_SEAL_SHRINK', 0x2],
    ['F_SEAL_GROW', 0x4],
    ['F_SEAL_WRITE', 0x8],
    ['F_SEAL_FUTURE_WRITE', 0x10],
  ],
};

const DICT_TABLES: Record<string, Record<string, Record<number, string>>> = {
  gen: { task_state: { 1: 'Alive', 3: 'Zombie', 6: 'Stopped' } },
  sk: {
    family: { 1: 'UNIX', 2: 'INET', 10: 'INET6', 16: 'NETLINK', 17: 'PACKET' },
    type: { 1: 'STREAM', 2: 'DGRAM', 3: 'RAW', 5: 'SEQPACKET', 10: 'PACKET' },
    state: {
      1: 'ESTABLISHED',
      2: 'SYN_SENT',
      3: 'SYN_RECV',
      4: 'FIN_WAIT1',
      5: 'FIN_WAIT2',
      6: 'TIME_WAIT',
      7: 'CLOSE',
      8: 'CLOSE_WAIT',
      9: 'LAST_ACK',
      10: 'LISTEN',
    },
    proto: { 0: 'IP', 6: 'TCP', 17: 'UDP', 136: 'UDPLITE' },
  },
};

/** Formats flags the way crit does: known names joined by " | ", leftover bits as hex. */
export function formatFlags(value: number | bigint, table: string): string {
  const t = FLAG_TABLES[table];
  let rest = BigInt(value);
  if (!t) return `0x${rest.toString(16)}`;
  const names: string[] = [];
  let all = 0n;
  for (const [name, bit] of t) {
    const b = BigInt(bit);
    all |= b;
    if (BigInt(value) & b) names.push(name);
  }
  rest &= ~all;
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.join(' | ');
}

function parseFlags(text: string, table: string, path: string): bigint {
  if (text === '') return 0n;
  const t = FLAG_TABLES[table];
  let v = 0n;
  for (const part of text.split('|').map((s) => s.trim())) {
    const known = t?.find(([n]) => n === part);
    if (known) v += BigInt(known[1]);
    else v += parseIntLiteral(part, path);
  }
  return v;
}

/** Python's int(s, 0): decimal, 0x.., 0o.., 0b.., with optional sign and underscores. */
function parseIntLiteral(s: string, path: string): bigint {
  const t = s.trim().replace(/_/g, '');
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0|[1-9][0-9]*)$/.exec(t);
  if (!m) throw new ImageJsonError(`expected an integer, got ${JSON.stringify(s)}`, path);
  const body = m[2]!;
  const v = BigInt(/^0[oO]/.test(body) ? `0o${body.slice(2)}` : body);
  return m[1] === '-' ? -v : v;
}

// ---------------------------------------------------------------------------------------------
// base64 as Python's base64.encodebytes / decodebytes

const B64 = new TextEncoder().encode('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
const ascii = new TextDecoder();

/**
 * Python's base64.encodebytes layout: 76-character lines, each ending "\n" (also the last one).
 * Written as bytes and decoded once: payloads of many MiB (ghost files, pipe data) stay fast.
 */
export function encodeBytesPython(b: Uint8Array): string {
  const groups = Math.ceil(b.length / 3);
  const out = new Uint8Array(groups * 4 + Math.ceil(groups / 19));
  let o = 0;
  let g = 0;
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    out[o++] = B64[n >>> 18]!;
    out[o++] = B64[(n >>> 12) & 63]!;
    out[o++] = i + 1 < b.length ? B64[(n >>> 6) & 63]! : 0x3d;
    out[o++] = i + 2 < b.length ? B64[n & 63]! : 0x3d;
    // 19 groups of 4 characters make a 76-character line
    if (++g === 19 || i + 3 >= b.length) {
      out[o++] = 0x0a;
      g = 0;
    }
  }
  return ascii.decode(out);
}

export function decodeBytesPython(s: string, path: string): Uint8Array {
  const clean = s.replace(/[\n\r \t]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new ImageJsonError('expected base64 data', path);
  }
  const bin = atob(clean.padEnd(Math.ceil(clean.length / 4) * 4, '='));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------------------------------------
// quoted-printable as Python's quopri.encodestring / decodestring (binascii b2a_qp / a2b_qp), which
// crit uses for fields marked `(criu).conv = "unix_name"` (unix socket names)

const HEXU = '0123456789ABCDEF';
const QP_MAX_LINE = 76;

export function encodeQuopri(b: Uint8Array): string {
  const n = b.length;
  const nl = b.indexOf(10);
  const crlf = nl > 0 && b[nl - 1] === 13;
  const eol = crlf ? '\r\n' : '\n';
  let out = '';
  let lineLen = 0;
  for (let i = 0; i < n; ) {
    const c = b[i]!;
    const next = i + 1 < n ? b[i + 1] : undefined;
    const quote =
      c > 126 ||
      c === 0x3d ||
      (c === 0x2e && lineLen === 0 && (next === undefined || next === 10 || next === 13 || next === 0)) ||
      ((c === 9 || c === 32) && next === undefined) ||
      (c < 33 && c !== 13 && c !== 10 && c !== 9 && c !== 32);
    if (quote) {
      if (lineLen + 3 >= QP_MAX_LINE) {
        out += `=${eol}`;
        lineLen = 0;
      }
      out += `=${HEXU[c >> 4]}${HEXU[c & 15]}`;
      i++;
      lineLen += 3;
    } else if (c === 10 || (c === 13 && next === 10)) {
      lineLen = 0;
      // whitespace at the end of a line is protected
      const last = out.charCodeAt(out.length - 1);
      if (out.length > 0 && (last === 32 || last === 9)) {
        out = `${out.slice(0, -1)}=${HEXU[last >> 4]}${HEXU[last & 15]}`;
      }
      out += eol;
      i += c === 13 ? 2 : 1;
    } else {
      if (next !== undefined && next !== 10 && lineLen + 1 >= QP_MAX_LINE) {
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

export function decodeQuopri(s: string, path: string): Uint8Array {
  const out: number[] = [];
  const isHexDigit = (c: string | undefined): boolean => c !== undefined && /^[0-9A-Fa-f]$/.test(c);
  for (let i = 0; i < s.length; ) {
    const code = s.charCodeAt(i);
    if (code > 127) throw new ImageJsonError('expected ASCII quoted-printable text', path);
    if (s[i] !== '=') {
      out.push(code);
      i++;
      continue;
    }
    i++;
    if (i >= s.length) break;
    const c = s[i];
    if (c === '\n' || c === '\r') {
      // soft line break
      while (i < s.length && s[i] !== '\n') i++;
      if (i < s.length) i++;
    } else if (c === '=') {
      out.push(0x3d);
      i++;
    } else if (i + 1 < s.length && isHexDigit(c) && isHexDigit(s[i + 1])) {
      out.push(Number.parseInt(s.slice(i, i + 2), 16));
      i += 2;
    } else {
      out.push(0x3d);
    }
  }
  return Uint8Array.from(out);
}

function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function fromHex(s: string, path: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new ImageJsonError('expected hex bytes', path);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// ---------------------------------------------------------------------------------------------
// message -> JSON

function ntohl(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | ((v >>> 24) & 0xff)) >>> 0;
}

function formatIp(values: readonly number[]): string {
  if (values.length === 1) {
    const v = ntohl(values[0]!);
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }
  const groups: number[] = [];
  for (let i = 0; i < 4; i++) {
    const v = ntohl(values[i] ?? 0);
    groups.push(v >>> 16, v & 0xffff);
  }
  // compressed form, as Python's ipaddress: longest run (>1) of zero groups becomes "::"
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
    const left = hex.slice(0, best).join(':');
    const right = hex.slice(best + bestLen).join(':');
    return `${left}::${right}`;
  }
  return hex.join(':');
}

function scalarToJson(field: FieldSchema, v: ScalarValue, pretty: boolean, isHex: boolean): JsonValue {
  if (field.type === 'bytes') {
    return field.conv === 'unix_name' ? encodeQuopri(v as Uint8Array) : encodeBytesPython(v as Uint8Array);
  }
  if (field.type === 'enum') {
    const e = field.enum!;
    const name = Object.keys(e.values).find((k) => e.values[k] === v);
    return name ?? (v as number);
  }
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (field.type === 'float' || field.type === 'double') return v as number;
  const n = v as number | bigint;
  if (pretty) {
    if (isHex) return `0x${toUnsignedHex(n)}`;
    if (field.dev) {
      const b = BigInt(n);
      if (field.odev) {
        // glibc major/minor of a dev_t
        const major = ((b >> 8n) & 0xfffn) | ((b >> 32n) & ~0xfffn);
        const minor = (b & 0xffn) | ((b >> 12n) & ~0xffn);
        return `${major}:${minor}`;
      }
      return `${b >> 20n}:${b & 0xfffffn}`;
    }
    if (field.flags) return formatFlags(n, field.flags);
    if (field.dict) {
      const name = DICT_TABLES[field.dict]?.[field.name]?.[Number(n)];
      if (name !== undefined) return name;
    }
  }
  return n;
}

function toUnsignedHex(n: number | bigint): string {
  // Python prints "0x%x" of a negative int as "-0x..": keep the sign as crit does
  const b = BigInt(n);
  return b < 0n ? `-${(-b).toString(16)}`.replace('-', '-') : b.toString(16);
}

export function messageToJson(
  schema: MessageSchema,
  msg: Message,
  pretty: boolean,
  isHex = false,
): JsonValue {
  const out: { [key: string]: JsonValue } = {};
  for (const field of schema.fields) {
    const v = msg[field.name];
    if (v === undefined) continue;
    const hex = isHex || field.hex === true;
    if (field.label === 'repeated') {
      const arr = v as (ScalarValue | Message)[];
      // python protobuf's ListFields() omits empty repeated fields
      if (arr.length === 0) continue;
      if (pretty && field.ipadd) {
        out[field.name] = [formatIp(arr as number[])];
        continue;
      }
      out[field.name] = arr.map((x) =>
        field.type === 'message'
          ? messageToJson(field.message!(), x as Message, pretty, hex)
          : scalarToJson(field, x as ScalarValue, pretty, hex),
      );
    } else if (field.type === 'message') {
      out[field.name] = messageToJson(field.message!(), v as Message, pretty, hex);
    } else {
      out[field.name] = scalarToJson(field, v as ScalarValue, pretty, hex);
    }
  }
  const unknown = msg[UNKNOWN] as UnknownField[] | undefined;
  if (unknown && unknown.length > 0) {
    out[UNKNOWN] = unknown.map((u) => [u.no, u.wire, toHex(u.data)]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON -> message

function isObject(v: JsonValue | undefined): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof v !== 'bigint';
}

const INT_RANGES: Record<string, [bigint, bigint]> = {
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
  enum: [-(2n ** 31n), 2n ** 31n - 1n],
};

function jsonToInt(field: FieldSchema, v: JsonValue, path: string): bigint {
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new ImageJsonError(`expected an integer, got ${v}`, path);
    b = BigInt(v);
  } else if (typeof v === 'boolean') {
    b = v ? 1n : 0n;
  } else if (typeof v === 'string') {
    if (field.dev && v.includes(':')) {
      const [maj, min] = v.split(':').map((x) => parseIntLiteral(x, path)) as [bigint, bigint];
      if (field.odev) {
        b = ((maj & 0xfffn) << 8n) | ((maj & ~0xfffn) << 32n) | (min & 0xffn) | ((min & ~0xffn) << 12n);
      } else b = (maj << 20n) | min;
    } else if (field.flags) {
      b = parseFlags(v, field.flags, path);
    } else if (field.dict) {
      const table = DICT_TABLES[field.dict]?.[field.name] ?? {};
      const hit = Object.entries(table).find(([, name]) => name === v);
      b = hit ? BigInt(hit[0]) : parseIntLiteral(v, path);
    } else {
      b = parseIntLiteral(v, path);
    }
  } else {
    throw new ImageJsonError(`expected an integer for ${field.type} field '${field.name}'`, path);
  }
  const range = INT_RANGES[field.type];
  if (range && (b < range[0] || b > range[1])) {
    throw new ImageJsonError(`${b} is out of range for ${field.type} field '${field.name}'`, path);
  }
  return b;
}

function jsonToScalar(field: FieldSchema, v: JsonValue, path: string): ScalarValue {
  switch (field.type) {
    case 'string':
      if (typeof v !== 'string')
        throw new ImageJsonError(`expected a string for field '${field.name}'`, path);
      return v;
    case 'bytes':
      if (typeof v !== 'string')
        throw new ImageJsonError(`expected base64 text for field '${field.name}'`, path);
      return field.conv === 'unix_name' ? decodeQuopri(v, path) : decodeBytesPython(v, path);
    case 'bool':
      if (typeof v === 'boolean') return v;
      if (v === 0 || v === 1) return v === 1;
      throw new ImageJsonError(`expected true or false for field '${field.name}'`, path);
    case 'float':
    case 'double':
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint') return Number(v);
      throw new ImageJsonError(`expected a number for field '${field.name}'`, path);
    case 'enum': {
      if (typeof v === 'string' && field.enum && Object.hasOwn(field.enum.values, v))
        return field.enum.values[v]!;
      if (typeof v === 'string' && !/^[-+]?\d/.test(v)) {
        throw new ImageJsonError(`'${v}' is not a value of enum ${field.enum?.name ?? field.name}`, path);
      }
      return Number(jsonToInt(field, v, path));
    }
    default: {
      const b = jsonToInt(field, v, path);
      return isSixtyFourBit(field.type) ? b : Number(b);
    }
  }
}

export function messageFromJson(schema: MessageSchema, v: JsonValue, path: string): Message {
  if (!isObject(v)) throw new ImageJsonError(`expected an object for message ${schema.name}`, path);
  const msg: Message = {};
  for (const key of Object.keys(v)) {
    const value = v[key]!;
    const p = `${path}.${key}`;
    if (key === UNKNOWN) {
      msg[UNKNOWN] = unknownFromJson(value, p);
      continue;
    }
    const field = fieldByName(schema, key);
    if (!field) throw new ImageJsonError(`message ${schema.name} has no field '${key}'`, p);
    if (field.label === 'repeated') {
      if (!Array.isArray(value)) throw new ImageJsonError(`expected an array for repeated field '${key}'`, p);
      if (field.ipadd && value.length === 1 && typeof value[0] === 'string') {
        msg[key] = parseIp(value[0], p);
        continue;
      }
      msg[key] = value.map((x, i) =>
        field.type === 'message'
          ? messageFromJson(field.message!(), x, `${p}[${i}]`)
          : jsonToScalar(field, x, `${p}[${i}]`),
      ) as ScalarValue[] | Message[];
    } else if (field.type === 'message') {
      msg[key] = messageFromJson(field.message!(), value, p);
    } else {
      msg[key] = jsonToScalar(field, value, p);
    }
  }
  return msg;
}

function unknownFromJson(v: JsonValue, path: string): UnknownField[] {
  if (!Array.isArray(v)) throw new ImageJsonError('expected an array of [field, wire, hex]', path);
  return v.map((u, i) => {
    const p = `${path}[${i}]`;
    if (
      !Array.isArray(u) ||
      u.length !== 3 ||
      typeof u[0] !== 'number' ||
      !Number.isInteger(u[0]) ||
      u[0] < 1 ||
      u[0] > 0x1fffffff ||
      ![0, 1, 2, 5].includes(u[1] as number) ||
      typeof u[2] !== 'string'
    ) {
      throw new ImageJsonError('expected [field number, wire type 0/1/2/5, "hex bytes"]', p);
    }
    const wire = u[1] as WireType;
    const data = fromHex(u[2], `${p}[2]`);
    // the bytes are written back as they are: they must be one value of that wire type
    const bad =
      wire === 1 ? data.length !== 8 : wire === 5 ? data.length !== 4 : wire === 0 && !isOneVarint(data);
    if (bad) {
      const want = wire === 1 ? '8 bytes' : wire === 5 ? '4 bytes' : 'exactly one varint (at most 10 bytes)';
      throw new ImageJsonError(`expected ${want} for wire type ${wire}, got ${data.length} bytes`, `${p}[2]`);
    }
    return { no: u[0], wire, data };
  });
}

function isOneVarint(b: Uint8Array): boolean {
  if (b.length === 0 || b.length > 10) return false;
  for (let i = 0; i < b.length - 1; i++) if (b[i]! < 0x80) return false;
  const last = b[b.length - 1]!;
  return last < 0x80 && (b.length < 10 || last <= 1);
}

function htonl(v: number): number {
  return ntohl(v);
}

function parseIp(s: string, path: string): number[] {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(s)) {
    const parts = s.split('.').map(Number);
    if (parts.some((x) => x > 255)) throw new ImageJsonError(`bad IPv4 address '${s}'`, path);
    return [htonl(((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0)];
  }
  let groups: number[];
  const halves = s.split('::');
  const parse = (h: string): number[] => (h === '' ? [] : h.split(':').map((g) => Number.parseInt(g, 16)));
  if (halves.length === 2) {
    const l = parse(halves[0]!);
    const r = parse(halves[1]!);
    groups = [...l, ...new Array(8 - l.length - r.length).fill(0), ...r];
  } else groups = parse(s);
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) {
    throw new ImageJsonError(`bad IP address '${s}'`, path);
  }
  const out: number[] = [];
  for (let i = 0; i < 4; i++) out.push(htonl(((groups[2 * i]! << 16) | groups[2 * i + 1]!) >>> 0));
  return out;
}
