/**
 * Fuzzing the image codec: thousands of mutated fixture images (bit flips, byte changes,
 * truncations, insertions, deletions, entry-length changes, duplicated and swapped entries) through
 * decodeImage, decodePagemap, the pagemap JSON writer and decode -> JSON -> encode -> decode.
 *
 * Allowed outcomes: a clean typed error (a PagestackError: ImageFormatError, ImageJsonError) or
 * valid output. Checked on valid output:
 *   - decodeToJsonChunks gives the same bytes as decodeToJsonText (and the same error, if any);
 *   - the JSON (plain, or pretty for a quarter of the cases) encodes to an image that decodes to the
 *     same JSON text;
 *   - when decodePagemap accepts a pagemap, decodeImage does too and its entries, normalised as
 *     CRIU does, are the same columns.
 * Then the JSON side: crit JSON of the corpus images with values replaced by others of the wrong
 * type or range, keys deleted or renamed, elements duplicated, through encode: a typed error, or an
 * image that decodes.
 * Never another exception type, never a hang: the cases run in a child process with a time limit,
 * and every single case must finish quickly.
 *
 * Deterministic: the seed is printed (PAGESTACK_FUZZ_SEED=<n> to choose one); the run stops after
 * CASES + JSON_CASES cases or a time budget of about 10 s in all (PAGESTACK_FUZZ_MS, 3/4 for images,
 * 1/4 for JSON), whichever comes first, but never before MIN_CASES + MIN_JSON_CASES. A failing case is reported with its number;
 * PAGESTACK_FUZZ_CASE=<k> replays only that case.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { rng } from '../bench/gen.js';
import { makePagemap } from '../bench/pagemap-gen.js';
import { PagestackError } from '../src/errors.js';
import {
  decodeImage,
  decodeToJsonText,
  encodeFromJsonText,
  encodeImage,
  entryLength,
  readFraming,
} from '../src/image/image.js';
import { type JsonValue, parseJson, stringifyJson } from '../src/image/jsontext.js';
import { decodePagemap, PE_PARENT, PE_PRESENT } from '../src/image/pagemap.js';
import { decodeToJsonChunks } from '../src/image/pagemap-json.js';

const FIX = join(import.meta.dirname, 'fixtures', 'criu-4.2');
const DEFAULT_SEED = 0x5eed_2042;
const CASES = 20_000;
const JSON_CASES = 5_000;
/** At least this many cases run whatever the time budget, so a loaded machine only makes the run longer. */
const MIN_CASES = 1_000;
const MIN_JSON_CASES = 200;
const SLOW_CASE_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// The corpus: every protobuf image of the fixtures (content-deduplicated) plus a few made here.

