/**
 * Image types whose entries are followed by raw data (crit's "extra", src/image/extra.ts):
 * PIPES_DATA, FIFO_DATA, SK_QUEUES, TCP_STREAM, GHOST_FILE, IPCNS_SHM, IPCNS_SEM, IPCNS_MSG,
 * BPFMAP_DATA.
 *
 * - Synthetic images of every such type (built with the codec, realistic field values) decode to
 *   what they were built from and round-trip to identical bytes: decode -> encode, and decode ->
 *   JSON (plain and pretty) -> encode, padding included (also padding that is not zero).
 * - Debian's crit 3.17 (`/usr/bin/crit`): `crit decode` (plain and --pretty) of our bytes equals
 *   our JSON, and `crit encode` of our JSON gives our bytes, where crit handles the type as we do
 *   (skipped without /usr/bin/crit).
 * - Cut payloads, hostile sizes and inconsistent JSON give one-line errors naming the offset (or
 *   JSON path) and what was expected, without big allocations.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../src/cli/main.js';
import { ImageFormatError, ImageJsonError } from '../src/errors.js';
import { encodeBytesPython } from '../src/image/crit-json.js';
import { EXTRA_PAYLOAD_TYPES, type Extra } from '../src/image/extra.js';
import {
  type CriuImage,
  decodeImage,
  decodeToJsonText,
  encodeFromJsonText,
  encodeImage,
  imageFromJson,
  imageToJson,
  schemaForEntry,
} from '../src/image/image.js';
import { type JsonValue, parseJson, stringifyJson } from '../src/image/jsontext.js';
import { encodeMessage, type Message } from '../src/image/schema.js';
import { IMAGE_SCHEMAS } from '../src/image/schemas/index.js';
import { ipcMsg } from '../src/image/schemas/ipc.js';
import { assertSameBytes, assertSameJson } from './helpers/assert.js';
import { type CritRun, critOk, HAVE_CRIT, runCrit, SKIP_CRIT } from './helpers/crit.js';

const tmp = mkdtempSync(join(tmpdir(), 'pagestack-extra-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// synthetic images

/** Deterministic bytes that look like data (not all one value). */
function data(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const bytes = (d: Uint8Array, pad?: Uint8Array): Extra =>
  pad ? { kind: 'bytes', data: d, pad } : { kind: 'bytes', data: d };

function desc(id: number, key: number): Message {
  return { key, uid: 1000, gid: 1000, cuid: 1000, cgid: 1000, mode: 0o600, id };
}

interface Case {
  name: string;
  magic: string;
  entries: Message[];
  extra: (Extra | undefined)[];
  /**
   * How crit 3.17 handles it: 'both' = crit decode equals our JSON and crit encode of our JSON
   * gives our bytes; 'decode' = decode only; a string = why crit is not asked.
   */
  crit: 'both' | 'decode' | string;
}

/** crit 3.17 (and 4.2) encode of these fails: base64.decodebytes() is given a str. */
const CRIT_ENCODE_BUG = 'decode';
const CRIT_DROPS_PADDING = 'crit drops padding that is not zero (CRIU writes zeros)';

const CASES: Case[] = [
  {
    name: 'pipe with queued data, empty pipe',
    magic: 'PIPES_DATA',
    entries: [
      { pipe_id: 1849213, bytes: 5000, size: 65536 },
      { pipe_id: 1849215, bytes: 0, size: 65536 },
      { pipe_id: 1849220, bytes: 3 },
    ],
    extra: [bytes(data(5000, 1)), bytes(new Uint8Array(0)), bytes(text('ok\n'))],
    crit: 'both',
  },
  {
    name: 'fifo with a line of text',
    magic: 'FIFO_DATA',
    entries: [{ pipe_id: 2231017, bytes: 17, size: 1048576 }],
    extra: [bytes(text('hello from fifo\n\0'))],
    crit: 'both',
  },
  {
    name: 'unix datagram queues, one packet with SCM_RIGHTS',
    magic: 'SK_QUEUES',
    entries: [
      { id_for: 27, length: 11 },
      { id_for: 27, length: 0 },
      { id_for: 28, length: 300, scm: [{ type: 1, rights: [5, 7] }] },
    ],
    extra: [bytes(text('ping 12345\n')), bytes(new Uint8Array(0)), bytes(data(300, 2))],
    crit: 'both',
  },
  {
    name: 'established TCP connection with data both ways',
    magic: 'TCP_STREAM',
    entries: [
      {
        inq_len: 1000,
        inq_seq: 3141592653,
        outq_len: 2000,
        outq_seq: 271828182,
        opt_mask: 0x7,
        snd_wscale: 7,
        mss_clamp: 65483,
        rcv_wscale: 7,
        timestamp: 1693851,
        unsq_len: 500,
        snd_wl1: 3141590000,
        snd_wnd: 65536,
        max_window: 65536,
        rcv_wnd: 65483,
        rcv_wup: 3141591653,
      },
    ],
    extra: [{ kind: 'tcp', inq: data(1000, 3), outq: data(2000, 4) }],
    crit: 'both',
  },
  {
    name: 'TCP connection with empty queues (deprecated cork/nodelay set)',
    magic: 'TCP_STREAM',
    entries: [
      {
        inq_len: 0,
        inq_seq: 1,
        outq_len: 0,
        outq_seq: 2,
        opt_mask: 0x5,
        snd_wscale: 0,
        mss_clamp: 1460,
        cork: false,
        nodelay: true,
      },
    ],
    extra: [{ kind: 'tcp', inq: new Uint8Array(0), outq: new Uint8Array(0) }],
    crit: 'both',
  },
  {
    name: 'ghost regular file, contents inline',
    magic: 'GHOST_FILE',
    entries: [
      {
        uid: 1000,
        gid: 1000,
        mode: 0o100644,
        dev: 0x803,
        ino: 1311768n,
        atim: { tv_sec: 1717000000n, tv_usec: 123456n },
        mtim: { tv_sec: 1717000100n, tv_usec: 654321n },
        size: 3000n,
      },
    ],
    extra: [bytes(data(3000, 5))],
    crit: 'both',
  },
  {
    name: 'ghost sparse file in chunks',
    magic: 'GHOST_FILE',
    entries: [
      {
        uid: 0,
        gid: 0,
        mode: 0o100600,
        dev: 0x10302,
        ino: 98765n,
        atim: { tv_sec: 1717000000n, tv_usec: 0n },
        mtim: { tv_sec: 1717000000n, tv_usec: 0n },
        chunks: true,
        size: 3145728n,
      },
      { len: 4096n, off: 0n },
      { len: 8192n, off: 1048576n },
      { len: 100n, off: 3145628n },
    ],
    extra: [undefined, bytes(data(4096, 6)), bytes(data(8192, 7)), bytes(data(100, 8))],
    crit: 'both',
  },
  {
    name: 'ghost symlink (no data)',
    magic: 'GHOST_FILE',
    entries: [
      { uid: 1000, gid: 1000, mode: 0o120777, dev: 0x803, ino: 42n, size: 9n, symlnk_target: '/tmp/gone' },
    ],
    extra: [bytes(new Uint8Array(0))],
    crit: 'both',
  },
  {
    name: 'ghost file with chunks but no data',
    magic: 'GHOST_FILE',
    entries: [{ uid: 0, gid: 0, mode: 0o100644, chunks: true, size: 1048576n }],
    extra: [undefined],
    crit: 'both',
  },
  {
    name: 'SysV shm segment kept in pagemaps (CRIU 4.2)',
    magic: 'IPCNS_SHM',
    entries: [{ desc: desc(32768, 0x5100e0), size: 4097n, in_pagemaps: true }],
    extra: [bytes(new Uint8Array(0))],
    crit: 'both',
  },
  {
    name: 'SysV shm segments with inline contents (older CRIU), padded to 4',
    magic: 'IPCNS_SHM',
    entries: [
      { desc: desc(0, 0x5100e0), size: 13n },
      { desc: desc(1, 0x5100e1), size: 4096n },
    ],
    extra: [bytes(text('shared hello!')), bytes(data(4096, 9))],
    crit: CRIT_ENCODE_BUG,
  },
  {
    name: 'SysV shm segments, inline and in pagemaps mixed',
    magic: 'IPCNS_SHM',
    entries: [
      { desc: desc(0, 0x600), size: 65536n, in_pagemaps: true, hugetlb_flag: 0 },
      { desc: desc(1, 0x601), size: 6n, in_pagemaps: false },
      { desc: desc(2, 0x602), size: 100n, in_pagemaps: true },
    ],
    extra: [bytes(new Uint8Array(0)), bytes(text('abcdef')), bytes(new Uint8Array(0))],
    crit: 'crit reads `size` bytes after an in_pagemaps entry too (CRIU writes none)',
  },
  {
    name: 'semaphore sets: 3 values (padded), 4 values, 1 value',
    magic: 'IPCNS_SEM',
    entries: [
      { desc: desc(0, 0x1234), nsems: 3 },
      { desc: desc(1, 0x1235), nsems: 4 },
      { desc: desc(2, 0x1236), nsems: 1 },
    ],
    extra: [
      { kind: 'sem', values: [0, 1, 32767] },
      { kind: 'sem', values: [5, 6, 7, 65535] },
      { kind: 'sem', values: [1] },
    ],
    crit: 'both',
  },
  {
    name: 'message queues: three messages, and an empty queue',
    magic: 'IPCNS_MSG',
    entries: [
      { desc: desc(0, 0x4d5347), qbytes: 16384, qnum: 3 },
      { desc: desc(1, 0x4d5348), qbytes: 16384, qnum: 0 },
    ],
    extra: [
      {
        kind: 'msgs',
        messages: [
          { msg: { mtype: 1n, msize: 5 }, data: text('hello') },
          { msg: { mtype: 2n, msize: 8 }, data: text('8 bytes!') },
          { msg: { mtype: 9223372036854775807n, msize: 1000 }, data: data(1000, 10) },
        ],
      },
      { kind: 'msgs', messages: [] },
    ],
    crit: 'both',
  },
  {
    name: 'BPF hash maps: 4 u32 keys with u64 values, and an empty map',
    magic: 'BPFMAP_DATA',
    entries: [
      { map_id: 17, keys_bytes: 16, values_bytes: 32, count: 4 },
      { map_id: 18, keys_bytes: 0, values_bytes: 0, count: 0 },
    ],
    extra: [bytes(data(48, 11)), bytes(new Uint8Array(0))],
    crit: CRIT_ENCODE_BUG,
  },
  {
    name: 'padding that is not zero (shm)',
    magic: 'IPCNS_SHM',
    entries: [{ desc: desc(0, 0x700), size: 13n }],
    extra: [bytes(text('shared hello!'), Uint8Array.of(1, 2, 3))],
    crit: CRIT_DROPS_PADDING,
  },
  {
    name: 'padding that is not zero (semaphores)',
    magic: 'IPCNS_SEM',
    entries: [{ desc: desc(0, 0x701), nsems: 1 }],
    extra: [{ kind: 'sem', values: [3], pad: Uint8Array.of(0, 0, 0, 0, 0, 0xaa) }],
    crit: CRIT_DROPS_PADDING,
  },
  {
    name: 'padding that is not zero (messages)',
    magic: 'IPCNS_MSG',
    entries: [{ desc: desc(0, 0x702), qbytes: 16384, qnum: 2 }],
    extra: [
      {
        kind: 'msgs',
        messages: [
          { msg: { mtype: 1n, msize: 5 }, data: text('hello'), pad: Uint8Array.of(0, 0x77, 0) },
          { msg: { mtype: 1n, msize: 2 }, data: text('hi') },
        ],
      },
    ],
    crit: CRIT_DROPS_PADDING,
  },
];

const build = (c: Case): CriuImage => ({
  magic: c.magic,
  framing: 'common',
  entries: c.entries,
  extra: c.extra,
});
const IMAGES = new Map(CASES.map((c) => [c, encodeImage(build(c))]));

describe('synthetic images of every type with raw data round-trip', () => {
  test('every such type is registered, and covered here', () => {
    assert.deepEqual([...new Set(CASES.map((c) => c.magic))].sort(), [...EXTRA_PAYLOAD_TYPES].sort());
    for (const m of EXTRA_PAYLOAD_TYPES) assert.ok(IMAGE_SCHEMAS[m], `${m} registered`);
    assert.equal(IMAGE_SCHEMAS['GHOST_FILE']!.head!.name, 'ghost_file_entry');
    assert.equal(IMAGE_SCHEMAS['GHOST_FILE']!.entry.name, 'ghost_chunk_entry');
  });

  for (const c of CASES) {
    test(`${c.magic}: ${c.name}`, () => {
      const buf = IMAGES.get(c)!;
      const img = decodeImage(buf);
      assert.deepStrictEqual(img, build(c), 'decode gives what the image was built from');
      assertSameBytes(encodeImage(img), buf, 'decode -> encode');
      for (const pretty of [false, true]) {
        const json = decodeToJsonText(buf, pretty);
        assert.ok(!json.includes('_unknown'), 'every field known');
        assertSameBytes(encodeFromJsonText(json), buf, `${pretty ? 'pretty' : 'plain'} JSON -> encode`);
        // the JSON model too, not only the text
        assert.deepStrictEqual(imageFromJson(imageToJson(img, pretty)), img);
      }
    });
  }

  test('the payload sits after its entry, padded as CRIU pads it', () => {
    // IPCNS_SEM, 3 values: 6 bytes + 2 of padding after the entry
    const c = CASES.find((x) => x.magic === 'IPCNS_SEM')!;
    const buf = IMAGES.get(c)!;
    const body = encodeMessage(schemaForEntry('IPCNS_SEM', 0), c.entries[0]!);
    const at = 8 + 4 + body.length;
    assert.deepEqual([...buf.subarray(at, at + 8)], [0, 0, 1, 0, 0xff, 0x7f, 0, 0]);
    // IPCNS_MSG: u32 length + ipc_msg + text padded to 8, per message
    const m = CASES.find((x) => x.magic === 'IPCNS_MSG')!;
    const mb = IMAGES.get(m)!;
    const mat = 8 + 4 + encodeMessage(schemaForEntry('IPCNS_MSG', 0), m.entries[0]!).length;
    const first = encodeMessage(ipcMsg, { mtype: 1n, msize: 5 });
    assert.equal(mb[mat], first.length);
    const t = mat + 4 + first.length;
    assert.equal(Buffer.from(mb.subarray(t, t + 8)).toString('latin1'), 'hello\0\0\0');
  });

  test('JSON form: "extra" last, as crit writes it; "_pad" only when padding is not zero', () => {
    const plain = (c: Case) => parseJson(decodeToJsonText(IMAGES.get(c)!, false)) as { entries: JsonValue[] };
    const tcp = plain(CASES.find((c) => c.magic === 'TCP_STREAM')!).entries[0] as { [k: string]: JsonValue };
    assert.equal(Object.keys(tcp).at(-1), 'extra');
    assert.deepEqual(Object.keys(tcp['extra'] as object), ['inq', 'outq']);
    const sem = plain(CASES.find((c) => c.magic === 'IPCNS_SEM')!).entries[0] as { [k: string]: JsonValue };
    assert.deepEqual(sem['extra'], [0, 1, 32767]);
    assert.equal(sem['_pad'], undefined);
    const shmPad = plain(CASES.find((c) => c.name === 'padding that is not zero (shm)')!).entries[0] as {
      [k: string]: JsonValue;
    };
    assert.equal(shmPad['extra'], 'c2hhcmVkIGhlbGxvIQ==\n');
    assert.equal(shmPad['_pad'], '010203');
    const ghost = plain(CASES.find((c) => c.name === 'ghost sparse file in chunks')!).entries;
    assert.equal((ghost[0] as { [k: string]: JsonValue })['extra'], undefined, 'no data after the head');
    assert.equal(typeof (ghost[1] as { [k: string]: JsonValue })['extra'], 'string');
    const msgs = plain(CASES.find((c) => c.name === 'padding that is not zero (messages)')!).entries[0] as {
      [k: string]: JsonValue;
    };
    assert.deepEqual(msgs['extra'], [
      { mtype: 1, msize: 5, _pad: '007700' },
      'aGVsbG8=\n',
      { mtype: 1, msize: 2 },
      'aGk=\n',
    ]);
  });

  test('base64 in Python encodebytes layout (76-character lines)', () => {
    const c = CASES.find((x) => x.magic === 'PIPES_DATA')!;
    const e = (parseJson(decodeToJsonText(IMAGES.get(c)!, false)) as { entries: { extra: string }[] })
      .entries[0]!;
    const lines = e.extra.split('\n');
    assert.equal(lines.at(-1), '');
    assert.ok(lines.slice(0, -2).every((l) => l.length === 76));
    assert.deepEqual(Buffer.from(e.extra, 'base64'), Buffer.from(data(5000, 1)));
    // the encoder against Python's layout rebuilt from Node's base64: 76-character lines, each ending "\n"
    const d = data(60000, 12);
    for (const n of [0, 1, 2, 3, 4, 56, 57, 58, 113, 114, 115, 171, 8191, 8193, 60000]) {
      const flat = Buffer.from(d.subarray(0, n)).toString('base64');
      const python = (flat.match(/.{1,76}/g) ?? []).map((l) => `${l}\n`).join('');
      assert.equal(encodeBytesPython(d.subarray(0, n)), python, `${n} bytes`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// crit 3.17

describe('crit 3.17 agrees where it handles the type as CRIU writes it', { skip: SKIP_CRIT }, () => {
  const runs = new Map<
    Case,
    { plain: CritRun; pretty: CritRun; encoded?: CritRun & { bytes?: Uint8Array } }
  >();

  before(async () => {
    if (!HAVE_CRIT) return;
    const jobs = CASES.map((c, k) => async () => {
      if (c.crit !== 'both' && c.crit !== 'decode') return;
      const img = join(tmp, `crit-${k}.img`);
      writeFileSync(img, IMAGES.get(c)!);
      const [plain, pretty] = await Promise.all([
        runCrit(['decode', '-i', img]),
        runCrit(['decode', '--pretty', '-i', img]),
      ]);
      let encoded: (CritRun & { bytes?: Uint8Array }) | undefined;
      if (c.crit === 'both') {
        const json = join(tmp, `crit-${k}.json`);
        const out = join(tmp, `crit-${k}.out.img`);
        writeFileSync(json, decodeToJsonText(IMAGES.get(c)!, k % 2 === 0));
        const run = await runCrit(['encode', '-i', json, '-o', out]);
        encoded = run.ok ? { ...run, bytes: new Uint8Array(readFileSync(out)) } : run;
      }
      runs.set(c, { plain, pretty, ...(encoded && { encoded }) });
    });
    // two at a time (each job runs two crit processes, then one)
    for (let i = 0; i < jobs.length; i += 2) await Promise.all(jobs.slice(i, i + 2).map((j) => j()));
  });

  for (const c of CASES) {
    const skip = c.crit === 'both' || c.crit === 'decode' ? false : c.crit;
    const what = c.crit === 'decode' ? ' (decode only: crit encode fails on this type)' : '';
    test(`${c.magic}: ${c.name}${what}`, { skip }, () => {
      const buf = IMAGES.get(c)!;
      const r = runs.get(c);
      assertSameJson(parseJson(decodeToJsonText(buf, false)), parseJson(critOk(r?.plain, 'crit decode')));
      assertSameJson(
        parseJson(decodeToJsonText(buf, true)),
        parseJson(critOk(r?.pretty, 'crit decode --pretty')),
        '$pretty',
      );
      if (c.crit === 'both') {
        critOk(r?.encoded, 'crit encode of our JSON');
        assertSameBytes(r!.encoded!.bytes!, buf, 'crit encode of our JSON');
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// bad images

const HEADER_LEN = 8;

/** Raw image bytes: the header of `magic`, then each entry's message and whatever follows it. */
function raw(magic: string, ...parts: [Message, number[] | Uint8Array][]): Uint8Array {
  const out: number[] = [...encodeImage({ magic, framing: 'common', entries: [], extra: [] })];
  parts.forEach(([m, tail], i) => {
    const body = encodeMessage(schemaForEntry(magic, i), m);
    out.push(body.length & 0xff, (body.length >> 8) & 0xff, 0, 0, ...body, ...tail);
  });
  return new Uint8Array(out);
}

/** Where entry 0's payload starts in a `raw` image. */
function payloadStart(magic: string, m: Message): number {
  return HEADER_LEN + 4 + encodeMessage(schemaForEntry(magic, 0), m).length;
}

function formatError(buf: Uint8Array): ImageFormatError {
  try {
    decodeImage(buf);
  } catch (e) {
    assert.ok(e instanceof ImageFormatError, `ImageFormatError, got ${e}`);
    assert.ok(!e.message.includes('\n'), `one line: ${JSON.stringify(e.message)}`);
    return e;
  }
  assert.fail('decoded without an error');
}

/** Decoding `buf` fails fast with an ImageFormatError at `offset` whose text has every part. */
function assertBadImage(buf: Uint8Array, offset: number, ...parts: string[]): void {
  const before = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  const e = formatError(buf);
  assert.ok(performance.now() - t0 < 1000, 'at once');
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 << 20, 'no big allocation');
  assert.equal(e.offset, offset, e.message);
  for (const p of parts) assert.ok(e.detail.includes(p), `${JSON.stringify(e.detail)} should mention ${p}`);
}

describe('cut payloads and hostile sizes', () => {
  test('every cut of every image fails with an offset, except at entry boundaries', () => {
    let cuts = 0;
    for (const c of CASES) {
      const buf = IMAGES.get(c)!;
      // where each entry with its payload ends: a cut there is a shorter, valid image
      const ends = new Set<number>();
      for (let k = 1; k <= c.entries.length; k++) {
        ends.add(
          encodeImage({ ...build(c), entries: c.entries.slice(0, k), extra: c.extra.slice(0, k) }).length,
        );
      }
      const rest = c.magic === 'GHOST_FILE' && c.entries[0]!['chunks'] !== true;
      const step = buf.length > 3000 ? 97 : 1;
      for (let cut = HEADER_LEN; cut < buf.length; cut += step) {
        const piece = buf.subarray(0, cut);
        if (ends.has(cut) || cut === HEADER_LEN) {
          assert.ok(decodeImage(piece).entries.length < c.entries.length);
          continue;
        }
        if (rest && cut >= payloadStart(c.magic, c.entries[0]!)) {
          // a ghost file's contents run to the end of the file: a shorter file is shorter contents
          assert.equal(decodeImage(piece).entries.length, 1);
          continue;
        }
        const e = formatError(piece);
        assert.ok(e.offset >= HEADER_LEN && e.offset <= cut, `${c.name}, cut ${cut}: offset ${e.offset}`);
        assert.match(e.detail, /expected|claims/);
        cuts++;
      }
    }
    assert.ok(cuts > 2000, `${cuts} cuts`);
  });

  test('mutated images: a clean error, or an image that re-encodes and reads back the same', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    let failed = 0;
    let decoded = 0;
    const small = CASES.map((c) => IMAGES.get(c)!).filter((b) => b.length < 2000);
    for (let k = 0; k < 4000; k++) {
      const buf = Uint8Array.from(small[k % small.length]!);
      for (let m = 1 + rand(3); m > 0; m--) {
        const at = HEADER_LEN + rand(buf.length - HEADER_LEN);
        buf[at] = rand(4) === 0 ? 0xff : rand(256);
      }
      let img: CriuImage;
      try {
        img = decodeImage(buf);
      } catch (e) {
        assert.ok(e instanceof ImageFormatError, `mutation ${k}: ${e}`);
        assert.ok(!e.message.includes('\n'));
        failed++;
        continue;
      }
      decoded++;
      const again = decodeImage(encodeImage(img));
      assert.deepStrictEqual(again, img, `mutation ${k}: decode -> encode -> decode`);
      assert.deepStrictEqual(decodeImage(encodeFromJsonText(decodeToJsonText(buf, true))), img);
    }
    assert.ok(failed > 500 && decoded > 500, `${failed} failed, ${decoded} decoded`);
  });

  test('a cut payload names what was expected and how much is left', () => {
    const pde = { pipe_id: 7, bytes: 100 };
    assertBadImage(
      raw('PIPES_DATA', [pde, data(60, 1)]),
      payloadStart('PIPES_DATA', pde),
      'entry 0: expected 100 bytes of pipe data after the entry, only 60 remain in the file',
    );
    const tcp = {
      inq_len: 10,
      inq_seq: 1,
      outq_len: 20,
      outq_seq: 2,
      opt_mask: 0,
      snd_wscale: 0,
      mss_clamp: 0,
    };
    assertBadImage(
      raw('TCP_STREAM', [tcp, data(25, 2)]),
      payloadStart('TCP_STREAM', tcp) + 10,
      "expected 20 bytes of TCP send queue ('outq_len' = 20)",
      'only 15 remain',
    );
    // shm data there, its padding cut
    const shm = { desc: desc(0, 1), size: 13n };
    assertBadImage(
      raw('IPCNS_SHM', [shm, data(14, 3)]),
      payloadStart('IPCNS_SHM', shm) + 13,
      'expected 3 bytes of padding after the shared memory contents',
      'only 1 remain',
    );
  });

  test('hostile sizes: an error at once, nothing allocated', () => {
    const cases: [string, Message, string[]][] = [
      [
        'PIPES_DATA',
        { pipe_id: 1, bytes: 0xffffffff },
        ['expected 4294967295 bytes of pipe data', 'only 10 remain'],
      ],
      ['FIFO_DATA', { pipe_id: 1, bytes: 0x80000000 }, ['expected 2147483648 bytes of fifo data']],
      ['SK_QUEUES', { id_for: 1, length: 0xfffffff0 }, ['expected 4294967280 bytes of socket queue packet']],
      [
        'TCP_STREAM',
        {
          inq_len: 0xffffffff,
          inq_seq: 0,
          outq_len: 0xffffffff,
          outq_seq: 0,
          opt_mask: 0,
          snd_wscale: 0,
          mss_clamp: 0,
        },
        ["expected 4294967295 bytes of TCP receive queue ('inq_len' = 4294967295)"],
      ],
      [
        'BPFMAP_DATA',
        { map_id: 1, keys_bytes: 0xffffffff, values_bytes: 0xffffffff, count: 1 },
        ['expected 8589934590 bytes of BPF map keys and values'],
      ],
      [
        'IPCNS_SHM',
        { desc: desc(0, 1), size: 2n ** 64n - 1n },
        ['expected 18446744073709551615 bytes of shared'],
      ],
      [
        'IPCNS_SEM',
        { desc: desc(0, 1), nsems: 0xffffffff },
        ["expected 8589934590 bytes of semaphore values ('nsems' = 4294967295)"],
      ],
    ];
    for (const [magic, m, parts] of cases) {
      assertBadImage(raw(magic, [m, data(10, 4)]), payloadStart(magic, m), 'entry 0: ', ...parts);
    }
    // a ghost chunk of 2^64 - 1 bytes
    const head = { uid: 0, gid: 0, mode: 0o100644, chunks: true, size: 10n };
    const chunk = { len: 2n ** 64n - 1n, off: 0n };
    const g = raw('GHOST_FILE', [head, []], [chunk, data(10, 5)]);
    assertBadImage(g, g.length - 10, 'entry 1: expected 18446744073709551615 bytes of ghost file data');
  });

  test('message queues: hostile qnum, message length and msize', () => {
    const q = { desc: desc(0, 1), qbytes: 16384, qnum: 0xffffffff };
    const start = payloadStart('IPCNS_MSG', q);
    const one = encodeMessage(ipcMsg, { mtype: 1n, msize: 3 });
    const msg = [one.length, 0, 0, 0, ...one, 0x61, 0x62, 0x63, 0, 0, 0, 0, 0];
    // one message there, then the file ends where message 1 should start
    assertBadImage(
      raw('IPCNS_MSG', [q, msg]),
      start + msg.length,
      "entry 0: message 1 of 4294967295 ('qnum'): expected a 4-byte length, only 0 bytes remain",
    );
    assertBadImage(
      raw('IPCNS_MSG', [q, [0xff, 0xff, 0xff, 0x7f, 1, 2, 3]]),
      start,
      "message 0 of 4294967295 ('qnum') claims 2147483647 bytes but only 3 remain in the file",
    );
    const huge = encodeMessage(ipcMsg, { mtype: 1n, msize: 0xffffffff });
    assertBadImage(
      raw('IPCNS_MSG', [q, [huge.length, 0, 0, 0, ...huge, 1, 2]]),
      start + 4 + huge.length,
      "expected 4294967295 bytes of text of message 0 of 4294967295 ('qnum'), 'msize' = 4294967295",
    );
    // a message without msize
    const noSize = encodeMessage(ipcMsg, { mtype: 1n });
    assertBadImage(
      raw('IPCNS_MSG', [q, [noSize.length, 0, 0, 0, ...noSize]]),
      start + 4 + noSize.length,
      "has no 'msize'",
    );
  });

  test('a missing size field is an error, not a zero', () => {
    const pde = { pipe_id: 7 };
    assertBadImage(
      raw('PIPES_DATA', [pde, [1, 2, 3]]),
      payloadStart('PIPES_DATA', pde),
      "entry 0: no 'bytes' field",
    );
    const sem = { desc: desc(0, 1) };
    assertBadImage(raw('IPCNS_SEM', [sem, []]), payloadStart('IPCNS_SEM', sem), "no 'nsems' field");
  });

  test('pagestack decode: one line naming the file and the offset', async () => {
    const pde = { pipe_id: 7, bytes: 0xffffffff };
    const f = join(tmp, 'hostile-pipes.img');
    writeFileSync(f, raw('PIPES_DATA', [pde, data(10, 1)]));
    let err = '';
    const code = await runCli(['decode', f], {
      stdout: () => assert.fail('nothing on stdout'),
      stderr: (t) => {
        err += t;
      },
      stdin: async () => new Uint8Array(),
    });
    assert.equal(code, 1);
    assert.equal(
      err,
      `pagestack: ${f}: offset ${payloadStart('PIPES_DATA', pde)}: entry 0: expected 4294967295 bytes of pipe data after the entry, only 10 remain in the file\n`,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// bad JSON

function jsonError(doc: JsonValue): ImageJsonError {
  try {
    encodeFromJsonText(stringifyJson(doc));
  } catch (e) {
    assert.ok(e instanceof ImageJsonError, `ImageJsonError, got ${e}`);
    assert.ok(!e.message.includes('\n'), `one line: ${JSON.stringify(e.message)}`);
    return e;
  }
  assert.fail('encoded without an error');
}

function assertBadJson(doc: JsonValue, path: string, ...parts: string[]): void {
  const e = jsonError(doc);
  assert.equal(e.path, path, e.message);
  for (const p of parts) assert.ok(e.detail.includes(p), `${JSON.stringify(e.detail)} should mention ${p}`);
}

/** A case's plain JSON, to spoil. */
function jsonOf(magic: string, name?: string): { magic: string; entries: { [k: string]: JsonValue }[] } {
  const c = CASES.find((x) => x.magic === magic && (name === undefined || x.name === name))!;
  return parseJson(decodeToJsonText(IMAGES.get(c)!, false)) as ReturnType<typeof jsonOf>;
}

describe('JSON that does not match its entries', () => {
  test('data size differs from the size field, or is missing', () => {
    const d = jsonOf('PIPES_DATA');
    d.entries[2]!['extra'] = 'b2s=\n'; // "ok": 2 bytes, 'bytes' = 3
    assertBadJson(d, '$.entries[2].extra', "2 bytes of pipe data, but 'bytes' = 3");
    delete d.entries[2]!['extra'];
    assertBadJson(d, '$.entries[2].extra', "0 bytes of pipe data, but 'bytes' = 3");
    d.entries[2]!['extra'] = 'not base64!';
    assertBadJson(d, '$.entries[2].extra', 'expected base64 data');
    d.entries[2]!['extra'] = 3;
    assertBadJson(d, '$.entries[2].extra', 'expected pipe data as base64 text');
    // an empty pipe may leave "extra" out, as crit does for falsy values
    const ok = jsonOf('PIPES_DATA');
    delete ok.entries[1]!['extra'];
    assertSameBytes(encodeFromJsonText(stringifyJson(ok)), IMAGES.get(CASES[0]!)!, 'no extra for 0 bytes');
  });

  test('TCP queues', () => {
    const d = jsonOf('TCP_STREAM', 'established TCP connection with data both ways');
    d.entries[0]!['extra'] = { inq: '', outq: '' };
    assertBadJson(d, '$.entries[0].extra.inq', "0 bytes in the receive queue, but 'inq_len' = 1000");
    d.entries[0]!['extra'] = { inq: '', oq: '' };
    assertBadJson(d, '$.entries[0].extra.oq', "unexpected key 'oq'");
    d.entries[0]!['extra'] = 'AAAA';
    assertBadJson(d, '$.entries[0].extra', 'expected {"inq"');
    d.entries[0]!['_pad'] = '00';
    assertBadJson(d, '$.entries[0]._pad', 'no padding follows this payload');
  });

  test('semaphores and messages', () => {
    const s = jsonOf('IPCNS_SEM', 'semaphore sets: 3 values (padded), 4 values, 1 value');
    s.entries[0]!['extra'] = [0, 70000, 1];
    assertBadJson(s, '$.entries[0].extra[1]', 'expected a semaphore value (0 to 65535)');
    s.entries[0]!['extra'] = [0, 1];
    assertBadJson(s, '$.entries[0].extra', "2 semaphore values, but 'nsems' = 3");
    s.entries[0]!['extra'] = [0, 1, 2];
    s.entries[0]!['_pad'] = '0000aa';
    assertBadJson(s, '$.entries[0]._pad', 'padding of 3 bytes, expected 2');
    s.entries[0]!['_pad'] = 'xyz';
    assertBadJson(s, '$.entries[0]._pad', 'expected the padding as hex bytes');

    const m = jsonOf('IPCNS_MSG', 'message queues: three messages, and an empty queue');
    const list = m.entries[0]!['extra'] as JsonValue[];
    m.entries[0]!['extra'] = list.slice(0, 5);
    assertBadJson(m, '$.entries[0].extra', 'expected a list alternating ipc_msg objects and base64 texts');
    m.entries[0]!['extra'] = list.slice(0, 4);
    assertBadJson(m, '$.entries[0].extra', "2 messages, but 'qnum' = 3");
    m.entries[0]!['extra'] = [{ mtype: 1, msize: 4 }, 'aGVsbG8=\n', ...list.slice(2)];
    assertBadJson(m, '$.entries[0].extra[1]', "5 bytes of message text, but 'msize' = 4");
    m.entries[0]!['extra'] = [{ mtype: 1, size: 5 }, 'aGVsbG8=\n', ...list.slice(2)];
    assertBadJson(m, '$.entries[0].extra[0].size', "message ipc_msg has no field 'size'");
  });

  test('ghost files: chunks and inline contents do not mix', () => {
    const g = jsonOf('GHOST_FILE', 'ghost regular file, contents inline');
    g.entries.push({ len: 0, off: 0, extra: '' });
    assertBadJson(g, '$.entries[1]', 'a ghost file without chunks has one entry');
    const c = jsonOf('GHOST_FILE', 'ghost sparse file in chunks');
    c.entries[0]!['extra'] = 'AAAA';
    assertBadJson(c, '$.entries[0].extra', 'no data may follow a ghost file entry with chunks');
    const c2 = jsonOf('GHOST_FILE', 'ghost sparse file in chunks');
    c2.entries[2]!['len'] = 8191;
    assertBadJson(c2, '$.entries[2].extra', "8192 bytes of ghost file data, but chunk 'len' = 8191");
  });

  test('shm: in_pagemaps means no data; inline data must fill size', () => {
    const d = jsonOf('IPCNS_SHM', 'SysV shm segment kept in pagemaps (CRIU 4.2)');
    d.entries[0]!['extra'] = 'AAAA';
    assertBadJson(
      d,
      '$.entries[0].extra',
      "3 bytes of shared memory contents, but 'in_pagemaps' is set: none",
    );
    delete d.entries[0]!['extra'];
    assertSameBytes(
      encodeFromJsonText(stringifyJson(d)),
      IMAGES.get(CASES.find((c) => c.name === 'SysV shm segment kept in pagemaps (CRIU 4.2)')!)!,
      'no extra',
    );
  });

  test('a library caller passing the wrong kind of payload', () => {
    assert.throws(
      () =>
        encodeImage({
          magic: 'PIPES_DATA',
          framing: 'common',
          entries: [{ pipe_id: 1, bytes: 2 }],
          extra: [{ kind: 'sem', values: [1] }],
        }),
      (e: unknown) =>
        e instanceof ImageJsonError &&
        e.path === '$.entries[0].extra' &&
        /got a 'sem' payload/.test(e.detail),
    );
  });

  test('pagestack encode: one line naming the file and the JSON path', async () => {
    const d = jsonOf('PIPES_DATA');
    d.entries[0]!['extra'] = '';
    const f = join(tmp, 'bad-pipes.json');
    writeFileSync(f, stringifyJson(d));
    let err = '';
    const code = await runCli(['encode', f], {
      stdout: () => assert.fail('nothing on stdout'),
      stderr: (t) => {
        err += t;
      },
      stdin: async () => new Uint8Array(),
    });
    assert.equal(code, 1);
    assert.equal(err, `pagestack: ${f}: $.entries[0].extra: 0 bytes of pipe data, but 'bytes' = 5000\n`);
  });
});
