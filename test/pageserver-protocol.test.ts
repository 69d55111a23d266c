/**
 * The page-server wire codec (src/protocol/pageserver): every captured CRIU 4.2 session replayed
 * through the parser in random chunkings and checked against the capture's transcript; the 24-byte
 * header of CRIU <= 4.1 with hand-made sessions; the answer encoders against CRIU's own answers;
 * bad bytes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { rng } from '../bench/gen.js';
import { PageServerProtocolError } from '../src/errors.js';
import {
  codeName,
  decodeDstId,
  detectHeaderFormat,
  encodeIov,
  type HeaderFormat,
  PS_IOV_ADD,
  PS_IOV_ADD_F,
  PS_IOV_CLOSE,
  PS_IOV_GET,
  PS_IOV_OPEN2,
  pagemapFileName,
} from '../src/protocol/pageserver/iov.js';
import { type PageServerMessage, PageServerParser } from '../src/protocol/pageserver/parser.js';
import {
  addFRequest,
  closeAnswer,
  closeRequest,
  getAnswerHeader,
  getRequest,
  open2Answer,
  open2Request,
  parentAnswer,
  parentRequest,
} from '../src/protocol/pageserver/writer.js';
import { ROOT } from './helpers/fixtures.js';

const CAPTURES = join(ROOT, 'test', 'fixtures', 'page-server');

/** Every capture with a client-to-server file, and whether the stream is valid to its end. */
const SESSIONS: { dir: string; error?: number }[] = [
  { dir: 'dump-single' },
  { dir: 'dump-tree' },
  { dir: 'lazy-pageserver/push' },
  { dir: 'lazy-single' },
  { dir: 'second-dump/b1-server-parent' },
  { dir: 'second-dump/b4-predump-parent' },
  { dir: 'second-dump/b5-predump-noparent' },
  { dir: 'synthetic/parent-ok' },
  { dir: 'synthetic/no-parent' },
  { dir: 'synthetic/eof-no-close' },
  { dir: 'synthetic/hole-missing' },
  { dir: 'synthetic/get-lazy-images' },
  { dir: 'synthetic/unknown-cmd', error: 32 },
];

interface Seen {
  offset: number;
  name: string;
  flags: number;
  vaddr: bigint;
  nrPages: bigint;
  data: number;
}

/** The client's messages as the capture's transcript (made by a separate decoder) lists them. */
function transcriptMessages(dir: string): Seen[] {
  const out: Seen[] = [];
  for (const line of readFileSync(join(CAPTURES, dir, 'transcript.txt'), 'utf8').split('\n')) {
    const m =
      /^\s*\S+\s+C>S\s+(\d+)\s+(\S+)\s+flags=(\S+)\s+dst=.*?vaddr=(0x[0-9a-f]+)\s+nr_pages=(\d+)\s+data=(\d+)/.exec(
        line,
      );
    if (!m) continue;
    const fl = /\((\d+)\)/.exec(m[3]!);
    out.push({
      offset: Number(m[1]),
      name: m[2]!,
      flags: fl ? Number(fl[1]) : 0,
      vaddr: BigInt(m[4]!),
      nrPages: BigInt(m[5]!),
      data: Number(m[6]),
    });
  }
  return out;
}

/** Feeds `bytes` in random pieces (1 byte .. 3 pages, sometimes a whole message) and collects what comes out. */
function replay(bytes: Uint8Array, seed: number, format: HeaderFormat | 'auto' = 'auto') {
  const rand = rng(seed);
  const msgs: PageServerMessage[] = [];
  const data = new Map<number, Uint8Array[]>();
  const ended: number[] = [];
  const parser = new PageServerParser(
    {
      message: (m) => msgs.push(m),
      data: (b, m) => {
        const list = data.get(m.index) ?? [];
        list.push(new Uint8Array(b)); // views are only valid during the call
        data.set(m.index, list);
      },
      dataEnd: (m) => ended.push(m.index),
    },
    { format },
  );
  let error: unknown;
  try {
    let i = 0;
    while (i < bytes.length) {
      const r = rand();
      const n = r < 0.3 ? 1 + Math.floor(rand() * 40) : r < 0.9 ? 1 + Math.floor(rand() * 12288) : 70000;
      parser.feed(bytes.subarray(i, Math.min(bytes.length, i + n)));
      i += n;
    }
    parser.end();
  } catch (e) {
    error = e;
  }
  return { msgs, data, ended, parser, error };
}

