/**
 * `pagestack page-server` (src/server): the captured CRIU 4.2 dump sessions replayed over loopback
 * against it write the images CRIU's own page server wrote, byte for byte; a repeated or changed
 * dump becomes an incremental layer (PE_PARENT where pages are equal, as `delta`); bad peers end
 * their session with one log line and leave no layer; SIGKILL mid-session leaves nothing that the
 * next start does not clean; add-images completes a layer so that it verifies.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { ErrorCode, PagestackError } from '../src/errors.js';
import { addImages } from '../src/ops/add-images.js';
import { verifyStack } from '../src/ops/verify.js';
import { encodeIov, PS_IOV_ADD_F } from '../src/protocol/pageserver/iov.js';
import { PageServerParser } from '../src/protocol/pageserver/parser.js';
import { addFRequest, closeRequest, getRequest, open2Request } from '../src/protocol/pageserver/writer.js';
import { PageServer, type SessionResult } from '../src/server/page-server.js';
import { DirLayerSource } from '../src/source/dir.js';
import { openStackDir } from '../src/source/open.js';
import { testDir } from './helpers/files.js';
import { copyStack, ROOT } from './helpers/fixtures.js';
import { entriesOf } from './helpers/images.js';
import { HAVE_OPENSSL, makeCerts } from './helpers/pageserver-live.js';

const CAPTURES = join(ROOT, 'test', 'fixtures', 'page-server');
const cap = (dir: string, f: string) => readFileSync(join(CAPTURES, dir, f));

interface Sent {
  answers: Buffer;
  /** The server closed the connection (error or after the session). */
  closedByServer: boolean;
}

/**
 * Sends `bytes` to the server in pieces of `chunk` bytes, collects answers until `expect` bytes
 * came (then closes, as CRIU's dump does after the CLOSE answer) or the server closes.
 */
function send(port: number, bytes: Uint8Array, expect: number, chunk = 65536, end = true): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    let n = 0;
    let byServer = false;
    const s = connect({ port, host: '127.0.0.1' }, () => {
      for (let i = 0; i < bytes.length; i += chunk) s.write(bytes.subarray(i, i + chunk));
      if (expect === 0 && end) s.end();
    });
    s.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n >= expect && end) s.end();
    });
    s.on('end', () => {
      byServer = true;
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') byServer = true;
      else reject(e);
    });
    s.on('close', () => resolve({ answers: Buffer.concat(got), closedByServer: byServer }));
  });
}

async function startServer(stack: string, opts: { idleTimeoutMs?: number; ingestThread?: boolean } = {}) {
  const lines: string[] = [];
  const server = await PageServer.start({ stack, port: 0, log: (l) => lines.push(l), ...opts });
  const results: SessionResult[] = [];
  const waiters: (() => void)[] = [];
  server.onSession((r) => {
    results.push(r);
    for (const w of waiters.splice(0)) w();
  });
  /** Resolves when `count` sessions have ended. */
  const sessions = async (count: number) => {
    while (results.length < count) await new Promise<void>((ok) => waiters.push(ok));
    return results.slice(0, count);
  };
  return { server, lines, results, sessions };
}

const good = () => cap('dump-single', 'client-to-server.bin');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const layers = (stack: string) => readdirSync(stack).sort();

