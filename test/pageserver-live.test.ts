/**
 * Live acceptance of `pagestack page-server` with real CRIU (>= 4.0; $PAGESTACK_CRIU or `criu` on
 * PATH; skipped with one line when there is none): three `criu dump --page-server` of the running
 * `series` program become a 3-layer stack whose upper layers are mostly PE_PARENT, `add-images`
 * completes each layer, and `criu restore -D STACK/3` brings the process back with its memory
 * verified by the program itself (`bad_words 0` at step 2).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { ROOT } from './helpers/fixtures.js';
import { entriesOf } from './helpers/images.js';
import { requireLive, SKIP_LIVE } from './helpers/live-criu.js';
import {
  alive,
  buildProgram,
  killPid,
  lazyRestore,
  logTail,
  makeCerts,
  pageServerDump,
  runCriu,
  startProgram,
  track,
  waitFile,
  waitFor,
} from './helpers/pageserver-live.js';

const skip = SKIP_LIVE;

test('live: 3 dumps of series through pagestack page-server -> 3-layer stack; criu restore -D STACK/3 and a lazy restore served from the stack both verify', {
  skip,
  timeout: 180_000,
}, async () => {
  const { criu } = requireLive();
  const dir = testDir('ps-live');
  const markers = join(dir, 'markers');
  const stack = join(dir, 'stack');
  mkdirSync(markers);
  const bin = buildProgram('series', dir);
  const prog = startProgram(bin, [markers], dir, join(dir, 'series.log'));
  const pid = Number((await waitFile(join(markers, 'series.step0'))).trim());
  assert.equal(pid, prog.pid);

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
    const port = await waitFor(
      'page-server to listen',
      () => /listening on 127\.0\.0\.1:(\d+)/.exec(log)?.[1],
    );
    for (let i = 1; i <= 3; i++) {
      const d = join(dir, `dump${i}`);
      mkdirSync(d);
      const r = await pageServerDump(criu, pid, d, port, dir);
      assert.equal(r.code, 0, `dump ${i} failed:\n${logTail(join(d, 'dump.log'))}\n${log}`);
      await waitFor(`layer ${i}`, () => log.includes(`layer ${join(stack, String(i))} written`));
      const add = await cli(['add-images', join(stack, String(i)), d]);
      assert.equal(add.code, 0, add.err);
      assert.match(add.out, /images added .* verified; not images, left out: dump\.log/);
      if (i < 3) {
        process.kill(pid, 'SIGUSR1');
        await waitFile(join(markers, `series.step${i}`));
      }
    }
    const pm = `pagemap-${pid}.img`;
    const shared = (layer: number) => {
      const e = entriesOf(join(stack, String(layer), pm));
      const all = e.reduce((s, [, n]) => s + n, 0);
      return e.filter(([, , f]) => f === 1).reduce((s, [, n]) => s + n, 0) / all;
    };
    assert.equal(shared(1), 0);
    assert.ok(shared(2) > 0.8, `layer 2: ${shared(2)} PE_PARENT`);
    assert.ok(shared(3) > 0.7, `layer 3: ${shared(3)} PE_PARENT`);
    const verify = await cli(['verify', join(stack, '3')]);
    assert.equal(verify.code, 0, verify.out);
    assert.match(verify.out, /^ok: 3 layers, 1 process/m);

    // the original goes, the stack brings it back
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
    const verified = await waitFile(join(markers, 'series.verified'));
    assert.equal(verified.trim(), `pid ${pid} step 2 bad_words 0`);
    process.stdout.write(`# restored from ${join(stack, '3')}: ${verified.trim()}\n`);
    killPid(pid);
    // the server's log names every layer with what it kept
    assert.match(
      log,
      /layer .*\/2 written: 1 pagemaps, \d+ pages received, \d+ kept, \d+ equal to the stack below/,
    );
    await waitFor('the restored process to be gone', () => !alive(pid));

    // the same stack, restored lazily: memory served from the stack by page-server --lazy
    const R = join(dir, 'R');
    const li = await cli(['lazy-images', join(stack, '3'), '-o', R]);
    assert.equal(li.code, 0, li.err);
    const lazyServer = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'page-server', stack, '--lazy', '--port', '0'],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    track(lazyServer.pid!);
    let lazyLog = '';
    lazyServer.stderr.on('data', (d: Buffer) => {
      lazyLog += d.toString();
    });
    try {
      const lport = await waitFor(
        'lazy page-server to listen',
        () => /listening on 127\.0\.0\.1:(\d+)/.exec(lazyLog)?.[1],
      );
      const { restore: lr, daemon: d } = await lazyRestore(criu, R, lport, dir, () => track(pid));
      assert.equal(lr.code, 0, `lazy restore failed:\n${logTail(join(dir, 'lazy-restore.log'))}`);
      assert.equal(d.code, 0, `lazy-pages failed:\n${logTail(join(dir, 'lazy-pages.log'))}\n${lazyLog}`);
      rmSync(join(markers, 'series.verified'), { force: true });
      process.kill(pid, 'SIGUSR2');
      const lv = await waitFile(join(markers, 'series.verified'));
      assert.equal(lv.trim(), `pid ${pid} step 2 bad_words 0`);
      const served = await waitFor('the lazy session summary', () =>
        /lazy session done: (\d+) GETs, (\d+) pages served \((.*)\)/.exec(lazyLog),
      );
      assert.match(served[3]!, /\d+ from .*\/3, \d+ from .*\/2, \d+ from .*\/1/);
      process.stdout.write(`# lazily restored: ${lv.trim()}; ${served[0]}\n`);
      killPid(pid);
    } finally {
      killPid(lazyServer.pid!);
    }
  } finally {
    killPid(server.pid!, 'SIGTERM');
    await new Promise((ok) => (server.exitCode !== null ? ok(null) : server.once('close', ok)));
    killPid(server.pid!);
    killPid(pid);
  }
});

test('live: criu dump --tls into pagestack page-server --tls; a client certificate of another CA is refused', {
  skip,
  timeout: 120_000,
}, async () => {
  const { criu } = requireLive();
  const dir = testDir('ps-live-tls');
  const markers = join(dir, 'markers');
  const stack = join(dir, 'stack');
  mkdirSync(markers);
  const c = makeCerts(dir);
  const other = makeCerts(dir, 'other-');
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
      '--tls',
      '--tls-cacert',
      c.ca,
      '--tls-cert',
      c.srvCert,
      '--tls-key',
      c.srvKey,
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  track(server.pid!);
  let log = '';
  server.stderr.on('data', (d: Buffer) => {
    log += d.toString();
  });
  try {
    const port = await waitFor(
      'page-server to listen',
      () => /listening on 127\.0\.0\.1:(\d+) \(TLS\)/.exec(log)?.[1],
    );
    const dump = (d: string, cert: string, key: string) => {
      mkdirSync(d);
      return pageServerDump(criu, pid, d, port, dir, [
        '--tls',
        '--tls-cacert',
        c.ca,
        '--tls-cert',
        cert,
        '--tls-key',
        key,
      ]);
    };
    const ok = await dump(join(dir, 'd1'), c.cliCert, c.cliKey);
    assert.equal(ok.code, 0, `TLS dump failed:\n${logTail(join(dir, 'd1', 'dump.log'))}\n${log}`);
    await waitFor('layer 1', () => log.includes(`layer ${join(stack, '1')} written`));
    const add = await cli(['add-images', join(stack, '1'), join(dir, 'd1')]);
    assert.equal(add.code, 0, add.err);
    const bad = await dump(join(dir, 'd2'), other.cliCert, other.cliKey);
    assert.notEqual(bad.code, 0);
    await waitFor('the refusal in the log', () => /TLS handshake failed/.test(log));
    assert.deepEqual(
      readdirSync(stack).filter((n) => !n.startsWith('.')),
      ['1'],
    );
    // the dumped process is unharmed by both
    rmSync(join(markers, 'series.verified'), { force: true });
    process.kill(pid, 'SIGUSR2');
    assert.equal((await waitFile(join(markers, 'series.verified'))).trim(), `pid ${pid} step 0 bad_words 0`);
  } finally {
    killPid(server.pid!);
    killPid(pid);
  }
});

test('live: tree (3 processes, shared memory, a thread): 2 dumps through page-server, restored directly and lazily', {
  skip,
  timeout: 180_000,
}, async () => {
  const { criu } = requireLive();
  const dir = testDir('ps-live-tree');
  const markers = join(dir, 'markers');
  const stack = join(dir, 'stack');
  mkdirSync(markers);
  const bin = buildProgram('tree', dir);
  startProgram(bin, [markers], dir, join(dir, 'tree.log'));
  const who = ['parent', 'child1', 'child2'];
  const pids: number[] = [];
  for (const w of who)
    pids.push(Number((await waitFile(join(markers, `tree.${w}.ready`))).trim().split(' ')[0]));
  for (const p of pids) track(p);
  const serve = (extra: string[]) => {
    const s = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'page-server', stack, '--port', '0', ...extra],
      {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    track(s.pid!);
    const out = { log: '', proc: s };
    s.stderr.on('data', (d: Buffer) => {
      out.log += d.toString();
    });
    return out;
  };
  const verifyAll = async () => {
    for (const w of who) rmSync(join(markers, `tree.${w}.verified`), { force: true });
    for (const p of pids) process.kill(p, 'SIGUSR2');
    const lines: string[] = [];
    for (const [i, w] of who.entries()) {
      const v = (await waitFile(join(markers, `tree.${w}.verified`))).trim();
      assert.equal(v, `pid ${pids[i]} bad_words 0`);
      lines.push(v);
    }
    return lines.join(', ');
  };
  const gone = async () => {
    for (const p of pids) killPid(p);
    await waitFor('the tree to be gone', () => pids.every((p) => !alive(p)));
  };
  const recv = serve([]);
  try {
    const port = await waitFor('page-server', () => /listening on 127\.0\.0\.1:(\d+)/.exec(recv.log)?.[1]);
    for (let i = 1; i <= 2; i++) {
      const d = join(dir, `dump${i}`);
      mkdirSync(d);
      const r = await pageServerDump(criu, pids[0]!, d, port, dir);
      assert.equal(r.code, 0, `dump ${i}:\n${logTail(join(d, 'dump.log'))}`);
      await waitFor(`layer ${i}`, () => recv.log.includes(`layer ${join(stack, String(i))} written`));
      const add = await cli(['add-images', join(stack, String(i)), d]);
      assert.equal(add.code, 0, add.err);
    }
    assert.match(recv.log, /layer .*\/2 written: 4 pagemaps, \d+ pages received, \d+ kept, \d+ equal/);
  } finally {
    killPid(recv.proc.pid!);
  }
  await gone();
  const r = await runCriu(
    criu,
    ['restore', '-D', join(stack, '2'), '-d', '-v4', '-o', join(dir, 'restore.log')],
    dir,
  );
  for (const p of pids) track(p);
  assert.equal(r.code, 0, `restore:\n${logTail(join(dir, 'restore.log'))}`);
  process.stdout.write(`# tree restored from ${join(stack, '2')}: ${await verifyAll()}\n`);
  await gone();

  const R = join(dir, 'R');
  assert.equal((await cli(['lazy-images', join(stack, '2'), '-o', R])).code, 0);
  const lazy = serve(['--lazy']);
  try {
    const lport = await waitFor(
      'lazy page-server',
      () => /listening on 127\.0\.0\.1:(\d+)/.exec(lazy.log)?.[1],
    );
    const { restore: lr, daemon } = await lazyRestore(criu, R, lport, dir, () => {
      for (const p of pids) track(p);
    });
    assert.equal(lr.code, 0, `lazy restore:\n${logTail(join(dir, 'lazy-restore.log'))}`);
    assert.equal(daemon.code, 0, logTail(join(dir, 'lazy-pages.log')));
    const v = await verifyAll();
    const served = await waitFor('lazy summary', () => /lazy session done: .*/.exec(lazy.log)?.[0]);
    process.stdout.write(`# tree restored lazily: ${v}; ${served}\n`);
    await gone();
  } finally {
    killPid(lazy.proc.pid!);
  }
});