function corpus(): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = [];
  const seen = new Set<string>();
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir).sort()) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) {
        if (f !== 'prog' && f !== 'crit-json') walk(p);
        continue;
      }
      if (!(f.endsWith('.img') || f.startsWith('stats-')) || f.startsWith('pages-')) continue;
      const bytes = new Uint8Array(readFileSync(p));
      const key = Buffer.from(bytes).toString('base64');
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ name: p.slice(FIX.length + 1), bytes });
    }
  };
  walk(FIX);
  out.push({ name: 'generated pagemap (CRIU 4.2 style)', bytes: makePagemap(300, 7) });
  // an older CRIU's pagemap: compat_nr_pages only, in_parent instead of flags, no flags at all
  out.push({
    name: 'generated pagemap (old style)',
    bytes: encodeImage({
      magic: 'PAGEMAP',
      framing: 'common',
      entries: [
        { pages_id: 3 },
        { vaddr: 0x7f0000000000n, compat_nr_pages: 2 },
        { vaddr: 0x7f0000004000n, compat_nr_pages: 1, in_parent: true },
        { vaddr: 0x7f0000008000n, compat_nr_pages: 0, flags: 1, nr_pages: 0x100000n },
        { vaddr: 0xfffffffffffff000n, compat_nr_pages: 1, flags: 2 },
      ],
    }),
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Mutations

/** Offsets of the entries' length prefixes, as far as the framing holds. */
function entryOffsets(b: Uint8Array): number[] {
  const offs: number[] = [];
  try {
    let off = readFraming(b).start;
    for (let i = 0; off < b.length; i++) {
      const len = entryLength(b, off, i);
      offs.push(off);
      off += 4 + len;
    }
  } catch {
    // the rest is not framed
  }
  return offs;
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x0b, 0x0c, 0x10, 0x12];

function mutate(src: Uint8Array, rand: () => number): { bytes: Uint8Array; what: string[] } {
  let b: Uint8Array = new Uint8Array(src);
  const what: string[] = [];
  const int = (n: number): number => Math.floor(rand() * n);
  const rounds = 1 + int(3);
  for (let r = 0; r < rounds; r++) {
    const op = int(10);
    const at = b.length ? int(b.length) : 0;
    switch (op) {
      case 0: {
        const bit = int(8);
        if (b.length) b[at] ^= 1 << bit;
        what.push(`flip bit ${bit} at ${at}`);
        break;
      }
      case 1: {
        const v = rand() < 0.5 ? INTERESTING[int(INTERESTING.length)]! : int(256);
        if (b.length) b[at] = v;
        what.push(`set ${at} = 0x${v.toString(16)}`);
        break;
      }
      case 2: {
        b = b.slice(0, at);
        what.push(`truncate at ${at}`);
        break;
      }
      case 3: {
        const n = 1 + int(16);
        const ins = new Uint8Array(n).map(() => (rand() < 0.3 ? 0x80 : int(256)));
        b = concat(b.subarray(0, at), ins, b.subarray(at));
        what.push(`insert ${n} bytes at ${at}`);
        break;
      }
      case 4: {
        const n = 1 + int(16);
        b = concat(b.subarray(0, at), b.subarray(at + n));
        what.push(`delete ${n} bytes at ${at}`);
        break;
      }
      case 5:
      case 6: {
        // change an entry's length prefix
        const offs = entryOffsets(b);
        if (offs.length === 0) break;
        const off = offs[int(offs.length)]!;
        const len = b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24);
        const choices = [
          0,
          len + 1,
          len - 1,
          len + 2 + int(8),
          len - 2 - int(8),
          0xffffffff,
          len * 2,
          int(2 ** 32),
        ];
        const v = choices[int(choices.length)]! >>> 0;
        b[off] = v & 0xff;
        b[off + 1] = (v >>> 8) & 0xff;
        b[off + 2] = (v >>> 16) & 0xff;
        b[off + 3] = (v >>> 24) & 0xff;
        what.push(`length at ${off}: ${len} -> ${v}`);
        break;
      }
      case 7: {
        // duplicate or drop a whole entry
        const offs = entryOffsets(b);
        if (offs.length === 0) break;
        const k = int(offs.length);
        const s = offs[k]!;
        const e = k + 1 < offs.length ? offs[k + 1]! : b.length;
        b =
          rand() < 0.5
            ? concat(b.subarray(0, e), b.subarray(s, e), b.subarray(e))
            : concat(b.subarray(0, s), b.subarray(e));
        what.push(`duplicate or drop entry ${k}`);
        break;
      }
      case 8: {
        // turn a byte into a varint continuation (lengthens the varint it is in)
        if (b.length) b[at] |= 0x80;
        what.push(`set bit 7 at ${at}`);
        break;
      }
      default: {
        // a byte inside an entry's message, where the protobuf is
        const offs = entryOffsets(b);
        if (offs.length === 0) break;
        const off = offs[int(offs.length)]!;
        const p = Math.min(b.length - 1, off + 4 + int(12));
        if (p >= 0) b[p] = int(256);
        what.push(`message byte ${p} randomised`);
      }
    }
  }
  return { bytes: b, what };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// One case

type Outcome<T> = { ok: true; value: T } | { ok: false; error: PagestackError };

/** Runs `fn`; a PagestackError is an allowed outcome, anything else is rethrown (a failure). */
function attempt<T>(what: string, fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (e instanceof PagestackError) return { ok: false, error: e };
    const err = e as Error;
    throw new Error(`${what} threw ${err?.name ?? typeof e}: ${err?.message ?? String(e)}`);
  }
}

const utf8 = new TextDecoder();

function checkCase(b: Uint8Array, pretty: boolean): void {
  const img = attempt('decodeImage', () => decodeImage(b));

  // the pagemap writer agrees with the generic path, text and errors
  const text = attempt('decodeToJsonText', () => decodeToJsonText(b, pretty));
  const chunks = attempt('decodeToJsonChunks', () => decodeToJsonChunks(b, pretty));
  assert.equal(text.ok, img.ok, 'decodeToJsonText fails exactly when decodeImage does');
  if (text.ok && chunks.ok) {
    assert.equal(utf8.decode(concat(...chunks.value)), text.value, 'pagemap writer text');
  } else if (!text.ok && !chunks.ok) {
    assert.equal(chunks.error.message, text.error.message, 'pagemap writer error');
    assert.equal(chunks.error.constructor, text.error.constructor);
  } else {
    assert.fail(
      `one path failed, the other did not: ${text.ok ? '' : text.error.message} ${chunks.ok ? '' : chunks.error.message}`,
    );
  }

  // decode -> JSON -> encode -> decode gives the same JSON
  if (text.ok) {
    const enc = attempt('encodeFromJsonText', () => encodeFromJsonText(text.value));
    if (enc.ok) {
      const again = attempt('decodeToJsonText (re-encoded)', () => decodeToJsonText(enc.value, pretty));
      if (!again.ok) assert.fail(`re-encoded image does not decode: ${again.error.message}`);
      assert.equal(again.value, text.value, 'JSON of the re-encoded image');
    }
  }

  // decodePagemap: typed errors only; what it accepts, decodeImage reads the same way
  let magic = '';
  try {
    magic = readFraming(b).magic;
  } catch {
    // not even framed
  }
  if (magic !== 'PAGEMAP') return;
  const cols = attempt('decodePagemap', () => decodePagemap(b));
  if (!cols.ok) return;
  if (!img.ok) assert.fail(`decodePagemap accepted what decodeImage refused: ${img.error.message}`);
  const c = cols.value;
  const entries = img.value.entries;
  assert.equal(c.count, entries.length - 1, 'entry count');
  assert.equal(c.pagesId, entries[0]!['pages_id'], 'pages_id');
  for (let i = 0; i < c.count; i++) {
    const m = entries[i + 1]!;
    const vaddr = m['vaddr'] as bigint;
    assert.equal(c.vpage[i], Number(vaddr >> 12n), `vpage of entry ${i}`);
    const nr =
      m['nr_pages'] !== undefined ? Number(m['nr_pages'] as bigint) : (m['compat_nr_pages'] as number);
    assert.equal(c.nrPages[i], nr, `nr_pages of entry ${i}`);
    const fl = m['flags'] !== undefined ? (m['flags'] as number) : m['in_parent'] ? PE_PARENT : PE_PRESENT;
    assert.equal(c.flags[i], fl, `flags of entry ${i}`);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON side: mutated crit JSON through encode. A typed error or an image that decodes.

const JSON_VALUES: JsonValue[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  2 ** 32,
  2n ** 64n,
  -(2n ** 63n) - 1n,
  Number.NaN,
  '',
  'x',
  '0x10',
  '-0x10',
  'PE_PRESENT | 0x8',
  '1:2',
  '::1',
  '1.2.3.4',
  'AAAA',
  '=41',
  [],
  [1],
  ['x'],
  [[1, 0, '01']],
  {},
  { a: 1 },
];
const KEYS = ['magic', 'entries', 'pages_id', 'vaddr', 'flags', 'nr_pages', '_unknown', 'name', 'id', 'x'];

/** Every (container, key) of a JSON document. */
function slots(v: JsonValue, out: [JsonValue[] | { [k: string]: JsonValue }, string | number][] = []) {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([v, i]);
      slots(x, out);
    });
  } else if (v !== null && typeof v === 'object') {
    for (const k of Object.keys(v)) {
      out.push([v, k]);
      slots(v[k]!, out);
    }
  }
  return out;
}