describe('page-server: captured CRIU 4.2 dumps replayed over loopback', () => {
  test('dump-single: same answers, pagemap and pages file byte for byte as criu page-server', async () => {
    const stack = testDir('ps-single');
    const { server, sessions } = await startServer(stack);
    try {
      const s = await send(server.port, cap('dump-single', 'client-to-server.bin'), 5, 7777);
      assert.deepEqual(s.answers, cap('dump-single', 'server-to-client.bin'));
      const [r] = await sessions(1);
      assert.equal(r!.ok, true, r!.error);
      assert.deepEqual(layers(stack), ['1']);
      assert.deepEqual(readdirSync(join(stack, '1')).sort(), ['pagemap-27245.img', 'pages-65537.img']);
      for (const f of ['pagemap-27245.img', 'pages-65537.img']) {
        assert.ok(
          readFileSync(join(stack, '1', f)).equals(cap('dump-single', join('server-images', f))),
          `${f} differs from CRIU's`,
        );
      }
      assert.deepEqual(r!.stats, {
        layer: join(stack, '1'),
        pagemaps: 1,
        entries: 269,
        pagesReceived: 542,
        pagesKept: 542,
        pagesShared: 0,
        pagesWithoutData: 0,
      });
    } finally {
      await server.close();
    }
  });

  test('dump-tree (shmem + 3 processes) and lazy-pageserver/push (flags 2, no data): byte for byte', async () => {
    for (const dir of ['dump-tree', 'lazy-pageserver/push']) {
      const stack = testDir('ps-tree');
      const { server, sessions } = await startServer(stack);
      try {
        const s = await send(
          server.port,
          cap(dir, 'client-to-server.bin'),
          cap(dir, 'server-to-client.bin').length,
          1500,
        );
        assert.deepEqual(s.answers, cap(dir, 'server-to-client.bin'));
        const [r] = await sessions(1);
        assert.equal(r!.ok, true, r!.error);
        const criu = readdirSync(join(CAPTURES, dir, 'server-images')).sort();
        const sums = new Map<string, [string, number]>();
        if (criu.includes('pages-files.txt')) {
          // dump-tree keeps its pages files as sha256 + size only
          const txt = readFileSync(join(CAPTURES, dir, 'server-images', 'pages-files.txt'), 'utf8');
          for (const m of txt.matchAll(/^([0-9a-f]{64})\s+(\S+)$/gm)) sums.set(m[2]!, [m[1]!, -1]);
          for (const m of txt.matchAll(/^(pages-\d+\.img) (\d+)$/gm)) sums.get(m[1]!)![1] = Number(m[2]);
        }
        const ours = readdirSync(join(stack, '1')).sort();
        assert.deepEqual(ours, [...criu.filter((f) => f !== 'pages-files.txt'), ...sums.keys()].sort());
        for (const f of ours) {
          const mine = readFileSync(join(stack, '1', f));
          const theirs = sums.get(f);
          if (theirs) {
            assert.equal(sha(mine), theirs[0], `${dir}: ${f}`);
            assert.equal(mine.length, theirs[1]);
          } else {
            assert.ok(mine.equals(cap(dir, join('server-images', f))), `${dir}: ${f} differs from CRIU's`);
          }
        }
      } finally {
        await server.close();
      }
    }
  });

  test('the same dump again: layer 2 is all PE_PARENT on layer 1, empty pages file, same memory', async () => {
    const stack = testDir('ps-twice');
    const { server, sessions } = await startServer(stack);
    try {
      const bytes = cap('dump-single', 'client-to-server.bin');
      await send(server.port, bytes, 5);
      await sessions(1);
      await send(server.port, bytes, 5);
      const [, r] = await sessions(2);
      assert.equal(r!.ok, true, r!.error);
      assert.equal(r!.stats!.pagesShared, 542);
      assert.equal(readlinkSync(join(stack, '2', 'parent')), '../1');
      assert.equal(readFileSync(join(stack, '2', 'pages-65537.img')).length, 0);
      const one = entriesOf(join(stack, '1', 'pagemap-27245.img'));
      // one entry per received entry, flags 1 (as delta writes them)
      assert.deepEqual(
        entriesOf(join(stack, '2', 'pagemap-27245.img')),
        one.map(([v, n]) => [v, n, 1]),
      );
      const a = await openStackDir(join(stack, '1'));
      const b = await openStackDir(join(stack, '2'));
      try {
        const ma = await a.memory('pagemap-27245.img');
        const mb = await b.memory('pagemap-27245.img');
        for (const [v, n] of one) {
          assert.deepEqual(await mb.read(v * 4096, n * 4096), await ma.read(v * 4096, n * 4096));
        }
      } finally {
        await a.close();
        await b.close();
      }
    } finally {
      await server.close();
    }
  });

  for (const ingestThread of [true, false]) {
    test(`a changed dump: changed pages kept (with their flags), equal ones PE_PARENT, memory = the new dump (ingest ${ingestThread ? 'on its thread' : 'on the main thread'})`, async () => {
      const stack = testDir('ps-changed');
      const { server, sessions } = await startServer(stack, { ingestThread });
      try {
        const first = cap('dump-single', 'client-to-server.bin');
        await send(server.port, first, 5);
        await sessions(1);
        // change pages 3 and 4 of the 256-page entry and the data of one small entry
        const second = Buffer.from(first);
        const msgs: { offset: number; dataBytes: number; nrPages: bigint; vaddr: bigint }[] = [];
        const p = new PageServerParser({ message: (m) => msgs.push(m), data: () => undefined });
        p.feed(second);
        const big = msgs.find((m) => m.nrPages === 256n)!;
        second.fill(0x5a, big.offset + 32 + 3 * 4096, big.offset + 32 + 5 * 4096);
        const small = msgs.filter((m) => m.nrPages === 1n)[10]!;
        second[small.offset + 32 + 100] ^= 0xff;
        await send(server.port, second, 5);
        const [, r] = await sessions(2);
        assert.equal(r!.ok, true, r!.error);
        assert.equal(r!.stats!.pagesKept, 3);
        assert.equal(r!.stats!.pagesShared, 539);
        const e = entriesOf(join(stack, '2', 'pagemap-27245.img'));
        const bigV = Number(big.vaddr / 4096n);
        const at = e.findIndex(([v]) => v === bigV);
        assert.deepEqual(e.slice(at, at + 3), [
          [bigV, 3, 1],
          [bigV + 3, 2, 6],
          [bigV + 5, 251, 1],
        ]);
        assert.ok(e.some(([v, n, f]) => v === Number(small.vaddr / 4096n) && n === 1 && f !== 1));
        assert.equal(readFileSync(join(stack, '2', 'pages-65537.img')).length, 3 * 4096);
        const top = await openStackDir(join(stack, '2'));
        try {
          const mem = await top.memory('pagemap-27245.img');
          for (const m of msgs.filter((x) => x.dataBytes > 0)) {
            const want = second.subarray(m.offset + 32, m.offset + 32 + m.dataBytes);
            assert.ok(Buffer.from(await mem.read(Number(m.vaddr), m.dataBytes)).equals(want));
          }
        } finally {
          await top.close();
        }
        const report = await verifyStack(await DirLayerSource.open(join(stack, '2')));
        const errors = report.problems.filter(
          (x) => x.severity === 'error' && !/pstree|inventory|core|mm-/.test(x.message),
        );
        assert.deepEqual(errors, []);
      } finally {
        await server.close();
      }
    });
  }

  test('24-byte headers (CRIU <= 4.1): a hand-made session makes the same layer as the 32-byte one', async () => {
    const stack24 = testDir('ps-24');
    const stack32 = testDir('ps-32');
    const dst = { kind: 'pid', id: 4242 } as const;
    const pages = Buffer.alloc(3 * 4096).map((_, i) => (i * 7) & 0xff);
    const session = (f: 'iov24' | 'iov32') =>
      Buffer.concat([
        open2Request(dst, f),
        addFRequest(dst, 6, 0x400000n, 2, f),
        pages.subarray(0, 8192),
        addFRequest(dst, 2, 0x500000n, 7, f),
        addFRequest(dst, 4, 0x600000n, 1, f),
        pages.subarray(8192),
        closeRequest(false, f),
      ]);
    for (const [stack, f] of [
      [stack24, 'iov24'],
      [stack32, 'iov32'],
    ] as const) {
      const { server, sessions, lines } = await startServer(stack);
      try {
        const s = await send(server.port, session(f), 5, 13);
        assert.deepEqual([...s.answers], [0, 0, 0, 0, 0]);
        const [r] = await sessions(1);
        assert.equal(r!.ok, true, r!.error);
        if (f === 'iov24') assert.ok(lines.some((l) => l.includes('(CRIU <= 4.1 headers)')));
      } finally {
        await server.close();
      }
    }
    for (const file of ['pagemap-4242.img', 'pages-65537.img']) {
      assert.ok(readFileSync(join(stack24, '1', file)).equals(readFileSync(join(stack32, '1', file))), file);
    }
    assert.deepEqual(entriesOf(join(stack24, '1', 'pagemap-4242.img')), [
      [0x400, 2, 6],
      [0x500, 7, 2],
      [0x600, 1, 4],
    ]);
  });
});