describe('page-server parser: CRIU 4.2 captures', () => {
  for (const s of SESSIONS) {
    test(`${s.dir}: every message and all page data, in 5 random chunkings`, () => {
      const bytes = new Uint8Array(readFileSync(join(CAPTURES, s.dir, 'client-to-server.bin')));
      const expected = transcriptMessages(s.dir);
      assert.ok(expected.length > 0, 'transcript has messages');
      for (let seed = 1; seed <= 5; seed++) {
        const r = replay(bytes, seed * 7919);
        if (s.error !== undefined) {
          assert.ok(r.error instanceof PageServerProtocolError, String(r.error));
          assert.equal(r.error.offset, s.error);
          assert.match(r.error.message, /^byte 32: unknown command 99/);
          continue;
        }
        assert.equal(r.error, undefined, String(r.error));
        assert.equal(r.parser.format, 'iov32');
        assert.equal(r.parser.offset, bytes.length);
        assert.deepEqual(
          r.msgs.map((m) => ({
            offset: m.offset,
            name: codeName(m.code),
            flags: m.flags,
            vaddr: m.vaddr,
            nrPages: m.nrPages,
            data: m.dataBytes,
          })),
          expected,
        );
        // the data handed out is exactly the bytes after each header
        for (const m of r.msgs) {
          if (m.dataBytes === 0) continue;
          const got = Buffer.concat(r.data.get(m.index) ?? []);
          const hs = 32;
          assert.ok(
            got.equals(bytes.subarray(m.offset + hs, m.offset + hs + m.dataBytes)),
            `data of message ${m.index}`,
          );
        }
        assert.deepEqual(
          r.ended,
          r.msgs.filter((m) => m.dataBytes > 0).map((m) => m.index),
        );
      }
    });
  }

  test('dump-single: reads of exactly headerRemaining / dataRemaining bytes end on message boundaries', () => {
    // how the page server sizes its reads (a header alone, then the data into an ingest slot)
    const bytes = new Uint8Array(readFileSync(join(CAPTURES, 'dump-single', 'client-to-server.bin')));
    const msgs: PageServerMessage[] = [];
    const p = new PageServerParser({ message: (m) => msgs.push(m), data: () => undefined });
    assert.equal(p.headerRemaining, 24); // the first header counts as 24 bytes until they decide
    let at = 0;
    let pieces = 0;
    while (at < bytes.length) {
      const inData = p.dataRemaining > 0;
      const n: number = inData ? Math.min(p.dataRemaining, 5000) : p.headerRemaining;
      assert.ok(n > 0);
      const before = msgs.length;
      p.feed(bytes.subarray(at, at + n));
      at += n;
      pieces++;
      if (!inData && p.headerRemaining === (p.format === 'iov32' ? 32 : 24) && p.atBoundary) {
        assert.equal(msgs.length, before + 1, `a whole header at byte ${at - n}`);
      }
      if (inData) assert.equal(p.headerRemaining, p.dataRemaining > 0 ? 0 : 32);
    }
    assert.equal(p.format, 'iov32');
    assert.equal(p.offset, bytes.length);
    assert.equal(msgs.length, transcriptMessages('dump-single').length);
    assert.ok(pieces > msgs.length);
  });

  test('dump-single: the concatenated data is the pages file CRIU wrote', () => {
    const bytes = new Uint8Array(readFileSync(join(CAPTURES, 'dump-single', 'client-to-server.bin')));
    const r = replay(bytes, 3);
    const all = Buffer.concat([...r.data.values()].flat());
    assert.ok(all.equals(readFileSync(join(CAPTURES, 'dump-single', 'server-images', 'pages-65537.img'))));
    assert.equal(pagemapFileName(decodeDstId(r.msgs[0]!.dstId)!), 'pagemap-27245.img');
  });

  test('dump-tree: dst_id types decode to the pagemap names CRIU wrote', () => {
    const bytes = new Uint8Array(readFileSync(join(CAPTURES, 'dump-tree', 'client-to-server.bin')));
    const r = replay(bytes, 4);
    const names = r.msgs
      .filter((m) => m.code === PS_IOV_OPEN2)
      .map((m) => pagemapFileName(decodeDstId(m.dstId)!));
    assert.deepEqual(names, [
      'pagemap-shmem-1171.img',
      'pagemap-1626.img',
      'pagemap-1628.img',
      'pagemap-1629.img',
    ]);
  });
});

