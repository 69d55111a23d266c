/**
 * The lazy side without CRIU: `lazy-images` of the real series stack (CRIU 4.2 images, 3 layers)
 * and `page-server --lazy` answering GETs through the stack: in request order with several in
 * flight, never more pages than asked, clamped where the stack's data ends, a clear log line (and
 * the session's end) where a page cannot be served.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { lazyImages } from '../src/ops/lazy-images.js';
import { decodeIov } from '../src/protocol/pageserver/iov.js';
import { closeAnswer, closeRequest, getRequest, open2Request } from '../src/protocol/pageserver/writer.js';
import { PageServer, type SessionResult } from '../src/server/page-server.js';
import { openStackDir } from '../src/source/open.js';
import { testDir } from './helpers/files.js';
import { copyStack } from './helpers/fixtures.js';
import { entriesOf } from './helpers/images.js';

const PID = 25238;
const PM = `pagemap-${PID}.img`;

/** Sends `bytes`, collects everything until the server closes (after the CLOSE answer we close). */
function exchange(port: number, bytes: Uint8Array, closeAfter?: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    let n = 0;
    const s = connect({ port, host: '127.0.0.1' }, () => s.write(bytes));
    s.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (closeAfter !== undefined && n >= closeAfter) s.end();
    });
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    s.on('close', () => resolve(Buffer.concat(got)));
  });
}

async function lazyServer(stack: string) {
  const lines: string[] = [];
  const results: SessionResult[] = [];
  const server = await PageServer.start({ stack, port: 0, lazy: {}, log: (l) => lines.push(l) });
  server.onSession((r) => results.push(r));
  const ended = async (k: number) => {
    while (results.length < k) await new Promise((ok) => setTimeout(ok, 10));
    return results[k - 1]!;
  };
  return { server, lines, ended };
}

describe('lazy-images: the restore side of a lazy restore from a stack', () => {
  test('series stack: lazy-able pages PE_LAZY without data, the rest present with the bytes of the stack', async () => {
    const dir = testDir('lazy-images');
    const top = copyStack(join(dir, 'stack'));
    const out = join(dir, 'R');
    const r = await lazyImages({ top, out });
    const e = entriesOf(join(out, PM));
    assert.ok(e.every(([, , f]) => f === 2 || f === 4));
    const stack = await openStackDir(top);
    try {
      const mem = await stack.memory(PM);
      let total = 0;
      for (let j = 0; j < mem.extents.count; j++) total += mem.extents.end[j]! - mem.extents.start[j]!;
      assert.equal(r.lazyPages + r.presentPages, total);
      // the 2 MiB region (private anonymous) is lazy in one piece; vDSO/file pages are present
      assert.ok(
        e.some(([v, n, f]) => v === 0x300000000 && n === 512 && f === 2),
        JSON.stringify(e),
      );
      // pages file = the present pages' bytes, through the stack, in pagemap order
      const parts: Uint8Array[] = [];
      for (const [v, n, f] of e) if (f === 4) parts.push(await mem.read(v * 4096, n * 4096));
      assert.ok(readFileSync(join(out, 'pages-1.img')).equals(Buffer.concat(parts)));
      assert.equal(r.presentPages * 4096, readFileSync(join(out, 'pages-1.img')).length);
      // entries ascend and never span two VMAs
      const vmas = await stack.vmas(PID);
      for (const [v, n] of e) {
        const vma = vmas.find((m) => m.start <= v * 4096 && v * 4096 < m.end)!;
        assert.ok((v + n) * 4096 <= vma.end);
      }
    } finally {
      await stack.close();
    }
    assert.ok(!existsSync(join(out, 'parent')));
    for (const f of ['core-25238.img', 'mm-25238.img', 'pstree.img', 'inventory.img', 'stats-dump']) {
      assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(top, f))), f);
    }
    assert.ok(!readdirSync(out).includes('stats-restore'));
  });
});