describe('page-server: bad peers', () => {
  const dst = { kind: 'pid', id: 1 } as const;
  const page = Buffer.alloc(4096, 1);

  const badSession = (
    what: string,
    bytes: Uint8Array,
    pattern: RegExp,
    code: ErrorCode,
    offset: number,
    opts: { idleTimeoutMs?: number } = {},
  ) =>
    test(what, async () => {
      const stack = testDir('ps-bad');
      const { server, sessions, lines } = await startServer(stack, opts);
      try {
        // the client half-closes after sending, except the slow one, which just stops
        const s = await send(server.port, bytes, 0, 65536, opts.idleTimeoutMs === undefined);
        assert.equal(s.closedByServer, true);
        const [r] = await sessions(1);
        assert.equal(r!.ok, false);
        assert.match(r!.error!, /^127\.0\.0\.1:\d+: /);
        assert.match(r!.error!, pattern);
        // the stable code ends the log line; the result has it with the peer and the byte offset
        assert.ok(r!.error!.endsWith(`session ended, no layer written [${code}]`), r!.error);
        assert.equal(r!.code, code);
        assert.deepEqual([r!.data?.peer, r!.data?.offset], [r!.error!.split(': ')[0], offset]);
        assert.ok(lines.includes(r!.error!));
        assert.deepEqual(layers(stack), []);
        // the server lives on: a good dump after it becomes layer 1
        await send(server.port, good(), 5);
        const [, ok] = await sessions(2);
        assert.equal(ok!.ok, true, ok!.error);
        assert.deepEqual(layers(stack), ['1']);
      } finally {
        await server.close();
      }
    });

  badSession(
    'the unknown-cmd capture (code 99)',
    cap('synthetic/unknown-cmd', 'client-to-server.bin'),
    /byte 32: unknown command 99/,
    'PAGESTACK_PS_UNKNOWN_COMMAND',
    32,
  );
  badSession(
    'the eof-no-close capture',
    cap('synthetic/eof-no-close', 'client-to-server.bin'),
    /byte 4160: the peer closed the connection before CLOSE/,
    'PAGESTACK_PS_NO_CLOSE',
    4160,
  );
  badSession(
    'a bad pagemap type',
    Buffer.concat([
      open2Request(dst),
      encodeIov({ code: 4, flags: 0, nrPages: 0n, vaddr: 0n, dstId: 0x163n }),
    ]),
    /byte 32: OPEN2 for dst_id 0x163: unknown pagemap type 99/,
    'PAGESTACK_PS_BAD_TYPE',
    32,
  );
  badSession(
    'a header cut short',
    Buffer.concat([open2Request(dst), page.subarray(0, 20)]),
    /byte 32: the stream ended inside a header/,
    'PAGESTACK_PS_TRUNCATED',
    32,
  );
  badSession(
    'nr_pages of 2^40',
    Buffer.concat([
      open2Request(dst),
      encodeIov({ code: PS_IOV_ADD_F, flags: 4, nrPages: 1n << 40n, vaddr: 0n, dstId: 0x101n }),
    ]),
    /byte 32: ADD_F of 1099511627776 pages/,
    'PAGESTACK_PS_BAD_HEADER',
    32,
  );
  badSession(
    'data shorter than announced',
    Buffer.concat([open2Request(dst), addFRequest(dst, 4, 0x1000n, 4), page, page]),
    /byte 8256: ADD_F at byte 32 announced 16384 bytes of page data, the stream ended after 8192/,
    'PAGESTACK_PS_TRUNCATED',
    8256,
  );
  badSession(
    'a GET sent to a receiving server',
    Buffer.concat([getRequest(27245, 0x100000000000n, 1)]),
    /byte 0: GET: a GET sent to a receiving page server/,
    'PAGESTACK_PS_UNEXPECTED',
    0,
  );
  test('garbage after the CLOSE answer: logged with its offset; the layer (complete at CLOSE) stays', async () => {
    const stack = testDir('ps-garbage');
    const { server, sessions } = await startServer(stack);
    try {
      const s = connect({ port: server.port, host: '127.0.0.1' });
      s.on('error', () => undefined);
      // one page: a session without any leaves no layer
      s.write(
        Buffer.concat([
          open2Request(dst),
          addFRequest(dst, 4, 0x10000n, 1),
          Buffer.alloc(4096, 7),
          closeRequest(),
        ]),
      );
      let got = 0;
      s.on('data', (d: Buffer) => {
        got += d.length;
        if (got === 5) s.write('garbage');
      });
      const [r] = await sessions(1);
      s.destroy();
      assert.match(
        r!.error!,
        /byte 4192: unexpected data after CLOSE \(sent at byte 4160\).*session ended, after layer .*\/1 was written \[PAGESTACK_PS_UNEXPECTED\]$/,
      );
      assert.deepEqual(layers(stack), ['1']);
    } finally {
      await server.close();
    }
  });
  badSession(
    'entries out of address order',
    Buffer.concat([
      open2Request(dst),
      addFRequest(dst, 2, 0x5000n, 2),
      addFRequest(dst, 2, 0x4000n, 1),
      closeRequest(),
    ]),
    /byte 64: ADD_F: pagemap-1.img: entry at 0x4000 is below the end of the previous one/,
    'PAGESTACK_PS_INGEST',
    64,
  );
  badSession(
    'PE_PARENT from the peer on the first layer (the no-parent capture)',
    cap('synthetic/no-parent', 'client-to-server.bin'),
    /byte 32: ADD_F: pagemap-27245.img: PE_PARENT entry at 0x100000000000 \(4 pages\).*first layer/,
    'PAGESTACK_PS_INGEST',
    32,
  );
  badSession(
    'a slow client (idle timeout)',
    Buffer.concat([open2Request(dst), addFRequest(dst, 4, 0x1000n, 1)]),
    /no data for 0 s \(slow or stuck peer\)/,
    'PAGESTACK_PS_IDLE',
    64,
    { idleTimeoutMs: 300 },
  );

  test('a second connection waits its turn and becomes the next layer', async () => {
    const stack = testDir('ps-queue');
    const { server, sessions, lines } = await startServer(stack);
    try {
      const bytes = good();
      // the first session stops before CLOSE until the second one has connected
      const cut = bytes.length - 32;
      const first = connect({ port: server.port, host: '127.0.0.1' });
      await new Promise<void>((ok) => first.once('connect', () => ok()));
      first.write(bytes.subarray(0, cut));
      const second = send(server.port, bytes, 5);
      while (!lines.some((l) => l.includes('waiting for the running session'))) {
        await new Promise((ok) => setTimeout(ok, 10));
      }
      assert.deepEqual(
        layers(stack).filter((n) => !n.startsWith('.')),
        [],
      );
      const firstAnswers: Buffer[] = [];
      first.on('data', (d: Buffer) => {
        firstAnswers.push(d);
        if (Buffer.concat(firstAnswers).length >= 5) first.end();
      });
      first.write(bytes.subarray(cut));
      await second;
      const rs = await sessions(2);
      assert.deepEqual(
        rs.map((r) => [r.ok, r.layer]),
        [
          [true, join(stack, '1')],
          [true, join(stack, '2')],
        ],
      );
      assert.equal(rs[1]!.stats!.pagesShared, 542);
    } finally {
      await server.close();
    }
  });
});

