/**
 * Live (real CRIU 4.2; skipped with one line without it, a failure in CI): `criu dump --page-server`
 * into `pagestack page-server` while hostile connections are open on the same server.
 *   dump 1: alone (the baseline: how long the process stays frozen);
 *   dump 2: with 10 idle connections and a peer trickling its first header a byte a second, all
 *           connected before the dump: none of them ever takes the session, the dump is not delayed;
 *   dump 3: with a peer that sent its OPEN2 first and then trickles a byte a second: it holds the
 *           session until the silence budget (idle timeout 5 s here) cuts it off, then the dump runs:
 *           delayed by about one idle timeout, not forever.
 * The three layers get add-images, verify, and CRIU restores layer 3 with the program's memory
 * checked by the program (`bad_words 0`). The figures are printed as `#` lines.
 *
 * And a dump that fails before its first page (a process with a connected TCP socket, dumped
 * without --tcp-established: CRIU fails in its files and still sends CLOSE) leaves no layer, so the
 * next dump of `series` stacks on the real layer below and stays incremental.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { addFRequest, open2Request } from '../src/protocol/pageserver/writer.js';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { ROOT } from './helpers/fixtures.js';
import { entriesOf } from './helpers/images.js';
import { requireLive, SKIP_LIVE } from './helpers/live-criu.js';
import {
  alive,
  buildProgram,
  killPid,
  logTail,
  pageServerDump,
  runCriu,
  startProgram,
  track,
  waitFile,
  waitFor,
} from './helpers/pageserver-live.js';

const IDLE_S = 5;

test('live: a real dump next to 10 idle connections and tricklers: not delayed by them, or by one idle timeout when a trickler had the session first', {
  skip: SKIP_LIVE,
  timeout: 240_000,
}, async () => {
  const { criu } = requireLive();
  const dir = testDir('ps-live-hostile');
  const markers = join(dir, 'markers');
  const stack = join(dir, 'stack');
  mkdirSync(markers);
  const bin = buildProgram('series', dir);
  startProgram(bin, [markers], dir, join(dir, 'series.log'));
  const pid = Number((await waitFile(join(markers, 'series.step0'))).trim());
  const server = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src', 'cli', 'main.ts'),
      'page-server',
      stack,
      '--port',
      '0',
      '--idle-timeout',
      String(IDLE_S),
      '--first-header-timeout',
      '60',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  track(server.pid!);
  let log = '';
  server.stderr.on('data', (d: Buffer) => {
    log += d.toString();
  });
  const hostile: Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  const open = (first?: Uint8Array) => {
    const s = connect({ port: Number(port), host: '127.0.0.1' }, () => {
      if (first) s.write(first);
    });
    s.on('error', () => undefined);
    hostile.push(s);
    return s;
  };
  /** Writes `bytes` one a second. */
  const trickle = (s: Socket, bytes: Uint8Array) => {
    let i = 0;
    const t = setInterval(() => {
      if (i < bytes.length && !s.destroyed) s.write(bytes.subarray(i, i + 1));
      i++;
    }, 1000);
    timers.push(t);
  };
  let port = '';
  const dst = { kind: 'pid', id: 99999 } as const;
  try {
    port = await waitFor('page-server to listen', () => /listening on 127\.0\.0\.1:(\d+)/.exec(log)?.[1]);
    const dump = async (i: number) => {
      const d = join(dir, `dump${i}`);
      mkdirSync(d);
      const t0 = Date.now();
      const r = await pageServerDump(criu, pid, d, port, dir);
      const ms = Date.now() - t0;
      assert.equal(r.code, 0, `dump ${i} failed:\n${logTail(join(d, 'dump.log'))}\n${log}`);
      await waitFor(`layer ${i}`, () => log.includes(`layer ${join(stack, String(i))} written`));
      const add = await cli(['add-images', join(stack, String(i)), d]);
      assert.equal(add.code, 0, add.err);
      return ms;
    };
    const base = await dump(1);

    process.kill(pid, 'SIGUSR1');
    await waitFile(join(markers, 'series.step1'));
    for (let i = 0; i < 10; i++) open();
    trickle(open(), open2Request(dst)); // its first header, a byte a second: 32 s
    await new Promise((ok) => setTimeout(ok, 300));
    const withIdle = await dump(2);
    assert.ok(withIdle < base + 2000, `dump 2 took ${withIdle} ms, dump 1 ${base} ms`);
    assert.ok(
      hostile.every((s) => !s.destroyed),
      'the idle connections are still open: they were never given the session',
    );

    process.kill(pid, 'SIGUSR1');
    await waitFile(join(markers, 'series.step2'));
    const holder = open(open2Request(dst));
    await waitFor('the trickler to have the session', () => log.includes(`${join(stack, '3')} on top of 2`));
    trickle(holder, addFRequest(dst, 4, 0x10000n, 1));
    const behind = await dump(3);
    assert.match(log, /waited \d+\.\d s in all for the peer's bytes.*\[PAGESTACK_PS_SLOW\]/);
    assert.ok(behind < base + IDLE_S * 1000 + 5000, `dump 3 took ${behind} ms`);
    const turn =
      /session for .*\/3 on top of 2 \(first header (\d+) ms after connecting, then (\d+) ms for its turn\)/g;
    const lines = [...log.matchAll(turn)].map((m) => `${m[1]}+${m[2]} ms`);
    process.stdout.write(
      `# dump (process frozen) alone ${base} ms; with 10 idle connections + a header trickler ${withIdle} ms; behind a trickler holding the session (idle timeout ${IDLE_S} s) ${behind} ms; layer-3 sessions (first header + turn): ${lines.join(', ')}\n`,
    );
    const firstHeader = /session for .*\/1 \(first header (\d+) ms after connecting/.exec(log);
    process.stdout.write(`# CRIU's first header came ${firstHeader?.[1]} ms after it connected (dump 1)\n`);

    // the stack is the same as without the hostile peers: incremental, verified, restorable
    const pm = `pagemap-${pid}.img`;
    for (const l of [2, 3]) {
      const e = entriesOf(join(stack, String(l), pm));
      const shared = e.filter(([, , f]) => f === 1).reduce((s, [, n]) => s + n, 0);
      assert.ok(shared / e.reduce((s, [, n]) => s + n, 0) > 0.7, `layer ${l}: ${shared} PE_PARENT`);
    }
    const verify = await cli(['verify', join(stack, '3')]);
    assert.equal(verify.code, 0, verify.out);
    killPid(pid);
    await waitFor('the original to be gone', () => !alive(pid));
    const r = await runCriu(
      criu,
      ['restore', '-D', join(stack, '3'), '-d', '-v4', '-o', join(dir, 'restore.log')],
      dir,
    );
    track(pid);
    assert.equal(r.code, 0, `restore failed:\n${logTail(join(dir, 'restore.log'))}`);
    rmSync(join(markers, 'series.verified'), { force: true });
    process.kill(pid, 'SIGUSR2');
    assert.equal((await waitFile(join(markers, 'series.verified'))).trim(), `pid ${pid} step 2 bad_words 0`);
  } finally {
    for (const t of timers) clearInterval(t);
    for (const s of hostile) s.destroy();
    killPid(server.pid!, 'SIGTERM');
    await new Promise((ok) => (server.exitCode !== null ? ok(null) : server.once('close', ok)));
    killPid(server.pid!);
    killPid(pid);
  }
});