describe('page-server writer: answers as CRIU sends them', () => {
  test('OPEN2/PARENT/CLOSE answers equal the bytes of CRIU page servers', () => {
    const cap = (d: string) => readFileSync(join(CAPTURES, d, 'server-to-client.bin'));
    assert.deepEqual(cap('dump-single'), Buffer.concat([open2Answer(false), closeAnswer(0)]));
    assert.deepEqual(cap('second-dump/b1-server-parent'), Buffer.concat([open2Answer(true), closeAnswer(0)]));
    assert.deepEqual(
      cap('second-dump/b4-predump-parent'),
      Buffer.concat([parentAnswer(true), closeAnswer(0)]),
    );
    assert.deepEqual(cap('second-dump/b5-predump-noparent'), Buffer.from(parentAnswer(false)));
    assert.deepEqual(
      cap('dump-tree'),
      Buffer.concat([
        open2Answer(false),
        open2Answer(false),
        open2Answer(false),
        open2Answer(false),
        closeAnswer(0),
      ]),
    );
  });

  test('lazy-single: every GET answer header of CRIU equals getAnswerHeader(request, m)', () => {
    const c2s = new Uint8Array(readFileSync(join(CAPTURES, 'lazy-single', 'client-to-server.bin')));
    const s2c = new Uint8Array(readFileSync(join(CAPTURES, 'lazy-single', 'server-to-client.bin')));
    const gets = replay(c2s, 9).msgs.filter((m) => m.code === PS_IOV_GET);
    assert.equal(gets.length, 275);
    let p = 0;
    for (const g of gets) {
      const n = Number(g.nrPages); // CRIU answered each GET in full in this capture
      assert.deepEqual(s2c.subarray(p, p + 32), getAnswerHeader(g, n), `answer at byte ${p}`);
      p += 32 + n * 4096;
    }
    assert.deepEqual(s2c.subarray(p), closeAnswer(0));
  });

  test('requests decode back to what was encoded, both header formats', () => {
    for (const format of ['iov32', 'iov24'] as const) {
      const dst = { kind: 'pid', id: 27245 } as const;
      const page = new Uint8Array(4096).fill(0xa5);
      const stream = Buffer.concat([
        parentRequest(dst, format),
        open2Request(dst, format),
        addFRequest(dst, 6, 0x100000000000n, 1, format),
        page,
        addFRequest(dst, 1, 0x100000001000n, 3, format),
        getRequest(27245, 0x7fbe17cc4000n, 16, format),
        closeRequest(false, format),
      ]);
      const r = replay(stream, 11);
      assert.equal(r.error, undefined, String(r.error));
      assert.equal(r.parser.format, format);
      assert.deepEqual(
        r.msgs.map((m) => [codeName(m.code), m.flags, m.nrPages, m.vaddr, m.dstId]),
        [
          ['PARENT', 0, 0n, 0n, 0x6a6d01n],
          ['OPEN2', 0, 0n, 0n, 0x6a6d01n],
          ['ADD_F', 6, 1n, 0x100000000000n, 0x6a6d01n],
          ['ADD_F', 1, 3n, 0x100000001000n, 0x6a6d01n],
          ['GET', 0, 16n, 0x7fbe17cc4000n, 27245n],
          ['CLOSE', 0, 0n, 0n, 0n],
        ],
      );
    }
  });

  test('the example headers of PAGESERVER.md 2.2 encode to the documented bytes', () => {
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    assert.equal(hex(open2Request({ kind: 'pid', id: 27245 })), `04000000${'0'.repeat(40)}016d6a0000000000`);
    assert.equal(
      hex(addFRequest({ kind: 'pid', id: 27245 }, 6, 0x100000000000n, 256)),
      '0600060000000000' + '0001000000000000' + '0000000000100000' + '016d6a0000000000',
    );
    assert.equal(
      hex(getAnswerHeader({ vaddr: 0x7fbe17cc4000n, dstId: 0x7668n }, 1)),
      '0600040000000000' + '0100000000000000' + '0040cc17be7f0000' + '6876000000000000',
    );
  });
});