describe('page-server: crash safety and add-images', () => {
  test('SIGKILL mid-session leaves no layer; the next start cleans up and takes the next dump', async () => {
    const stack = testDir('ps-kill');
    const bytes = good();
    mkdirSync(stack, { recursive: true });
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'page-server', stack, '--port', String(port)],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    try {
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      while (!err.includes('listening on')) {
        if (child.exitCode !== null) assert.fail(`page-server exited: ${err}`);
        await new Promise((ok) => setTimeout(ok, 20));
      }
      const s = connect({ port, host: '127.0.0.1' });
      s.on('error', () => undefined);
      await new Promise<void>((ok) => s.once('connect', () => ok()));
      s.write(bytes.subarray(0, 1 << 20));
      while (!readdirSync(stack).some((n) => n.includes('.pagestack-tmp-')))
        await new Promise((ok) => setTimeout(ok, 10));
      child.kill('SIGKILL');
      await new Promise((ok) => child.once('close', ok));
      s.destroy();
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    const left = readdirSync(stack);
    assert.equal(left.length, 1);
    assert.match(left[0]!, /^\.1\.pagestack-tmp-\d+-/);
    const { server, lines, sessions } = await startServer(stack);
    try {
      assert.ok(
        lines.some((l) => l.startsWith('cleaned up') && l.includes(left[0]!)),
        lines.join('\n'),
      );
      assert.deepEqual(readdirSync(stack), []);
      await send(server.port, bytes, 5);
      const [r] = await sessions(1);
      assert.equal(r!.ok, true, r!.error);
      assert.deepEqual(layers(stack), ['1']);
    } finally {
      await server.close();
    }
  });

  test('add-images: the dump -D images go in, the layer verifies; a bad set leaves the layer unchanged', async () => {
    const stack = testDir('ps-add');
    const { server, sessions } = await startServer(stack);
    try {
      await send(server.port, good(), 5);
      await sessions(1);
    } finally {
      await server.close();
    }
    const layer = join(stack, '1');
    const dumpDir = join(CAPTURES, 'dump-single', 'dump-images');
    const check = async (dir: string) =>
      (await verifyStack(await DirLayerSource.open(dir))).problems
        .filter((p) => p.severity === 'error')
        .map((p) => p.message);
    // without the dump's images the layer has no pstree: verify fails
    assert.ok((await check(layer)).length > 0);
    // a dump directory with a broken mm image: refused, layer unchanged
    const broken = testDir('ps-add-broken');
    for (const f of readdirSync(dumpDir)) {
      const data = readFileSync(join(dumpDir, f));
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(broken, f), f.startsWith('mm-') ? data.subarray(0, data.length - 10) : data);
    }
    await assert.rejects(addImages({ layer, from: broken, check }), (e: PagestackError) => {
      assert.match(e.message, /does not verify \(left unchanged\)/);
      assert.equal(e.code, 'PAGESTACK_ADD_IMAGES_VERIFY');
      assert.equal(e.data.layer, layer);
      return true;
    });
    assert.deepEqual(readdirSync(layer).sort(), ['pagemap-27245.img', 'pages-65537.img']);
    const r = await addImages({ layer, from: dumpDir, check });
    assert.equal(r.copied.length, 11);
    assert.deepEqual(await check(layer), []);
    assert.ok(existsSync(join(layer, 'pstree.img')));
    assert.deepEqual(readdirSync(stack), ['1']); // nothing left beside it
    // again: nothing to do
    assert.deepEqual((await addImages({ layer, from: dumpDir, check })).copied, []);
    // the same name with other bytes: refused with its code, naming the layer's file
    const other = testDir('ps-add-other');
    writeFileSync(join(other, 'pstree.img'), 'not the same');
    await assert.rejects(addImages({ layer, from: other }), (e: PagestackError) => {
      assert.equal(e.code, 'PAGESTACK_ADD_IMAGES_CONFLICT');
      assert.equal(e.data.file, join(layer, 'pstree.img'));
      return true;
    });
    // a dump that wrote its memory locally is not a page-server dump
    writeFileSync(join(other, 'pages-1.img'), '');
    await assert.rejects(addImages({ layer, from: other }), { code: 'PAGESTACK_ADD_IMAGES_NOT_PS_DUMP' });
  });
});

