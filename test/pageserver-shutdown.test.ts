/**
 * `pagestack page-server` sessions that end while something is still in progress: the work in
 * flight finishes (or stops at its next step) before the session cleans up, so nothing is removed
 * from under a commit, no file is left open, and what the session reports is what happened.
 * - server.close() during CLOSE's commit: the layer is written and reported as written;
 * - server.close() while a second layer's OPEN2 is creating its files: no layer, nothing open;
 * - the ingest thread's writes fail while pages arrive in place: reported at once (not at CLOSE,
 *   nor as an idle timeout);
 * - a lazy peer resets with GETs queued: nothing is read or logged after the session ended.
 * Slow steps are made slow by wrapping the real methods (restored after each test).
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { LayerWriter, type PagesWriter } from '../src/engine/layer-writer.js';
import { addFRequest, closeRequest, getRequest, open2Request } from '../src/protocol/pageserver/writer.js';
import { PageServer, type SessionResult } from '../src/server/page-server.js';
import { PagemapMemory } from '../src/stack/memory.js';
import { testDir } from './helpers/files.js';
import { copyStack, ROOT } from './helpers/fixtures.js';

const CAPTURES = join(ROOT, 'test', 'fixtures', 'page-server');
const dumpSingle = () => readFileSync(join(CAPTURES, 'dump-single', 'client-to-server.bin'));
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Waits until `cond()` holds; fails after `ms` (a session that never ends is a failure, not a hang). */
async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Resolves with `p`, or fails after `ms`. */
function within<T>(what: string, p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Descriptors of this process that point under `dir`. */
function openUnder(dir: string): string[] {
  return readdirSync('/proc/self/fd')
    .map((f) => {
      try {
        return readlinkSync(`/proc/self/fd/${f}`);
      } catch {
        return '';
      }
    })
    .filter((l) => l.startsWith(dir));
}

/** What a test opened; closed after it whatever happened (no handle keeps the process alive). */
const servers: PageServer[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close().catch(() => undefined);
});

async function start(stack: string, opts: { lazy?: object; idleTimeoutMs?: number } = {}) {
  const lines: string[] = [];
  const results: SessionResult[] = [];
  const server = await PageServer.start({ stack, port: 0, log: (l) => lines.push(l), ...opts });
  servers.push(server);
  server.onSession((r) => results.push(r));
  return { server, lines, results };
}

/** Sends `bytes`, reads whatever comes back; resolves when the connection is closed. */
function dump(port: number, bytes: Uint8Array, endAfter = 5): { sock: Socket; closed: Promise<void> } {
  let n = 0;
  const sock = connect({ port, host: '127.0.0.1' }, () => sock.write(bytes));
  sockets.push(sock);
  sock.on('error', () => undefined);
  sock.on('data', (d) => {
    n += d.length;
    if (n >= endAfter) sock.end();
  });
  return { sock, closed: new Promise<void>((ok) => sock.on('close', () => ok())) };
}

