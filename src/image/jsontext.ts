/**
 * JSON text with exact 64-bit integers, laid out the way Python's `json.dumps` does (what crit
 * prints): `{"a": 1, "b": [1, 2]}` plain, four-space indentation when pretty, non-ASCII escaped.
 *
 * `JSON.parse` would round integers above 2^53, so parsing is done here too: integer literals
 * become numbers when safe and bigints otherwise.
 */
import { ImageJsonError } from '../errors.js';

export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** Printable ASCII other than `"` and `\\`: such strings need no escaping at all. */
const PLAIN_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A JSON string literal as Python's json.dumps writes it (ensure_ascii). */
export function quoteJson(s: string): string {
  if (PLAIN_STRING.test(s)) return `"${s}"`;
  // JSON.stringify escapes quotes, backslashes and control characters as Python does;
  // then escape everything outside ASCII (Python's ensure_ascii=True).
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** Object keys repeat a lot (every entry of an image has the same ones): quote each once. */
const keyCache = new Map<string, string>();

function quoteKey(k: string): string {
  let q = keyCache.get(k);
  if (q === undefined) {
    q = `${quoteJson(k)}: `;
    if (keyCache.size < 4096) keyCache.set(k, q);
  }
  return q;
}

function scalar(v: JsonValue): string | undefined {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'number':
      if (Number.isInteger(v)) return Number.isSafeInteger(v) ? String(v) : `${v.toFixed(1)}`;
      if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
      return String(v);
    case 'string':
      return quoteJson(v);
    default:
      return undefined;
  }
}

/**
 * Serialises like Python's json.dumps(v) (indent = undefined) or json.dumps(v, indent=4).
 * `indent` is the indentation the value starts at (pretty only), for values written inside others.
 */
export function stringifyJson(v: JsonValue, pretty = false, indent = ''): string {
  let out = '';
  const walk = (x: JsonValue, ind: string): void => {
    const s = scalar(x);
    if (s !== undefined) {
      out += s;
      return;
    }
    const inner = pretty ? `${ind}    ` : '';
    const sep = pretty ? `,\n${inner}` : ', ';
    if (Array.isArray(x)) {
      if (x.length === 0) {
        out += '[]';
        return;
      }
      out += pretty ? `[\n${inner}` : '[';
      for (let i = 0; i < x.length; i++) {
        if (i > 0) out += sep;
        walk(x[i]!, inner);
      }
      out += pretty ? `\n${ind}]` : ']';
      return;
    }
    const obj = x as { [key: string]: JsonValue };
    let first = true;
    for (const k in obj) {
      if (!Object.hasOwn(obj, k)) continue;
      out += first ? (pretty ? `{\n${inner}` : '{') : sep;
      first = false;
      out += quoteKey(k);
      walk(obj[k]!, inner);
    }
    out += first ? '{}' : pretty ? `\n${ind}}` : '}';
  };
  walk(v, indent);
  return out;
}

/** Parses JSON text; integers beyond 2^53 come back as bigint. Errors name line and column. */
export function parseJson(text: string): JsonValue {
  let i = 0;
  const n = text.length;
  const fail = (what: string): never => {
    let line = 1;
    let col = 1;
    for (let k = 0; k < i && k < n; k++) {
      if (text.charCodeAt(k) === 10) {
        line++;
        col = 1;
      } else col++;
    }
    throw new ImageJsonError(`invalid JSON at line ${line} column ${col}: ${what}`, '$');
  };
  const ws = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else break;
    }
  };
  let depth = 0;
  const value = (): JsonValue => {
    ws();
    if (i >= n) fail('unexpected end of input, expected a value');
    const c = text[i]!;
    if (c === '{') {
      if (++depth > 512) fail('nested too deep, expected at most 512 levels');
      i++;
      const obj: { [key: string]: JsonValue } = {};
      ws();
      if (text[i] === '}') {
        i++;
        depth--;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const k = str();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        Object.defineProperty(obj, k, {
          value: value(),
          enumerable: true,
          writable: true,
          configurable: true,
        });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          depth--;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      if (++depth > 512) fail('nested too deep, expected at most 512 levels');
      i++;
      const arr: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        depth--;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          depth--;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    // what Python's json writes for float fields that hold them
    if (text.startsWith('NaN', i)) {
      i += 3;
      return Number.NaN;
    }
    if (text.startsWith('Infinity', i)) {
      i += 8;
      return Number.POSITIVE_INFINITY;
    }
    if (text.startsWith('-Infinity', i)) {
      i += 9;
      return Number.NEGATIVE_INFINITY;
    }
    return num();
  };
  const str = (): string => {
    const start = ++i;
    let out = '';
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
          case '\\':
            out += '\\';
            break;
          case '/':
            out += '/';
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u': {
            const h = text.slice(i, i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('bad \\u escape, expected 4 hex digits');
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
      if (c < 32) fail('control character in a string, expected it escaped');
      i++;
    }
    return fail('unterminated string, expected a closing quote');
  };
  const num = (): JsonValue => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail(`unexpected character ${JSON.stringify(text[i])}, expected a value`);
    const lit = m![0];
    i += lit.length;
    if (m![2] === undefined && m![3] === undefined) {
      const v = Number(lit);
      return Number.isSafeInteger(v) ? v : BigInt(lit);
    }
    return Number(lit);
  };
  const v = value();
  ws();
  if (i < n) fail('trailing characters after the JSON value, expected the end');
  return v;
}
