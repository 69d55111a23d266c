/**
 * `page-server` against hostile or broken peers (issue 17, section 6), over real loopback sockets:
 * - a session with no pagemap entry (only CLOSE; OPEN2 then CLOSE) leaves no layer, says why, and
 *   the next real session stacks on the layer below it (still incremental);
 * - idle connections never take the session: ten of them do not delay a real session; one that
 *   sends no complete header within the first-header timeout is closed;
 * - a peer that trickles (a header, then a byte every 50 ms) is cut off by the session's silence
 *   budget, and the session waiting behind it runs;
 * - the connection cap refuses the connection past it with a log line;
 * - `--lazy`: clients that queue GETs and never read the answers hold at most the server's pool of
 *   answer buffers (not three 4 MiB buffers each), are cut off when they take no answer, and a
 *   client that reads is then served.
 * Each of these fails on the server before these bounds (ed9b5d6).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { decodeIov } from '../src/protocol/pageserver/iov.js';
import { addFRequest, closeRequest, getRequest, open2Request } from '../src/protocol/pageserver/writer.js';
import { PageServer, type PageServerOptions, type SessionResult } from '../src/server/page-server.js';
import { testDir } from './helpers/files.js';
import { copyStack, ROOT } from './helpers/fixtures.js';
import { entriesOf } from './helpers/images.js';

const CAPTURE = join(ROOT, 'test', 'fixtures', 'page-server', 'dump-single');
/** A real CRIU 4.2 dump session (pid 27245, 542 pages), as the dump sent it. */
const DUMP = readFileSync(join(CAPTURE, 'client-to-server.bin'));
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
const layers = (stack: string) =>
  readdirSync(stack)
    .filter((n) => /^\d+$/.test(n))
    .sort();

async function start(stack: string, opts: Partial<PageServerOptions> = {}) {
  const lines: string[] = [];
  const server = await PageServer.start({ stack, port: 0, log: (l) => lines.push(l), ...opts });
  const results: SessionResult[] = [];
  server.onSession((r) => results.push(r));
  /** The first result that `pred` accepts (waits for it). */
  const result = async (pred: (r: SessionResult) => boolean, timeoutMs = 20_000) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const r = results.find(pred);
      if (r) return r;
      if (Date.now() > end)
        throw new Error(`no such session result within ${timeoutMs} ms:\n${lines.join('\n')}`);
      await sleep(10);
    }
  };
  return { server, lines, results, result };
}

interface Client {
  sock: Socket;
  answers: () => Buffer;
  /** Resolves when the connection is closed (by either side). */
  closed: Promise<void>;
  /** True once the server ended or reset the connection. */
  byServer: () => boolean;
}

/** Connects and sends `bytes` (if any); collects answers unless `read` is false. */
function client(port: number, bytes?: Uint8Array, opts: { read?: boolean; endAfter?: number } = {}): Client {
  const got: Buffer[] = [];
  let n = 0;
  let server = false;
  const sock = connect({ port, host: '127.0.0.1' }, () => {
    if (bytes) sock.write(bytes);
  });
  if (opts.read !== false) {
    sock.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (opts.endAfter !== undefined && n >= opts.endAfter) sock.end();
    });
  }
  sock.on('end', () => {
    server = true;
  });
  sock.on('error', () => {
    server = true;
  });
  const closed = new Promise<void>((ok) => sock.on('close', () => ok()));
  return { sock, answers: () => Buffer.concat(got), closed, byServer: () => server };
}