function mutateJson(doc: JsonValue, rand: () => number): string[] {
  const int = (n: number): number => Math.floor(rand() * n);
  const what: string[] = [];
  const rounds = 1 + int(2);
  for (let r = 0; r < rounds; r++) {
    const all = slots(doc);
    if (all.length === 0) break;
    const [parent, key] = all[int(all.length)]!;
    const op = int(4);
    const p = parent as Record<string | number, JsonValue>;
    if (op <= 1) {
      const v = JSON_VALUES[int(JSON_VALUES.length)]!;
      p[key] = typeof v === 'object' && v !== null ? structuredClone(v) : v;
      what.push(`set ${key} = ${stringifyJson(p[key]!)}`);
    } else if (op === 2) {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete p[key];
      what.push(`delete ${key}`);
    } else if (Array.isArray(parent)) {
      parent.push(structuredClone(parent[key as number]!));
      what.push(`duplicate element ${key}`);
    } else {
      const k = KEYS[int(KEYS.length)]!;
      Object.defineProperty(p, k, { value: p[key], enumerable: true, writable: true, configurable: true });
      if (k !== key) delete p[key];
      what.push(`rename ${key} -> ${k}`);
    }
  }
  return what;
}

function checkJsonCase(text: string): void {
  const enc = attempt('encodeFromJsonText', () => encodeFromJsonText(text));
  if (!enc.ok) return;
  const back = attempt('decodeImage (of encode output)', () => decodeImage(enc.value));
  if (!back.ok) assert.fail(`encode wrote an image that does not decode: ${back.error.message}`);
}