describe('page-server: sessions ended while work is in flight', () => {
  test('server.close() during the commit: close() waits for it; the layer is written and reported', async () => {
    const stack = testDir('ps-shutdown-commit');
    const orig = LayerWriter.prototype.commit;
    let committing: (() => void) | null = null;
    const inCommit = new Promise<void>((ok) => {
      committing = ok;
    });
    LayerWriter.prototype.commit = async function (this: LayerWriter) {
      committing?.();
      await sleep(300); // a slow fsync
      await orig.call(this);
    };
    try {
      const { server, results } = await start(stack);
      const d = dump(server.port, dumpSingle());
      await within('the commit', inCommit);
      await within('server.close()', server.close()); // destroys the connection while the commit runs
      assert.equal(results.length, 1);
      const r = results[0]!;
      assert.equal(r.ok, true, r.error);
      assert.equal(r.layer, join(stack, '1'));
      assert.match(r.error ?? '', /after layer .*1 was written/);
      assert.deepEqual(readdirSync(stack), ['1']); // no temporary directory left
      assert.ok(
        readFileSync(join(stack, '1', 'pages-65537.img')).equals(
          readFileSync(join(CAPTURES, 'dump-single', 'server-images', 'pages-65537.img')),
        ),
      );
      await within('the connection to close', d.closed);
    } finally {
      LayerWriter.prototype.commit = orig;
    }
  });

  test('server.close() while a second layer opens its files: no layer, no temp dir, nothing left open', async () => {
    const stack = testDir('ps-shutdown-open');
    {
      const { server, results } = await start(stack);
      await within('layer 1 dump', dump(server.port, dumpSingle()).closed);
      await until('layer 1', () => results.length > 0);
      assert.equal(results[0]!.ok, true, results[0]!.error);
      await server.close();
    }
    const orig = LayerWriter.prototype.createPages;
    let opening: (() => void) | null = null;
    const inOpen = new Promise<void>((ok) => {
      opening = ok;
    });
    LayerWriter.prototype.createPages = async function (
      this: LayerWriter,
      name: string,
    ): Promise<PagesWriter> {
      opening?.();
      const w = await orig.call(this, name);
      await sleep(300); // a slow disk
      return w;
    };
    try {
      const { server, results } = await start(stack);
      const d = dump(server.port, dumpSingle());
      await within('OPEN2', inOpen);
      await within('server.close()', server.close());
      assert.equal(results.length, 1);
      assert.equal(results[0]!.ok, false);
      await within('the connection to close', d.closed);
      await sleep(400); // past the slow step: nothing may reopen files after the session ended
      assert.deepEqual(readdirSync(stack), ['1']);
      assert.deepEqual(openUnder(stack), []);
    } finally {
      LayerWriter.prototype.createPages = orig;
    }
  });

  test('ingest-thread writes failing while pages arrive in place: the session ends at once with the write error', async () => {
    const stack = testDir('ps-shutdown-write');
    const orig = LayerWriter.prototype.createPages;
    const readOnly = openSync(join(CAPTURES, 'dump-single', 'client-to-server.bin'), 'r');
    LayerWriter.prototype.createPages = async function (
      this: LayerWriter,
      name: string,
    ): Promise<PagesWriter> {
      const w = await orig.call(this, name);
      Object.defineProperty(w, 'fd', { get: () => readOnly }); // the thread's writes fail (EBADF)
      return w;
    };
    try {
      const { server, results } = await start(stack, { idleTimeoutMs: 5000 });
      const dst = { kind: 'pid', id: 4242 } as const;
      const sock = connect({ port: server.port, host: '127.0.0.1' });
      sockets.push(sock);
      sock.on('error', () => undefined);
      sock.on('data', () => undefined);
      const t0 = Date.now();
      await new Promise<void>((ok) => sock.once('connect', () => ok()));
      sock.write(Buffer.concat([open2Request(dst), addFRequest(dst, 4, 0x10000000n, 16384)]));
      // a slow sender: 1 MiB every 20 ms, far less than announced
      const chunk = Buffer.alloc(1 << 20, 7);
      for (let i = 0; i < 40 && results.length === 0 && !sock.destroyed; i++) {
        if (!sock.write(chunk)) {
          // the server may end the connection instead of reading on
          await new Promise<void>((ok) => {
            sock.once('drain', () => ok());
            sock.once('close', () => ok());
          });
        }
        await sleep(20);
      }
      await until('the session to end', () => results.length > 0);
      const r = results[0]!;
      assert.equal(r.ok, false);
      assert.equal(r.code, 'PAGESTACK_LAYER_WRITE', r.error);
      assert.match(r.error ?? '', /pages-65537\.img: write: EBADF/);
      assert.ok(Date.now() - t0 < 2000, `noticed after ${Date.now() - t0} ms`);
      sock.destroy();
      await within('server.close()', server.close());
      assert.deepEqual(readdirSync(stack), []);
    } finally {
      LayerWriter.prototype.createPages = orig;
      closeSync(readOnly);
    }
  });

  test('lazy: the peer resets with GETs queued; nothing is read or logged after the session ended', async () => {
    const dir = testDir('ps-shutdown-lazy');
    const stackDir = join(dir, 'stack');
    copyStack(stackDir);
    const orig = PagemapMemory.prototype.readIntoSync;
    let ended = false;
    let readsAfterEnd = 0;
    PagemapMemory.prototype.readIntoSync = function (this: PagemapMemory, ...a: Parameters<typeof orig>) {
      if (ended) readsAfterEnd++;
      return orig.apply(this, a);
    };
    try {
      const { server, lines, results } = await start(stackDir, { lazy: {} });
      const PID = 25238;
      const wire = Buffer.concat([
        ...Array.from({ length: 60 }, () => getRequest(PID, 0x300000000000n, 512)),
        closeRequest(),
      ]);
      const sock = connect({ port: server.port, host: '127.0.0.1' }, () => {
        sock.write(wire);
        sock.pause(); // read no answers: they queue
      });
      sockets.push(sock);
      sock.on('error', () => undefined);
      await sleep(300);
      sock.resetAndDestroy();
      await until('the session to end', () => results.length > 0);
      ended = true;
      const r = results[0]!;
      assert.equal(r.ok, false);
      const gets = lines.filter((l) => l.includes(': GET pid')).length;
      assert.match(r.error ?? '', new RegExp(`after ${gets} GETs`));
      await sleep(300);
      assert.equal(lines.filter((l) => l.includes(': GET pid')).length, gets, 'GETs answered after the end');
      assert.equal(readsAfterEnd, 0);
      assert.deepEqual(openUnder(stackDir), []);
      await within('server.close()', server.close());
    } finally {
      PagemapMemory.prototype.readIntoSync = orig;
    }
  });
});