describe('page-server parser: the 24-byte header of CRIU <= 4.1 (hand-made sessions)', () => {
  test('a dump session: OPEN2, ADD_F with data, holes, ADD, CLOSE; detected from the first message', () => {
    const dst = { kind: 'pid', id: 4242 } as const;
    const pages = new Uint8Array(3 * 4096).map((_, i) => i & 0xff);
    const stream = Buffer.concat([
      open2Request(dst, 'iov24'),
      addFRequest(dst, 6, 0x400000n, 2, 'iov24'),
      pages.subarray(0, 8192),
      addFRequest(dst, 2, 0x500000n, 7, 'iov24'),
      encodeIov({ code: PS_IOV_ADD, flags: 0, nrPages: 1n, vaddr: 0x600000n, dstId: 0x109202n }, 'iov24'),
      pages.subarray(8192),
      closeRequest(false, 'iov24'),
    ]);
    assert.equal(stream.length, 24 * 5 + 3 * 4096);
    for (let seed = 1; seed < 20; seed++) {
      const r = replay(stream, seed);
      assert.equal(r.error, undefined);
      assert.equal(r.parser.format, 'iov24');
      assert.deepEqual(
        r.msgs.map((m) => [m.offset, m.code, m.dataBytes]),
        [
          [0, PS_IOV_OPEN2, 0],
          [24, PS_IOV_ADD_F, 8192],
          [24 + 24 + 8192, PS_IOV_ADD_F, 0],
          [24 * 3 + 8192, PS_IOV_ADD, 4096],
          [24 * 4 + 3 * 4096, PS_IOV_CLOSE, 0],
        ],
      );
      assert.ok(Buffer.concat([...r.data.values()].flat()).equals(pages));
    }
  });

  test('format detection from each kind of first message', () => {
    const dst = { kind: 'shmem', id: 7 } as const;
    for (const format of ['iov32', 'iov24'] as const) {
      assert.equal(detectHeaderFormat(open2Request(dst, format)), format);
      assert.equal(detectHeaderFormat(parentRequest(dst, format)), format);
      assert.equal(detectHeaderFormat(addFRequest(dst, 4, 0n, 1, format)), format);
      assert.equal(detectHeaderFormat(getRequest(1, 0x1000n, 1, format)), format);
    }
    assert.equal(detectHeaderFormat(closeRequest(false, 'iov24').subarray(0, 24)), 'iov32');
  });

  test('a lazy session of GETs in the 24-byte form', () => {
    const stream = Buffer.concat([
      getRequest(30312, 0x7fbe17cc4000n, 1, 'iov24'),
      getRequest(30312, 0x100000000000n, 16, 'iov24'),
      closeRequest(false, 'iov24'),
    ]);
    const r = replay(stream, 5);
    assert.equal(r.parser.format, 'iov24');
    assert.deepEqual(
      r.msgs.map((m) => [m.code, m.nrPages, m.vaddr, m.dstId]),
      [
        [PS_IOV_GET, 1n, 0x7fbe17cc4000n, 30312n],
        [PS_IOV_GET, 16n, 0x100000000000n, 30312n],
        [PS_IOV_CLOSE, 0n, 0n, 0n],
      ],
    );
  });
});