/** Fails when `p` takes longer than `ms` (the old server would hang there for many timeouts). */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('page-server: a session without pages leaves no layer', () => {
  const dst = { kind: 'pid', id: 27245 } as const;

  test('only CLOSE, then OPEN2 + CLOSE: CLOSE answered 0, no layer, one line each; the next dump stacks on layer 1', async () => {
    const stack = testDir('ps-empty');
    const { server, lines, results, result } = await start(stack);
    try {
      // a real first layer
      const first = client(server.port, DUMP, { endAfter: 5 });
      await first.closed;
      const r1 = await result((r) => r.ok);
      assert.equal(r1.stats!.pagesKept, 542);

      // a peer that sends only CLOSE (what a dump that failed before its first page sends)
      const onlyClose = client(server.port, closeRequest(), { endAfter: 4 });
      await onlyClose.closed;
      assert.deepEqual([...onlyClose.answers()], [0, 0, 0, 0]);
      // a peer that opens a pagemap and closes without an entry
      const openClose = client(server.port, Buffer.concat([open2Request(dst), closeRequest()]), {
        endAfter: 5,
      });
      await openClose.closed;
      assert.deepEqual([...openClose.answers()], [0, 0, 0, 0, 0]);
      await result(() => results.filter((r) => r.code === 'PAGESTACK_PS_EMPTY').length === 2);
      const empties = results.filter((r) => r.code === 'PAGESTACK_PS_EMPTY');
      assert.match(
        empties[0]!.error!,
        /CLOSE after 0 pagemaps and no page: .*no layer written; layer 1 stays the top \[PAGESTACK_PS_EMPTY\]$/,
      );
      assert.match(empties[1]!.error!, /CLOSE after 1 pagemaps and no page/);
      assert.ok(lines.some((l) => l.includes('[PAGESTACK_PS_EMPTY]')));
      assert.deepEqual(layers(stack), ['1']);
      assert.deepEqual(
        readdirSync(stack).filter((n) => n.startsWith('.')),
        [],
        'no temporary directory left',
      );

      // the same dump again: layer 2 on layer 1, every page equal (PE_PARENT), none kept
      const again = client(server.port, DUMP, { endAfter: 5 });
      await again.closed;
      const r2 = await result((r) => r.ok && r !== r1);
      assert.equal(r2.layer, join(stack, '2'));
      assert.equal(r2.stats!.pagesKept, 0);
      assert.equal(r2.stats!.pagesShared, 542);
      assert.deepEqual(layers(stack), ['1', '2']);
      assert.ok(entriesOf(join(stack, '2', 'pagemap-27245.img')).every(([, , f]) => f === 1));
    } finally {
      await server.close();
    }
  });

  test('an empty session on an empty stack: still no layer 1', async () => {
    const stack = testDir('ps-empty-first');
    const { server, result } = await start(stack);
    try {
      const c = client(server.port, closeRequest(), { endAfter: 4 });
      await c.closed;
      const r = await result(() => true);
      assert.equal(r.code, 'PAGESTACK_PS_EMPTY');
      assert.match(r.error!, /stays without layers/);
      assert.deepEqual(layers(stack), []);
    } finally {
      await server.close();
    }
  });
});