interface FuzzResult {
  seed: number;
  cases: number;
  jsonCases: number;
  accepted: number;
  refused: number;
  ms: number;
  failures: { case: number; input: string; what: string[]; error: string }[];
}

function runFuzz(seed: number, budgetMs: number, jsonBudgetMs: number, only?: number): FuzzResult {
  const files = corpus();
  const rand = rng(seed);
  const t0 = performance.now();
  const res: FuzzResult = { seed, cases: 0, jsonCases: 0, accepted: 0, refused: 0, ms: 0, failures: [] };
  for (let k = 0; k < CASES; k++) {
    if (only === undefined && k >= MIN_CASES && performance.now() - t0 > budgetMs) break;
    if (only !== undefined && k > only) break; // JSON cases are numbered from CASES on
    // pagemaps get a larger share: they have the most code paths (fast path, writer, columns)
    const pick = rand() < 0.4 ? files.filter((f) => f.name.includes('pagemap')) : files;
    const src = pick[Math.floor(rand() * pick.length)]!;
    const { bytes, what } = mutate(src.bytes, rand);
    const pretty = rand() < 0.25;
    if (only !== undefined && k !== only) continue;
    res.cases++;
    const c0 = performance.now();
    try {
      checkCase(bytes, pretty);
      const ms = performance.now() - c0;
      if (ms > SLOW_CASE_MS) throw new Error(`case took ${ms.toFixed(0)} ms`);
      try {
        decodeImage(bytes);
        res.accepted++;
      } catch {
        res.refused++;
      }
    } catch (e) {
      if (res.failures.length < 20) {
        res.failures.push({
          case: k,
          input: `${src.name}${pretty ? ' (pretty)' : ''}`,
          what,
          error: String((e as Error)?.message ?? e).slice(0, 2000),
        });
      }
    }
  }
  // the JSON side: mutated crit JSON of (unmutated) corpus images through encode
  const docs: { name: string; text: string }[] = [];
  for (const f of files) {
    for (const pretty of [false, true]) {
      try {
        docs.push({
          name: `${f.name}${pretty ? ' (pretty JSON)' : ' (JSON)'}`,
          text: decodeToJsonText(f.bytes, pretty),
        });
      } catch {
        // a corpus image every decoder refuses has no JSON
      }
    }
  }
  const jrand = rng(seed ^ 0x6a50);
  const t1 = performance.now();
  for (let k = 0; k < JSON_CASES; k++) {
    if (only === undefined && k >= MIN_JSON_CASES && performance.now() - t1 > jsonBudgetMs) break;
    if (only !== undefined && k + CASES > only) break;
    const src = docs[Math.floor(jrand() * docs.length)]!;
    const doc = parseJson(src.text);
    const what = mutateJson(doc, jrand);
    if (only !== undefined && k + CASES !== only) continue;
    res.jsonCases++;
    const c0 = performance.now();
    try {
      checkJsonCase(stringifyJson(doc, false));
      const ms = performance.now() - c0;
      if (ms > SLOW_CASE_MS) throw new Error(`case took ${ms.toFixed(0)} ms`);
    } catch (e) {
      if (res.failures.length < 20) {
        res.failures.push({
          case: k + CASES,
          input: src.name,
          what,
          error: String((e as Error)?.message ?? e).slice(0, 2000),
        });
      }
    }
  }
  res.ms = Math.round(performance.now() - t0);
  return res;
}