describe('page-server: TLS (Node client; CRIU clients in the live test)', () => {
  test('dump-single over TLS with a client certificate: the same layer; no certificate or another CA: refused, logged', {
    skip: HAVE_OPENSSL ? false : 'no openssl to make certificates',
  }, async () => {
    const dir = testDir('ps-tls');
    const c = makeCerts(dir);
    const other = makeCerts(dir, 'other-');
    const stack = join(dir, 'stack');
    const lines: string[] = [];
    const results: SessionResult[] = [];
    const server = await PageServer.start({
      stack,
      port: 0,
      log: (l) => lines.push(l),
      tls: { ca: readFileSync(c.ca), cert: readFileSync(c.srvCert), key: readFileSync(c.srvKey) },
    });
    server.onSession((r) => results.push(r));
    const tlsSend = (cert: string | null, key: string | null, bytes: Uint8Array, expect: number) =>
      new Promise<Buffer>((resolve) => {
        const got: Buffer[] = [];
        let n = 0;
        const s = tlsConnect(
          {
            port: server.port,
            host: '127.0.0.1',
            ca: readFileSync(c.ca),
            ...(cert && key ? { cert: readFileSync(cert), key: readFileSync(key) } : {}),
            checkServerIdentity: () => undefined,
          },
          () => s.write(bytes),
        );
        s.on('data', (d: Buffer) => {
          got.push(d);
          n += d.length;
          if (n >= expect) s.end();
        });
        s.on('error', () => undefined);
        s.on('close', () => resolve(Buffer.concat(got)));
      });
    try {
      const answers = await tlsSend(c.cliCert, c.cliKey, good(), 5);
      assert.deepEqual(answers, cap('dump-single', 'server-to-client.bin'));
      while (results.length < 1) await new Promise((ok) => setTimeout(ok, 10));
      assert.equal(results[0]!.ok, true, results[0]!.error);
      for (const f of ['pagemap-27245.img', 'pages-65537.img']) {
        assert.ok(readFileSync(join(stack, '1', f)).equals(cap('dump-single', join('server-images', f))));
      }
      assert.equal((await tlsSend(null, null, good(), 5)).length, 0);
      assert.equal((await tlsSend(other.cliCert, other.cliKey, good(), 5)).length, 0);
      while (lines.filter((l) => l.includes('TLS handshake failed')).length < 2) {
        await new Promise((ok) => setTimeout(ok, 10));
      }
      assert.deepEqual(layers(stack), ['1']);
    } finally {
      await server.close();
    }
  });
});