describe('page-server: idle and slow connections do not hold up a dump', () => {
  test('ten idle connections, then a real dump: served at once (the old server gave each idle one its 3 s timeout first)', async () => {
    const stack = testDir('ps-idle10');
    const { server, lines, result } = await start(stack, {
      idleTimeoutMs: 3000,
      firstHeaderTimeoutMs: 20_000,
    });
    const idle: Client[] = [];
    try {
      for (let i = 0; i < 10; i++) idle.push(client(server.port));
      await sleep(200); // all ten accepted before the dump connects
      const t0 = Date.now();
      const dump = client(server.port, DUMP, { endAfter: 5 });
      const r = await within(
        2500,
        'the real session',
        result((x) => x.ok),
      );
      const delay = Date.now() - t0;
      await dump.closed;
      assert.equal(r.stats!.pagesKept, 542);
      assert.deepEqual(layers(stack), ['1']);
      // the idle ones are still connected, waiting (they never had the session)
      assert.ok(idle.every((c) => !c.byServer()));
      assert.ok(!lines.some((l) => l.includes('PAGESTACK_PS_IDLE')), lines.join('\n'));
      process.stdout.write(
        `# real session behind 10 idle connections: layer written ${delay} ms after connect\n`,
      );
    } finally {
      for (const c of idle) c.sock.destroy();
      await server.close();
    }
  });

  test('no complete header within the first-header timeout: closed with one line; a partial header never takes the session', async () => {
    const stack = testDir('ps-noheader');
    const { server, results, result } = await start(stack, { firstHeaderTimeoutMs: 400 });
    try {
      const silent = client(server.port);
      const partial = client(server.port, DUMP.subarray(0, 10)); // 10 of 32 bytes, then nothing
      await sleep(100);
      const t0 = Date.now();
      const dump = client(server.port, DUMP, { endAfter: 5 });
      const ok = await within(
        2000,
        'the real session',
        result((r) => r.ok),
      );
      assert.ok(Date.now() - t0 < 1500);
      await dump.closed;
      assert.equal(ok.layer, join(stack, '1'));
      await within(3000, 'the silent ones closed', Promise.all([silent.closed, partial.closed]));
      assert.ok(silent.byServer() && partial.byServer());
      const dropped = results.filter((r) => r.code === 'PAGESTACK_PS_NO_HEADER');
      assert.equal(dropped.length, 2);
      assert.ok(dropped.some((r) => /sent no complete header within 0\.4 s \(0 bytes\)/.test(r.error!)));
      assert.ok(
        dropped.some((r) => /\(10 bytes\); connection closed, it never had the session/.test(r.error!)),
      );
    } finally {
      await server.close();
    }
  });

  test('three connections that send an OPEN2 and then nothing: each holds the session one short timeout, not an idle timeout (20 s) each', async () => {
    const stack = testDir('ps-open2-idle');
    const { server, lines, results, result } = await start(stack, {
      idleTimeoutMs: 20_000,
      firstHeaderTimeoutMs: 500,
    });
    const dst = { kind: 'pid', id: 4242 } as const;
    const idle: Client[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        idle.push(client(server.port, open2Request(dst)));
        await sleep(50);
      }
      await sleep(100);
      const t0 = Date.now();
      const dump = client(server.port, DUMP, { endAfter: 5 });
      const ok = await within(
        5000,
        'the real session',
        result((r) => r.ok),
      );
      const ms = Date.now() - t0;
      await dump.closed;
      assert.equal(ok.layer, join(stack, '1'));
      const cut = results.filter((r) => r.code === 'PAGESTACK_PS_IDLE');
      assert.equal(cut.length, 3, lines.join('\n'));
      assert.match(
        cut[0]!.error!,
        /byte 32: silent for 0\.\d s while another connection waits for the session \(the first-header timeout\); session ended, no layer written \[PAGESTACK_PS_IDLE\]$/,
      );
      process.stdout.write(
        `# real session behind 3 OPEN2-then-silent connections: layer written ${ms} ms after connect\n`,
      );
    } finally {
      for (const c of idle) c.sock.destroy();
      await server.close();
    }
  });

  test('a header trickled a byte every 100 ms does not take the session before the dump behind it', async () => {
    const stack = testDir('ps-trickle-head');
    const { server, result } = await start(stack, { firstHeaderTimeoutMs: 1000, idleTimeoutMs: 5000 });
    const slow = client(server.port);
    let i = 0;
    const drip = setInterval(() => {
      if (i < 32) slow.sock.write(DUMP.subarray(i, i + 1));
      i++;
    }, 100);
    try {
      await sleep(150);
      const dump = client(server.port, DUMP, { endAfter: 5 });
      await within(
        2000,
        'the real session',
        result((r) => r.ok),
      );
      await dump.closed;
      const r = await within(
        3000,
        'the trickler dropped',
        result((x) => x.code === 'PAGESTACK_PS_NO_HEADER'),
      );
      assert.match(r.error!, /sent no complete header within 1\.0 s/);
    } finally {
      clearInterval(drip);
      slow.sock.destroy();
      await server.close();
    }
  });

  test('a peer that sends its header, then trickles a byte every 50 ms, is cut off by the silence budget; the dump waiting behind it runs', async () => {
    const stack = testDir('ps-trickle');
    const { server, lines, result } = await start(stack, { idleTimeoutMs: 1000 });
    const dst = { kind: 'pid', id: 4242 } as const;
    // OPEN2, then an ADD_F of 256 pages whose bytes come one at a time: never 1 s of silence
    const body = Buffer.concat([addFRequest(dst, 4, 0x10000n, 256), Buffer.alloc(256 * 4096, 1)]);
    const slow = client(server.port, open2Request(dst));
    let at = 0;
    const drip = setInterval(() => {
      if (at < body.length) slow.sock.write(body.subarray(at, at + 1));
      at++;
    }, 50);
    try {
      await sleep(200);
      const t0 = Date.now();
      const dump = client(server.port, DUMP, { endAfter: 5 });
      const cut = await within(
        6000,
        'the trickler cut off',
        result((r) => r.code === 'PAGESTACK_PS_SLOW'),
      );
      const cutAt = Date.now() - t0;
      assert.match(
        cut.error!,
        /waited \d+\.\d s in all for the peer's bytes, for \d+ bytes: more than the session allows \(1\.0 s \+ 1 s per 64 KiB received; a trickling or stalled peer\); session ended, no layer written \[PAGESTACK_PS_SLOW\]$/,
      );
      const ok = await within(
        3000,
        'the real session',
        result((r) => r.ok),
      );
      await dump.closed;
      assert.equal(ok.layer, join(stack, '1'));
      assert.equal(ok.stats!.pagesKept, 542);
      assert.ok(lines.some((l) => /sent its first header; waiting for the running session/.test(l)));
      process.stdout.write(`# trickler cut off ${cutAt} ms after the dump connected (idle timeout 1 s)\n`);
    } finally {
      clearInterval(drip);
      slow.sock.destroy();
      await server.close();
    }
  });

  test('the connection cap: the connection past maxConnections is closed at once with a line', async () => {
    const stack = testDir('ps-cap');
    const { server, lines, result } = await start(stack, { maxConnections: 3 });
    const held: Client[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(client(server.port));
      await sleep(150);
      const extra = client(server.port);
      await within(2000, 'the extra connection closed', extra.closed);
      assert.ok(extra.byServer());
      const r = await result((x) => x.code === 'PAGESTACK_PS_BUSY');
      assert.match(r.error!, /refused: 3 connections open, the most this server takes/);
      assert.ok(lines.some((l) => l.includes('[PAGESTACK_PS_BUSY]')));
      assert.ok(held.every((c) => !c.byServer()));
      // one goes, a dump gets in
      held.pop()!.sock.destroy();
      await sleep(100);
      const dump = client(server.port, DUMP, { endAfter: 5 });
      await within(
        3000,
        'the dump',
        result((x) => x.ok),
      );
      await dump.closed;
    } finally {
      for (const c of held) c.sock.destroy();
      await server.close();
    }
  });
});

