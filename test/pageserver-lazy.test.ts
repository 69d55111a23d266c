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
import { PagestackError } from '../src/errors.js';
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
      // one line per GET, in request order: asked, served, and from which layers
      const getLines = lines.filter((l) => / GET pid /.test(l));
      assert.equal(getLines.length, reqs.length);
      for (const [i, [v, n]] of reqs.entries()) {
        const m = i === reqs.length - 1 ? 1 : n;
        const l = new RegExp(
          `: GET pid ${PID} 0x${(v * 4096).toString(16)} \\+${n}: served ${m}${m < n ? ' \\(short: the rest is asked again\\)' : ''} from ((layer [123] \\d+)(, |$))+`,
        ).exec(getLines[i]!);
        assert.ok(l, getLines[i]);
        const parts = [...getLines[i]!.matchAll(/layer ([123]) (\d+)/g)];
        assert.equal(
          parts.reduce((t, x) => t + Number(x[2]), 0),
          m,
        );
      }
      // the per-GET counts add up to the summary's per layer
      const perLayer = new Map<string, number>();
      for (const l of getLines)
        for (const x of l.matchAll(/layer ([123]) (\d+)/g))
          perLayer.set(x[1]!, (perLayer.get(x[1]!) ?? 0) + Number(x[2]));
      const summary = lines.find((l) => l.includes('lazy session done'))!;
      for (const [layer, k] of perLayer)
        assert.ok(summary.includes(`${k} from ${join(dir, 'stack', layer)}`), summary);
    } finally {
      await server.close();
    }
  });

  test('--layer: serves that layer of the stack (through its parents), not the top; a missing layer is refused', async () => {
    const dir = testDir('lazy-layer');
    copyStack(join(dir, 'stack'));
    const lines: string[] = [];
    const results: SessionResult[] = [];
    for (const [layer, pages] of [
      [1, 1],
      [2, 2],
    ] as const) {
      const server = await PageServer.start({
        stack: join(dir, 'stack'),
        port: 0,
        lazy: { layer },
        log: (l) => lines.push(l),
      });
      const done = new Promise<SessionResult>((ok) => server.onSession(ok));
      try {
        // the 2 MiB region: its first 64 pages, as the layer (and the ones below it) hold them
        const got = await exchange(
          server.port,
          Buffer.concat([getRequest(PID, 0x300000000000n, 64), closeRequest()]),
          32 + 64 * 4096 + 4,
        );
        const stack = await openStackDir(join(dir, 'stack', String(layer)));
        try {
          const want = await (await stack.memory(PM)).read(0x300000000000, 64 * 4096);
          assert.ok(got.subarray(32, 32 + 64 * 4096).equals(want), `layer ${layer}`);
        } finally {
          await stack.close();
        }
        const r = await done;
        assert.equal(r.ok, true, r.error);
        results.push(r);
        assert.ok(
          lines.some((l) =>
            l.endsWith(`lazy session serving ${join(dir, 'stack', String(layer))} (${pages} layers)`),
          ),
        );
      } finally {
        await server.close();
      }
    }
    // the layers differ there, so serving the top instead would have failed the check above
    const top = await openStackDir(join(dir, 'stack', '3'));
    const l1 = await openStackDir(join(dir, 'stack', '1'));
    try {
      const a = await (await top.memory(PM)).read(0x300000000000, 64 * 4096);
      const b = await (await l1.memory(PM)).read(0x300000000000, 64 * 4096);
      assert.ok(!Buffer.from(a).equals(Buffer.from(b)));
    } finally {
      await top.close();
      await l1.close();
    }
    // refused at start (every session would fail), not at the first GET
    await assert.rejects(
      PageServer.start({ stack: join(dir, 'stack'), port: 0, lazy: { layer: 7 }, log: (l) => lines.push(l) }),
      (e: unknown) =>
        e instanceof PagestackError &&
        e.code === 'PAGESTACK_PS_NO_LAYERS' &&
        /stack: no layer 7 \(layers: 1, 2, 3\)$/.test(e.message),
    );
  });

  test('pages that cannot be served: one log line with the reason and the offset, session ended', async () => {
    const dir = testDir('lazy-bad');
    copyStack(join(dir, 'stack'));
    const { server, lines, ended } = await lazyServer(join(dir, 'stack'));
    try {
      const cases: [Uint8Array, RegExp, string, number][] = [
        [
          getRequest(PID, 0x300000000000n + 600n * 4096n, 1),
          /byte 0: GET 1 pages at 0x300000258000 of pid 25238: page 0x300000258000 is not dumped; cannot answer/,
          'PAGESTACK_PS_CANNOT_SERVE',
          0,
        ],
        [
          Buffer.concat([getRequest(PID, 0x300000000000n, 1), getRequest(4242, 0x1000n, 1)]),
          /byte 32: GET .* of pid 4242: .* has no pagemap-4242\.img/,
          'PAGESTACK_PS_CANNOT_SERVE',
          32,
        ],
        [
          open2Request({ kind: 'pid', id: PID }),
          /byte 0: OPEN2 sent to a lazy page server/,
          'PAGESTACK_PS_UNEXPECTED',
          0,
        ],
      ];
      for (const [i, [wire, pattern, code, offset]] of cases.entries()) {
        await exchange(server.port, wire);
        const r = await ended(i + 1);
        assert.equal(r.ok, false);
        assert.match(r.error!, pattern);
        assert.ok(r.error!.endsWith(`[${code}]`), r.error);
        assert.deepEqual([r.code, r.data?.offset, r.data?.peer], [code, offset, r.error!.split(': ')[0]]);
        assert.ok(lines.includes(r.error!));
      }
    } finally {
      await server.close();
    }
  });
});