describe('page-server --lazy: GET answered through the stack', () => {
  test('every lazy entry, several GETs in flight: answers in order, exact data, never more than asked', async () => {
    const dir = testDir('lazy-serve');
    const top = copyStack(join(dir, 'stack'));
    const R = join(dir, 'R');
    await lazyImages({ top, out: R });
    const lazy = entriesOf(join(R, PM)).filter(([, , f]) => f === 2);
    // requests like the daemon's: 16, 32, 48 ... pages, plus one that runs past the entry's end
    const reqs: [number, number][] = [];
    for (const [v, n] of lazy) {
      let p = 0;
      let size = 16;
      while (p < n) {
        const k = Math.min(size, n - p);
        reqs.push([v + p, k]);
        p += k;
        size = Math.min(size + 16, 96);
      }
    }
    const last = lazy[lazy.length - 1]!;
    reqs.push([last[0] + last[1] - 1, 8]); // the stack holds 1 page there: m = 1
    const { server, lines, ended } = await lazyServer(join(dir, 'stack'));
    try {
      const wire = Buffer.concat([
        ...reqs.map(([v, n]) => getRequest(PID, BigInt(v) * 4096n, n)),
        closeRequest(),
      ]);
      const stack = await openStackDir(top);
      const mem = await stack.memory(PM);
      const expectLen =
        reqs.reduce((s, [v, n], i) => s + 32 + (i === reqs.length - 1 ? 1 : n) * 4096 + 0 * v, 0) + 4;
      const got = await exchange(server.port, wire, expectLen);
      assert.equal(got.length, expectLen);
      let p = 0;
      for (const [i, [v, n]] of reqs.entries()) {
        const h = decodeIov(got, p, 'iov32');
        const m = i === reqs.length - 1 ? 1 : n;
        assert.deepEqual(
          [h.code, h.flags, h.vaddr, h.dstId, h.nrPages],
          [6, 4, BigInt(v) * 4096n, BigInt(PID), BigInt(m)],
        );
        assert.ok(
          got.subarray(p + 32, p + 32 + m * 4096).equals(await mem.read(v * 4096, m * 4096)),
          `GET ${i}`,
        );
        p += 32 + m * 4096;
      }
      assert.deepEqual(got.subarray(p), Buffer.from(closeAnswer(0)));
      await stack.close();
      const r = await ended(1);
      assert.equal(r.ok, true, r.error);
      const total = lazy.reduce((s, [, n]) => s + n, 0) + 1;
      assert.ok(
        lines.some((l) =>
          new RegExp(
            `lazy session done: ${reqs.length} GETs, ${total} pages served \\(\\d+ from .*/3, \\d+ from .*/2, \\d+ from .*/1\\)`,
          ).test(l),
        ),
        lines.join('\n'),
      );
    } finally {
      await server.close();
    }
  });

  test('pages that cannot be served: one log line with the reason and the offset, session ended', async () => {
    const dir = testDir('lazy-bad');
    copyStack(join(dir, 'stack'));
    const { server, lines, ended } = await lazyServer(join(dir, 'stack'));
    try {
      const cases: [Uint8Array, RegExp][] = [
        [
          getRequest(PID, 0x300000000000n + 600n * 4096n, 1),
          /byte 0: GET 1 pages at 0x300000258000 of pid 25238: page 0x300000258000 is not dumped; cannot answer/,
        ],
        [
          Buffer.concat([getRequest(PID, 0x300000000000n, 1), getRequest(4242, 0x1000n, 1)]),
          /byte 32: GET .* of pid 4242: .* has no pagemap-4242\.img/,
        ],
        [open2Request({ kind: 'pid', id: PID }), /byte 0: OPEN2 sent to a lazy page server/],
      ];
      for (const [i, [wire, pattern]] of cases.entries()) {
        await exchange(server.port, wire);
        const r = await ended(i + 1);
        assert.equal(r.ok, false);
        assert.match(r.error!, pattern);
        assert.ok(lines.includes(r.error!));
      }
    } finally {
      await server.close();
    }
  });
});