describe('page-server: load', () => {
  test('20 dumps in a row into one stack: 20 layers, each one changed page kept, every layer restorable (verifies)', async () => {
    const stack = testDir('ps-load');
    const { server, sessions } = await startServer(stack);
    const dumpDir = join(CAPTURES, 'dump-single', 'dump-images');
    const base = good();
    const msgs: { offset: number; dataBytes: number; vaddr: bigint }[] = [];
    new PageServerParser({ message: (m) => msgs.push(m), data: () => undefined }).feed(base);
    const big = msgs.find((m) => m.dataBytes === 256 * 4096)!;
    try {
      let last = base;
      for (let i = 1; i <= 20; i++) {
        const b = Buffer.from(base);
        b.writeUInt32LE(i, big.offset + 32 + (i % 256) * 4096); // page i of the big entry differs in every dump
        await send(server.port, b, 5, 30000);
        last = b;
      }
      const rs = await sessions(20);
      assert.deepEqual(
        rs.map((r) => r.ok),
        Array(20).fill(true),
      );
      assert.deepEqual(
        rs.slice(1).map((r) => [r.stats!.pagesKept, r.stats!.pagesShared]),
        Array(19).fill([2, 540]), // this dump's changed page, and the previous dump's one back to the original
      );
      assert.deepEqual(layers(stack), Array.from({ length: 20 }, (_, i) => String(i + 1)).sort());
      for (let i = 1; i <= 20; i++) await addImages({ layer: join(stack, String(i)), from: dumpDir });
      const report = await verifyStack(await DirLayerSource.open(join(stack, '20')));
      assert.equal(report.ok, true, JSON.stringify(report.problems.slice(0, 3)));
      assert.equal(report.layers.length, 20);
      const top = await openStackDir(join(stack, '20'));
      try {
        const mem = await top.memory('pagemap-27245.img');
        for (const m of msgs.filter((x) => x.dataBytes > 0)) {
          const want = last.subarray(m.offset + 32, m.offset + 32 + m.dataBytes);
          assert.ok(Buffer.from(await mem.read(Number(m.vaddr), m.dataBytes)).equals(want));
        }
      } finally {
        await top.close();
      }
    } finally {
      await server.close();
    }
  });
});

