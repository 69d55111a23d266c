/**
 * Many restores of one stack at once, with real CRIU (skipped with one line without it, failing in
 * CI): the 3-layer `series` stack restored lazily by 8 processes at the same time, each in a pid
 * namespace of its own, and every restored process checks its memory (`bad_words 0` at step 2):
 *   a) `pagestack restore --lazy` run 8 times at once (8 in-process lazy servers);
 *   b) one `pagestack page-server STACK --lazy` serving 8 `criu lazy-pages` daemons at once.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli } from './helpers/cli.js';
import { ROOT } from './helpers/fixtures.js';
import { LiveSession, requireLive, SKIP_LIVE } from './helpers/live-criu.js';
import { type NsRestore, restoreInNamespace, seriesStack } from './helpers/restore-live.js';

const N = 8;
const live = new LiveSession('restore-many');
const root = live.dir;
let pid = 0;
let markers = '';
let top = '';

const started = new Set<ChildProcess>();
after(() => {
  for (const c of started)
    if (c.pid && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
});

/** The restored `series` in each namespace (host pids), verified one after the other (one marker file). */
async function verifyAll(hosts: number[]): Promise<string[]> {
  const lines: string[] = [];
  for (const h of hosts) {
    const v = await live.verifyProcess(h, markers, 'series.verified', 30_000);
    assert.equal(v.line, `pid ${pid} step 2 bad_words 0`);
    lines.push(v.line);
  }
  return lines;
}

describe('live: one stack restored 8 times at once', { skip: SKIP_LIVE, timeout: 600_000 }, () => {
  before(async () => {
    requireLive();
    ({ pid, markers, top } = await seriesStack(live));
  });

  test('a) pagestack restore --lazy, 8 at once, each in its own pid namespace', async (t) => {
    const tmp = join(root, 'tmp-a');
    mkdirSync(tmp);
    const t0 = performance.now();
    const runs: NsRestore[] = [];
    for (let i = 0; i < N; i++) {
      runs.push(
        restoreInNamespace([top, '--lazy', '--record-seconds', '0', '--', '-d'], {
          PAGESTACK_CRIU: requireLive().criu,
          TMPDIR: tmp,
        }),
      );
    }
    try {
      const codes = await Promise.race([
        Promise.all(runs.map((r) => r.done)),
        sleep(300_000).then(() => 'timeout' as const),
      ]);
      const wall = Math.round(performance.now() - t0);
      assert.deepEqual(
        codes,
        runs.map(() => 0),
        runs.map((r) => r.stderr).join('\n'),
      );
      const hosts = runs.map((r) => r.processes().get(pid)?.host);
      assert.ok(
        hosts.every((h) => h),
        'a restored series in every namespace',
      );
      const lines = await verifyAll(hosts as number[]);
      for (const r of runs) assert.match(r.stdout, /served lazily: \d+ pages in \d+ GETs/);
      t.diagnostic(`${N} restores at once, ${wall} ms in all: ${lines.length} x "${lines[0]}"`);
      assert.deepEqual(
        readdirSync(tmp).filter((f) => !f.startsWith('tsx-')),
        [],
      );
    } finally {
      await Promise.all(runs.map((r) => r.kill()));
    }
  });

  test('b) one page-server --lazy serving 8 criu lazy-pages daemons at once', async (t) => {
    const { criu } = requireLive();
    const R = join(root, 'R');
    const li = await cli(['lazy-images', top, '-o', R]);
    assert.equal(li.code, 0, li.err);
    const server = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'src', 'cli', 'main.ts'),
        'page-server',
        join(root, 'stack'),
        '--lazy',
        '--layer',
        '3',
        '--port',
        '0',
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    started.add(server);
    let log = '';
    server.stderr.on('data', (d: Buffer) => {
      log += d.toString();
    });
    const spaces: { child: ChildProcess; out: string; dir: string }[] = [];
    try {
      let port = '';
      for (let i = 0; i < 500 && !port; i++) {
        port = /listening on 127\.0\.0\.1:(\d+)/.exec(log)?.[1] ?? '';
        if (!port) await sleep(20);
      }
      assert.ok(port, `page-server did not listen:\n${log}`);
      const script = [
        'R="$1"; criu="$0"; port="$2"',
        '"$criu" lazy-pages --page-server --address 127.0.0.1 --port "$port" -D "$R" -v4 -o "$R/lazy-pages.log" &',
        'd=$!',
        'while [ ! -S "$R/lazy-pages.socket" ]; do kill -0 $d 2>/dev/null || exit 3; sleep 0.01; done',
        '"$criu" restore -D "$R" --lazy-pages -d -v4 -o "$R/restore.log" || exit 4',
        'wait $d || exit 5',
        'echo restored',
        'exec sleep 3600',
      ].join('\n');
      const t0 = performance.now();
      for (let i = 0; i < N; i++) {
        const dir = join(root, `R${i}`);
        cpSync(R, dir, { recursive: true });
        const child = spawn(
          'unshare',
          ['-p', '-f', '--mount-proc', '--kill-child', 'sh', '-c', script, criu, dir, port],
          {
            cwd: '/',
            env: { PATH: '/usr/sbin:/usr/bin:/bin' },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        started.add(child);
        const s = { child, out: '', dir };
        child.stdout.on('data', (d: Buffer) => {
          s.out += d.toString();
        });
        child.stderr.on('data', (d: Buffer) => {
          s.out += d.toString();
        });
        spaces.push(s);
      }
      const until = Date.now() + 300_000;
      while (
        spaces.some((s) => !s.out.includes('restored') && s.child.exitCode === null) &&
        Date.now() < until
      )
        await sleep(20);
      const wall = Math.round(performance.now() - t0);
      for (const s of spaces) {
        assert.ok(
          s.out.includes('restored'),
          `${s.dir}: ${s.out} (exit ${s.child.exitCode})\n${tail(join(s.dir, 'lazy-pages.log'))}\n${tail(join(s.dir, 'restore.log'))}`,
        );
      }
      const hosts = spaces.map((s) => restoredIn(s.child.pid!));
      const lines = await verifyAll(hosts);
      const sessions = log.match(/lazy session done: \d+ GETs, \d+ pages served/g) ?? [];
      assert.equal(sessions.length, N, log);
      t.diagnostic(
        `one server, ${N} lazy restores at once, ${wall} ms until all restored: ${lines.length} x "${lines[0]}"; ${sessions[0]}`,
      );
    } finally {
      for (const s of spaces)
        if (s.child.exitCode === null && s.child.pid) process.kill(s.child.pid, 'SIGKILL');
      if (server.pid) process.kill(server.pid, 'SIGKILL');
    }
  });
});

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-8).join('\n');
  } catch {
    return `(no ${path})`;
  }
}

/** The host pid of the restored `pid` in the namespace whose unshare is `unsharePid`. */
function restoredIn(unsharePid: number): number {
  const init = Number(
    readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/)[0],
  );
  const ns = readlinkSync(`/proc/${init}/ns/pid`);
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === init) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/pid`) !== ns) continue;
      const st = readFileSync(`/proc/${e}/status`, 'utf8');
      const nspid = /^NSpid:\s+(.*)$/m.exec(st)?.[1]?.trim().split(/\s+/);
      if (nspid && Number(nspid[nspid.length - 1]) === pid) return Number(e);
    } catch {
      // gone
    }
  }
  throw new Error(`no restored pid ${pid} under unshare ${unsharePid}`);
}
