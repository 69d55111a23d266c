/**
 * The kernel as oracle (issue 17 section 2): real programs, stopped, read from /proc/PID/mem,
 * dumped by CRIU 4.2 `--leave-running`, and pagestack's `export` of the dump (and of the dump as
 * a `delta` layer on an earlier dump of the same programs) must hold exactly the kernel's bytes
 * (the rules: test/helpers/oracle.ts; docs/memory-rules.md).
 *
 * Programs:
 *   oracle.c (test/fixtures/criu-4.2/prog/): threads, fork children, memfd and shared anonymous
 *     memory mapped MAP_SHARED and MAP_PRIVATE and written after fork, mprotect'ed and PROT_NONE
 *     regions, a file mapped MAP_PRIVATE with written pages, a grown stack, THP via madvise,
 *     MAP_DROPPABLE
 *   python3 (Debian's /usr/bin/python3) holding a 48 MiB bytearray and a 200,000-entry dict
 *   nginx (Debian's nginx-light): a master and 2 worker processes, after a few requests (workers
 *     as root: CRIU without CAP_SYS_RESOURCE cannot read another user's rlimits, and the workers
 *     would run as www-data)
 *   memcached -t 4 (Debian's memcached): 4 worker threads holding a few thousand items
 * Each is dumped twice (the programs keep changing memory in between); every process of the tree
 * is compared, for dump 1, dump 2 and the stack dump 1 <- delta(dump 2): the ELF core's PT_LOADs,
 * and every page of them read through the library (ProcessMemory) too.
 * The counts go to the test's diagnostics (compared pages by kind of VMA, skipped pages by reason).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { processMaps } from '../src/ops/maps.js';
import { openStackDir } from '../src/source/open.js';
import { cli } from './helpers/cli.js';
import { FIX } from './helpers/fixtures.js';
import { LIVE_REQUIRED, LiveSession, onPath, requireLive, SKIP_LIVE } from './helpers/live-criu.js';
import {
  addCounts,
  compareCore,
  continueGroup,
  formatCounts,
  newCounts,
  type OracleCounts,
  type ProcSnapshot,
  snapshotProcess,
  stopGroup,
} from './helpers/oracle.js';

const live = new LiveSession('oracle');
const started = new Set<number>();
const children = new Set<ChildProcess>();

/** Kills, by pid, every process of every tree this file started (the root's group members too). */
async function killStarted(): Promise<void> {
  for (const root of started) {
    for (const pid of treeOf(root)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  started.clear();
  await Promise.race([
    Promise.all(
      [...children].map(
        (c) =>
          new Promise<void>((r) =>
            c.exitCode !== null || c.signalCode !== null ? r() : c.once('close', () => r()),
          ),
      ),
    ),
    sleep(3000),
  ]);
}
after(killStarted);
process.once('exit', () => {
  for (const root of started) {
    try {
      process.kill(root, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

function treeOf(root: number): number[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const tid of spawnSync('ls', [`/proc/${out[i]}/task`], { encoding: 'utf8' }).stdout.split(/\s+/)) {
        if (!tid) continue;
        const kids = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        for (const k of kids ? kids.split(/\s+/) : []) out.push(Number(k));
      }
    } catch {
      // exited
    }
  }
  return out;
}

/** Starts `cmd` in a session (and process group) of its own, output to a log; returns its pid. */
function startTree(name: string, cmd: string, args: string[], env: Record<string, string> = {}): number {
  const log = join(live.logs, `${name}.log`);
  const out = openSync(log, 'a');
  const inp = openSync('/dev/null', 'r');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, {
      cwd: live.dir,
      detached: true,
      env: { PATH: '/usr/sbin:/usr/bin:/bin', HOME: live.dir, LANG: 'C.UTF-8', ...env },
      stdio: [inp, out, out],
    });
  } finally {
    closeSync(out);
    closeSync(inp);
  }
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = child.pid;
  started.add(pid);
  children.add(child);
  child.on('exit', () => {
    children.delete(child);
  });
  return pid;
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Sends `text` to 127.0.0.1:port, returns everything read until the peer closes or `done` says so. */
async function talk(
  port: number,
  text: string,
  done: (got: string) => boolean = () => false,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = new Socket();
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer on port ${port}`));
    }, 10_000);
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (done(got)) sock.end();
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    sock.connect(port, '127.0.0.1', () => sock.write(text));
  });
}

/** Stops the tree, snapshots every process, runs `dump`, snapshots again, continues the tree. */
async function stoppedDump(
  root: number,
  dump: () => Promise<void>,
): Promise<{ before: ProcSnapshot[]; after: ProcSnapshot[] }> {
  const pids = await stopGroup(root);
  try {
    const before = pids.map(snapshotProcess);
    await dump();
    const after = pids.map(snapshotProcess);
    return { before, after };
  } finally {
    continueGroup(root);
  }
}

/** Exports every process of `dir` and compares it with the kernel's snapshots. */
async function compareDir(
  t: TestContext,
  name: string,
  dir: string,
  snaps: { before: ProcSnapshot[]; after: ProcSnapshot[] },
): Promise<OracleCounts> {
  const total = newCounts();
  const core = join(live.dir, `${name}.core`);
  const stack = await openStackDir(dir);
  try {
    for (let i = 0; i < snaps.before.length; i++) {
      const pid = snaps.before[i]!.pid;
      const e = await cli(['export', dir, '--pid', String(pid), '-o', core]);
      assert.equal(e.code, 0, `pagestack export ${dir} --pid ${pid}: ${e.err}`);
      // the library's reads (`read`, `search`, the explorer's hex view) must give the same bytes
      const mem = await stack.process(pid);
      const read = (a: number): Uint8Array => mem.readSync(a, 4096);
      const c = compareCore(
        new Uint8Array(readFileSync(core)),
        snaps.before[i]!,
        snaps.after[i]!,
        `${name} pid ${pid}`,
        read,
      );
      rmSync(core, { force: true });
      addCounts(total, c);
    }
  } finally {
    await stack.close();
  }
  t.diagnostic(`${name}: ${formatCounts(total)}`);
  return total;
}

/**
 * The whole oracle on one running tree: dump 1, let it run, dump 2, and compare dump 1, dump 2 and
 * the stack with dump 2 as a delta layer on dump 1. Returns the counts of all three.
 */
async function oracle(t: TestContext, name: string, root: number, settleMs = 300): Promise<OracleCounts> {
  const base = join(live.dir, name);
  const d1 = join(base, 'dump1');
  const d2 = join(base, 'dump2');
  const layer = join(base, 'stack2');
  mkdirSync(base, { recursive: true });
  const all = newCounts();
  const s1 = await stoppedDump(root, () => live.dump(root, d1));
  addCounts(all, await compareDir(t, `${name} dump 1`, d1, s1));
  await sleep(settleMs);
  const s2 = await stoppedDump(root, () => live.dump(root, d2));
  addCounts(all, await compareDir(t, `${name} dump 2`, d2, s2));
  const dl = await cli(['delta', d1, d2, '-o', layer]);
  assert.equal(dl.code, 0, `pagestack delta: ${dl.err}`);
  const v = await cli(['verify', layer]);
  assert.equal(v.code, 0, `pagestack verify ${layer}:\n${v.out}${v.err}`);
  addCounts(all, await compareDir(t, `${name} delta stack`, layer, s2));
  t.diagnostic(`${name} total: ${formatCounts(all)}`);
  assert.deepEqual(all.mismatches, [], `${all.mismatchCount} pages differ from the kernel's`);
  assert.ok(all.compared > 0);
  return all;
}

/** A Debian program the test needs: its path, or a skip (a failure in CI). */
function program(t: TestContext, path: string, pkg: string): string | null {
  if (existsSync(path)) return path;
  const why = `${path} is missing (Debian package ${pkg})`;
  if (LIVE_REQUIRED) assert.fail(why);
  t.skip(why);
  return null;
}

describe('the kernel as oracle: export of CRIU 4.2 dumps holds the kernel bytes', { skip: SKIP_LIVE }, () => {
  test('oracle.c: threads, children, memfd and shared anon MAP_SHARED/MAP_PRIVATE, mprotect, file, stack, THP', async (t) => {
    requireLive();
    const bin = join(live.bin, 'oracle');
    const src = join(FIX, 'prog', 'oracle.c');
    const gcc = spawnSync(onPath('gcc') ?? 'gcc', ['-O2', '-Wall', '-Wextra', '-pthread', '-o', bin, src], {
      encoding: 'utf8',
    });
    assert.equal(gcc.status, 0, gcc.stderr);
    const markers = join(live.dir, 'oracle-markers');
    const work = join(live.dir, 'oracle-work');
    mkdirSync(markers);
    mkdirSync(work);
    const root = startTree('oracle', bin, [markers, work]);
    for (const who of ['parent', 'child1', 'child2']) {
      await live.waitMarker(markers, `oracle.${who}.ready`);
    }
    const c = await oracle(t, 'oracle', root);
    // the kinds of memory the program makes were all compared
    for (const kind of [
      'memfd MAP_PRIVATE',
      'memfd MAP_SHARED',
      'shared anon MAP_SHARED',
      'file MAP_PRIVATE',
      '[heap]',
      '[stack]',
      'anon',
      'anon r--p',
      'anon PROT_NONE',
    ]) {
      assert.ok((c.byKind[kind] ?? 0) > 0, `no ${kind} page compared: ${formatCounts(c)}`);
    }
    assert.ok((c.skipped['file page left to the file'] ?? 0) > 0);
    // and the dump has what the private-over-shared rule is about: in every process, pages of its
    // MAP_PRIVATE memfd and shared anonymous mappings in its own pagemap, the rest from the object
    const stack = await openStackDir(join(live.dir, 'oracle', 'dump2'));
    try {
      for (const p of await stack.processes()) {
        const m = await processMaps(stack, p.pid);
        const priv = m.vmas.filter((v) => v.shmem !== null && v.perms === 'rw-p');
        assert.equal(priv.length, 2, `pid ${p.pid}: the memfd and the shared anonymous memory, MAP_PRIVATE`);
        for (const v of priv) {
          assert.ok(
            v.privatePages > 0 && v.privatePages < v.dumped,
            `pid ${p.pid} ${v.name}: ${v.privatePages} private pages`,
          );
        }
      }
    } finally {
      await stack.close();
    }
  });

  test('python3 with a large heap (48 MiB bytearray, 200,000-entry dict)', async (t) => {
    requireLive();
    const py = program(t, '/usr/bin/python3', 'python3-minimal');
    if (!py) return;
    const ready = join(live.dir, 'python.ready');
    const code = [
      'import os, sys, time, random',
      'b = bytearray(os.urandom(48 << 20))',
      "d = {i: ('v%d' % i) * 8 for i in range(200000)}",
      "open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid()))",
      "os.rename(sys.argv[1] + '.tmp', sys.argv[1])",
      'i = 0',
      'while True:',
      '    b[random.randrange(len(b))] = i & 255',
      '    d[i % 200000] = str(i)',
      '    i += 1',
      '    if i % 1000 == 0: time.sleep(0.001)',
    ].join('\n');
    const root = startTree('python', py, ['-c', code, ready]);
    await until('python3 ready', () => existsSync(ready), 60_000);
    await oracle(t, 'python3', root);
  });

  test('nginx: a master and 2 worker processes', async (t) => {
    requireLive();
    const nginx = program(t, '/usr/sbin/nginx', 'nginx-light');
    if (!nginx) return;
    const port = await freePort();
    const dir = join(live.dir, 'nginx');
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    const conf = join(dir, 'nginx.conf');
    const tmp = join(dir, 'tmp');
    writeFileSync(
      conf,
      `user root;
worker_processes 2;
daemon off;
master_process on;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')};
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy; fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
  server { listen 127.0.0.1:${port}; location / { return 200 "oracle\\n"; } }
}
`,
    );
    const root = startTree('nginx', nginx, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf]);
    await until('nginx workers', () => treeOf(root).length >= 3);
    for (let i = 0; i < 20; i++) {
      const r = await talk(port, `GET /${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(r, /^HTTP\/1\.1 200/);
    }
    await sleep(100); // the workers close their side
    const c = await oracle(t, 'nginx', root);
    assert.ok(c.processes >= 9, 'the master and both workers, three times');
  });

  test('memcached -t 4 holding a few thousand items', async (t) => {
    requireLive();
    const mc = program(t, '/usr/bin/memcached', 'memcached');
    if (!mc) return;
    const port = await freePort();
    const root = startTree('memcached', mc, [
      '-u',
      'root',
      '-t',
      '4',
      '-p',
      String(port),
      '-U',
      '0',
      '-l',
      '127.0.0.1',
      '-m',
      '64',
    ]);
    await until('memcached listening', async () => {
      try {
        return (await talk(port, 'version\r\n', (g) => g.includes('\r\n'))).startsWith('VERSION');
      } catch {
        return false;
      }
    });
    let batch = '';
    for (let i = 0; i < 3000; i++) {
      const v = `${i}:`.padEnd(1000, String.fromCharCode(97 + (i % 26)));
      batch += `set key${i} 0 0 ${v.length} noreply\r\n${v}\r\n`;
    }
    const r = await talk(port, `${batch}get key2999\r\n`, (g) => g.includes('END\r\n'));
    assert.match(r, /VALUE key2999 0 1000/);
    await sleep(100);
    await oracle(t, 'memcached', root);
  });
});