describe('page-server: several stacks served at once', () => {
  test('three receiving servers and a lazy one in one process, sessions interleaved: each stack gets exactly its own layers', async () => {
    const root = testDir('ps-several');
    const [a, b, c] = ['a', 'b', 'c'].map((n) => join(root, n)) as [string, string, string];
    const A = await startServer(a);
    const B = await startServer(b);
    const C = await startServer(c);
    // the lazy server reads the series stack (real CRIU 4.2 images, 3 layers)
    const series = join(root, 'series');
    copyStack(series);
    const L = await PageServer.start({ stack: series, port: 0, lazy: {} });
    const lazyDone = new Promise<SessionResult>((ok) => L.onSession(ok));
    try {
      const single = good();
      const tree = cap('dump-tree', 'client-to-server.bin');
      const treeAnswers = cap('dump-tree', 'server-to-client.bin');
      const pid = 25238;
      const gets = [0x300000000000n, 0x300000010000n, 0x300000100000n].map((v) => getRequest(pid, v, 16));
      const lazyWire = Buffer.concat([...gets, closeRequest()]);
      // all at once, in small chunks so the sessions interleave on the one event loop; A takes two
      // dumps in a row, C a failing one (cut before CLOSE) and then a good one
      const [a1, b1, cBad, l1] = await Promise.all([
        send(A.server.port, single, 5, 4096),
        send(B.server.port, tree, treeAnswers.length, 1500),
        send(C.server.port, single.subarray(0, single.length - 32), 0, 4096),
        send(L.port, lazyWire, 3 * (32 + 16 * 4096) + 4, 4096),
      ]);
      const [a2, c1] = await Promise.all([
        send(A.server.port, single, 5, 4096),
        send(C.server.port, single, 5, 8192),
      ]);
      assert.deepEqual([...a1.answers, ...a2.answers], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      assert.deepEqual(b1.answers, treeAnswers);
      assert.equal(cBad.closedByServer, true);
      assert.deepEqual([...c1.answers], [0, 0, 0, 0, 0]);
      const [ra1, ra2] = await A.sessions(2);
      const [rb] = await B.sessions(1);
      const [rc1, rc2] = await C.sessions(2);
      assert.deepEqual(
        [ra1!.ok, ra2!.ok, rb!.ok, rc1!.ok, rc2!.ok],
        [true, true, true, false, true],
        [ra1, ra2, rb, rc1, rc2].map((r) => r!.error).join('\n'),
      );
      assert.equal(rc1!.code, 'PAGESTACK_PS_NO_CLOSE');
      // every stack has its layers, nothing else (no temp dirs)
      assert.deepEqual(layers(a), ['1', '2']);
      assert.deepEqual(layers(b), ['1']);
      assert.deepEqual(layers(c), ['1']);
      // A/1 and C/1 are what criu page-server wrote; A/2 is all PE_PARENT on A/1
      for (const s of [a, c]) {
        for (const f of ['pagemap-27245.img', 'pages-65537.img']) {
          assert.ok(
            readFileSync(join(s, '1', f)).equals(cap('dump-single', join('server-images', f))),
            `${s} ${f}`,
          );
        }
      }
      assert.equal(ra2!.stats!.pagesKept, 0);
      assert.equal(readlinkSync(join(a, '2', 'parent')), '../1');
      for (const f of readdirSync(join(CAPTURES, 'dump-tree', 'server-images')).filter((n) =>
        n.startsWith('pagemap'),
      )) {
        assert.ok(readFileSync(join(b, '1', f)).equals(cap('dump-tree', join('server-images', f))), f);
      }
      // the lazy answers: exactly the stack's pages
      const top = await openStackDir(join(series, '3'));
      try {
        const mem = await top.memory(`pagemap-${pid}.img`);
        let p = 0;
        for (const v of [0x300000000000, 0x300000010000, 0x300000100000]) {
          assert.ok(l1.answers.subarray(p + 32, p + 32 + 16 * 4096).equals(await mem.read(v, 16 * 4096)));
          p += 32 + 16 * 4096;
        }
      } finally {
        await top.close();
      }
      assert.equal((await lazyDone).ok, true);
    } finally {
      await Promise.all([A.server.close(), B.server.close(), C.server.close(), L.close()]);
    }
  });
});