test('live: a dump that fails before its first page (connected TCP socket) leaves no layer; the next dump stays incremental', {
  skip: SKIP_LIVE,
  timeout: 180_000,
}, async () => {
  const { criu } = requireLive();
  const dir = testDir('ps-live-empty');
  const markers = join(dir, 'markers');
  const stack = join(dir, 'stack');
  mkdirSync(markers);
  const bin = buildProgram('series', dir);
  startProgram(bin, [markers], dir, join(dir, 'series.log'));
  const pid = Number((await waitFile(join(markers, 'series.step0'))).trim());
  // a process holding an established TCP connection (to a listener of this test)
  const peers: Socket[] = [];
  const listener = createServer((s) => peers.push(s));
  await new Promise<void>((ok) => listener.listen(0, '127.0.0.1', ok));
  const lport = (listener.address() as { port: number }).port;
  const holder = startProgram(
    '/bin/bash',
    ['-c', `exec 3<>/dev/tcp/127.0.0.1/${lport}; exec sleep 1000`],
    dir,
    join(dir, 'holder.log'),
  );
  const server = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'page-server', stack, '--port', '0'],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  track(server.pid!);
  let log = '';
  server.stderr.on('data', (d: Buffer) => {
    log += d.toString();
  });
  try {
    await waitFor('the holder to connect', () => peers.length > 0);
    const port = await waitFor(
      'page-server to listen',
      () => /listening on 127\.0\.0\.1:(\d+)/.exec(log)?.[1],
    );
    const d1 = join(dir, 'd1');
    mkdirSync(d1);
    const r1 = await pageServerDump(criu, pid, d1, port, dir);
    assert.equal(r1.code, 0, `dump 1 failed:\n${logTail(join(d1, 'dump.log'))}\n${log}`);
    await waitFor('layer 1', () => log.includes(`layer ${join(stack, '1')} written`));

    const bad = join(dir, 'bad');
    mkdirSync(bad);
    const rb = await pageServerDump(criu, holder.pid!, bad, port, dir);
    assert.notEqual(rb.code, 0, 'the dump of a connected TCP socket without --tcp-established fails');
    assert.match(readFileSync(join(bad, 'dump.log'), 'utf8'), /Connected TCP socket/);
    const empty = await waitFor('the empty session line', () =>
      /CLOSE after 0 pagemaps and no page: .*no layer written; layer 1 stays the top \[PAGESTACK_PS_EMPTY\]/.exec(
        log,
      ),
    );
    process.stdout.write(`# ${empty[0]}\n`);

    process.kill(pid, 'SIGUSR1');
    await waitFile(join(markers, 'series.step1'));
    const d2 = join(dir, 'd2');
    mkdirSync(d2);
    const r2 = await pageServerDump(criu, pid, d2, port, dir);
    assert.equal(r2.code, 0, `dump 2 failed:\n${logTail(join(d2, 'dump.log'))}\n${log}`);
    await waitFor('layer 2', () => log.includes(`layer ${join(stack, '2')} written`));
    assert.deepEqual(
      readdirSync(stack)
        .filter((n) => /^\d+$/.test(n))
        .sort(),
      ['1', '2'],
    );
    assert.equal(readlinkSync(join(stack, '2', 'parent')), '../1');
    const e = entriesOf(join(stack, '2', `pagemap-${pid}.img`));
    const shared = e.filter(([, , f]) => f === 1).reduce((s, [, n]) => s + n, 0);
    assert.ok(shared / e.reduce((s, [, n]) => s + n, 0) > 0.8, `layer 2: ${shared} PE_PARENT`);
    for (const [l, dd] of [
      [1, d1],
      [2, d2],
    ] as const) {
      const add = await cli(['add-images', join(stack, String(l)), dd]);
      assert.equal(add.code, 0, add.err);
    }
    const verify = await cli(['verify', join(stack, '2')]);
    assert.equal(verify.code, 0, verify.out);
  } finally {
    killPid(server.pid!, 'SIGTERM');
    await new Promise((ok) => (server.exitCode !== null ? ok(null) : server.once('close', ok)));
    killPid(server.pid!);
    killPid(holder.pid!);
    killPid(pid);
    for (const s of peers) s.destroy();
    listener.close();
  }
});