describe('page-server --lazy: the memory of the whole server is bounded', () => {
  const PID = 25238;

  test('8 clients queue 2 MiB GETs and read nothing: at most the pool of answer buffers (old: 3 x 4 MiB each); cut off when stalled; a reading client is then served', async () => {
    const dir = testDir('ps-lazy-hoard');
    copyStack(join(dir, 'stack'));
    const before = process.memoryUsage().arrayBuffers;
    const { server, lines, results, result } = await start(join(dir, 'stack'), {
      lazy: {},
      answerBuffers: 4,
      answerStallMs: 1000,
    });
    const gets = Buffer.concat(Array.from({ length: 24 }, () => getRequest(PID, 0x300000000000n, 512)));
    const hoarders: Client[] = [];
    try {
      const t0 = Date.now();
      for (let i = 0; i < 8; i++) {
        const c = client(server.port, gets, { read: false });
        c.sock.pause();
        hoarders.push(c);
      }
      // let every client's GETs be read and the answers pile up in the kernel
      await sleep(800);
      const grown = process.memoryUsage().arrayBuffers - before;
      process.stdout.write(
        `# 8 lazy clients not reading: answer buffers made ${server.answerBuffersMade}, in use ${server.answerBuffersInUse}, arrayBuffers +${(grown / 2 ** 20).toFixed(1)} MiB\n`,
      );
      assert.ok(grown < 28 * 2 ** 20, `arrayBuffers grew by ${grown} bytes`);
      assert.ok(server.answerBuffersMade <= 4);
      assert.ok(lines.some((l) => /waiting for an answer buffer: all 4 \(16 MiB\) are in use/.test(l)));

      // the hoarders are cut off after the stall timeout; a client that reads gets its pages
      const stalled = await within(
        8000,
        'a stalled client cut off',
        result((r) => r.code === 'PAGESTACK_PS_SLOW'),
      );
      assert.match(stalled.error!, /an answer not taken for 1\.0 s \(the client does not read its answers\)/);
      const good = client(
        server.port,
        Buffer.concat([getRequest(PID, 0x300000000000n, 64), closeRequest()]),
        {
          endAfter: 32 + 64 * 4096 + 4,
        },
      );
      await within(30_000, 'the reading client', good.closed);
      process.stdout.write(
        `# the reading client served ${Date.now() - t0} ms after the hoarders connected\n`,
      );
      const a = good.answers();
      assert.equal(a.length, 32 + 64 * 4096 + 4);
      const h = decodeIov(a, 0, 'iov32');
      assert.equal(h.nrPages, 64n);
      await within(
        3000,
        'the reading session done',
        result((r) => r.ok),
      );
      // (a paused client sees no EOF; the server's results say each one was cut off)
      await within(
        30_000,
        'every hoarder cut off',
        result(() => results.filter((r) => r.code === 'PAGESTACK_PS_SLOW').length === 8),
      );
      assert.equal(server.answerBuffersInUse, 0);
    } finally {
      for (const c of hoarders) c.sock.destroy();
      await server.close();
    }
  });

  test('the connection cap holds for lazy clients too', async () => {
    const dir = testDir('ps-lazy-cap');
    copyStack(join(dir, 'stack'));
    const { server, result } = await start(join(dir, 'stack'), { lazy: {}, maxConnections: 2 });
    const held = [client(server.port), client(server.port)];
    try {
      await sleep(150);
      const extra = client(server.port);
      await within(2000, 'the extra connection closed', extra.closed);
      const r = await result((x) => x.code === 'PAGESTACK_PS_BUSY');
      assert.match(r.error!, /refused: 2 connections open/);
    } finally {
      for (const c of held) c.sock.destroy();
      await server.close();
    }
  });
});