describe('page-server parser: bad bytes', () => {
  const dst = { kind: 'pid', id: 1 } as const;
  const bad = (what: string, stream: Uint8Array, offset: number, pattern: RegExp) =>
    test(what, () => {
      for (let seed = 1; seed <= 3; seed++) {
        const r = replay(stream, seed);
        assert.ok(r.error instanceof PageServerProtocolError, `${what}: ${String(r.error)}`);
        assert.equal(r.error.offset, offset);
        assert.match(r.error.message, pattern);
        assert.ok(!r.error.message.includes('\n'));
      }
    });
  const open2 = open2Request(dst);
  bad(
    'an unknown command',
    Buffer.concat([open2, encodeIov({ code: 99, flags: 0, nrPages: 0n, vaddr: 0n, dstId: 0x101n })]),
    32,
    /^byte 32: unknown command 99/,
  );
  bad(
    'a bad pagemap type',
    Buffer.concat([
      open2,
      encodeIov({ code: PS_IOV_OPEN2, flags: 0, nrPages: 0n, vaddr: 0n, dstId: 0x103n }),
    ]),
    32,
    /unknown pagemap type 3/,
  );
  bad(
    'a header cut short',
    Buffer.concat([open2, open2.subarray(0, 30)]),
    32,
    /ended inside a header \(30 of 32/,
  );
  bad('a first header cut short', open2.subarray(0, 10), 0, /ended inside a header \(10 of 24/);
  bad(
    'data shorter than announced',
    Buffer.concat([open2, addFRequest(dst, 4, 0x1000n, 2), new Uint8Array(5000)]),
    64 + 5000,
    /ADD_F at byte 32 announced 8192 bytes of page data, the stream ended after 5000/,
  );
  bad(
    'nr_pages of 2^40',
    Buffer.concat([
      open2,
      encodeIov({ code: PS_IOV_ADD_F, flags: 4, nrPages: 1n << 40n, vaddr: 0n, dstId: 0x101n }),
    ]),
    32,
    /ADD_F of 1099511627776 pages; more than/,
  );
  bad(
    'a range past the end of the address space',
    Buffer.concat([open2, addFRequest(dst, 2, 0xfffffffffffff000n, 2)]),
    32,
    /goes past the end of the address space/,
  );
  bad(
    'an unaligned address',
    Buffer.concat([open2, addFRequest(dst, 2, 0x1234n, 1)]),
    32,
    /not page-aligned/,
  );
  bad('unknown ADD_F flags', Buffer.concat([open2, addFRequest(dst, 0x10, 0x1000n, 1)]), 32, /flags 0x10/);
  bad(
    'bytes after CLOSE',
    Buffer.concat([open2, closeRequest(), new Uint8Array(3)]),
    64,
    /unexpected data after CLOSE \(sent at byte 32\)/,
  );
  bad(
    'ADD_F with data and nr_pages 0',
    Buffer.concat([open2, addFRequest(dst, 4, 0x1000n, 0)]),
    32,
    /nr_pages 0/,
  );

  test('after an error the parser accepts nothing more', () => {
    const p = new PageServerParser({ message: () => undefined, data: () => undefined });
    assert.throws(
      () => p.feed(encodeIov({ code: 77, flags: 0, nrPages: 0n, vaddr: 0n, dstId: 0n })),
      /byte 0/,
    );
    assert.throws(() => p.feed(open2), /byte 0: unknown command 77/);
  });

  test('memory: a peer announcing 2^35 pages costs nothing until it sends them', () => {
    let got = 0;
    const p = new PageServerParser({ message: () => undefined, data: (b) => (got += b.length) });
    p.feed(open2);
    p.feed(encodeIov({ code: PS_IOV_ADD_F, flags: 4, nrPages: 1n << 35n, vaddr: 0n, dstId: 0x101n }));
    p.feed(new Uint8Array(65536));
    assert.equal(got, 65536);
    assert.throws(
      () => p.end(),
      /announced 140737488355328 bytes of page data, the stream ended after 65536/,
    );
  });
});