// ---------------------------------------------------------------------------------------------

const envInt = (name: string): number | undefined => {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : Number(v);
};

if (process.env['PAGESTACK_FUZZ_CHILD'] === '1') {
  // the child: run the cases, print the result as JSON
  const ms = envInt('PAGESTACK_FUZZ_MS') ?? 10_000;
  const r = runFuzz(
    envInt('PAGESTACK_FUZZ_SEED') ?? DEFAULT_SEED,
    ms * 0.75,
    ms * 0.25,
    envInt('PAGESTACK_FUZZ_CASE'),
  );
  process.stdout.write(`${JSON.stringify(r)}\n`);
} else {
  test('fuzz: mutated images give typed errors or valid output, never a crash or a hang', async (t) => {
    const seed = envInt('PAGESTACK_FUZZ_SEED') ?? DEFAULT_SEED;
    t.diagnostic(`fuzz seed ${seed} (PAGESTACK_FUZZ_SEED=${seed} to repeat)`);
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', import.meta.filename],
        {
          env: { ...process.env, PAGESTACK_FUZZ_CHILD: '1', PAGESTACK_FUZZ_SEED: String(seed) },
          encoding: 'utf8',
          maxBuffer: 16 << 20,
          timeout: 180_000, // a hang (or a case that never ends) fails here
          killSignal: 'SIGKILL',
        },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`fuzz child failed (${err.message}): ${stderr.slice(0, 2000)}`));
          else resolve(stdout);
        },
      );
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as FuzzResult;
    t.diagnostic(
      `seed ${r.seed}: ${r.cases} image cases (${r.accepted} decoded, ${r.refused} refused with a typed error) and ${r.jsonCases} JSON cases in ${r.ms} ms`,
    );
    assert.ok(
      r.cases >= MIN_CASES && r.jsonCases >= MIN_JSON_CASES,
      `too few cases ran (${r.cases}, ${r.jsonCases})`,
    );
    assert.ok(r.accepted > 0 && r.refused > 0, 'both outcomes occur');
    assert.deepEqual(
      r.failures,
      [],
      `failing cases (replay one with PAGESTACK_FUZZ_SEED=${r.seed} PAGESTACK_FUZZ_CASE=<case>)`,
    );
  });
}
