/**
 * One writer per stack (src/engine/lock.ts), with real concurrent processes: two page servers on
 * one STACK, dedup while delta --in-place replaces a layer of its stack, two add-images on one
 * layer. The first writer is stopped right after it took its lock (env PAGESTACK_STOP_AFTER_LOCK:
 * it SIGSTOPs itself), so the second always comes while the first holds the lock, however loaded
 * the machine; it must fail at once with one line naming the path and the holder's pid (found
 * through /proc: a stopped holder cannot answer), or wait with --wait. The lock dies with its
 * holder: after a SIGKILL the next writer goes on at once.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { lockHolder, StackLock, withLock } from '../src/engine/lock.js';
import type { PagestackError } from '../src/errors.js';
import { hashDir, testDir } from './helpers/files.js';
import { FIX, ROOT } from './helpers/fixtures.js';

const W = testDir('lock');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

interface Run {
  child: ChildProcess;
  pid: number;
  out: () => string;
  err: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGCONT');
      c.kill('SIGKILL');
    }
  }
});

/** Starts the CLI as a process (through tsx); `stop`: it SIGSTOPs itself once it holds its lock. */
function start(args: string[], stop = false): Run {
  const env = { ...process.env };
  if (stop) env['PAGESTACK_STOP_AFTER_LOCK'] = '1';
  else delete env['PAGESTACK_STOP_AFTER_LOCK'];
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.stdin.end();
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) =>
    child.on('close', (code, signal) => {
      children.delete(child);
      ok({ code, signal });
    }),
  );
  return { child, pid: child.pid!, out: () => out, err: () => err, done };
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Waits until `pid` is stopped (state T in /proc/PID/stat), or fails after `ms`. */
async function stopped(run: Run, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    let state = '';
    try {
      const stat = readFileSync(`/proc/${run.pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
    } catch {}
    if (state === 'T') return;
    if (run.child.exitCode !== null) assert.fail(`exited before stopping: ${run.err()}`);
    if (Date.now() - t0 > ms) assert.fail(`pid ${run.pid} did not stop: ${run.err()}`);
    await sleep(20);
  }
}

/** Waits until `text` shows on the run's stderr. */
async function stderrHas(run: Run, re: RegExp, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!re.test(run.err())) {
    if (run.child.exitCode !== null) assert.fail(`exited: ${run.err()}`);
    if (Date.now() - t0 > ms) assert.fail(`no ${re} on stderr: ${run.err()}`);
    await sleep(20);
  }
}

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The one line a writer prints when another holds the lock of `path`. */
function lockedLine(path: string, pid: number): RegExp {
  return new RegExp(
    `^pagestack: ${reEscape(path)}: locked by pid ${pid}\\b[^\\n]*one writer at a time[^\\n]*\\n$`,
  );
}

describe('the lock itself', () => {
  test('one holder per path; the holder says who it is; release frees it', async () => {
    const p = join(W, 'unit');
    mkdirSync(p);
    assert.equal(await lockHolder(p), null);
    const lock = await StackLock.acquire(p, { what: 'test' });
    assert.deepEqual(await lockHolder(p), { pid: process.pid });
    // a second writer in this process is refused too (same real path through another name)
    await assert.rejects(StackLock.acquire(join(W, '.', 'unit')), (e: PagestackError) => {
      assert.equal(e.code, 'PAGESTACK_LOCKED');
      assert.equal(e.data['pid'], process.pid);
      return true;
    });
    await lock.release();
    assert.equal(await lockHolder(p), null);
    // all or none: a set with one taken path takes nothing
    const a = join(W, 'a');
    const b = join(W, 'b');
    const lb = await StackLock.acquire(b);
    await assert.rejects(StackLock.acquire([a, b]), { code: 'PAGESTACK_LOCKED' });
    assert.equal(await lockHolder(a), null);
    // --wait: taken once the holder lets go
    const waited = StackLock.acquire([a, b], { wait: true });
    await sleep(250);
    await lb.release();
    const both = await waited;
    await withLock(join(W, 'c'), {}, async () => assert.notEqual(await lockHolder(join(W, 'c')), null));
    assert.equal(await lockHolder(join(W, 'c')), null);
    await both.release();
  });

  test('the kernel frees the lock of a SIGKILLed holder; a live one answers with its pid and command', async () => {
    const p = join(W, 'killed');
    mkdirSync(p);
    const holder = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('${join(ROOT, 'src', 'engine', 'lock.ts')}').then(async (m) => { await m.StackLock.acquire(${JSON.stringify(p)}, { what: 'holder' }); console.log('held'); setInterval(() => {}, 1000); })`,
      ],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    children.add(holder);
    await new Promise<void>((ok) => holder.stdout.once('data', () => ok()));
    assert.deepEqual(await lockHolder(p), { pid: holder.pid, what: 'holder' });
    await assert.rejects(StackLock.acquire(p), (e: PagestackError) => {
      assert.match(e.message, new RegExp(`locked by pid ${holder.pid} \\(pagestack holder\\)`));
      return true;
    });
    const gone = new Promise((ok) => holder.on('close', ok));
    holder.kill('SIGKILL');
    await gone;
    // no stale lock: free at once, nothing left on disk
    const lock = await StackLock.acquire(p);
    await lock.release();
    assert.deepEqual(readdirSync(p), []);
  });
});

describe('concurrent writers (processes)', () => {
  test('two page-server processes on one STACK: the second stops at once naming the first; --wait waits', async () => {
    const stack = join(W, 'ps-stack');
    const first = start(['page-server', stack, '--port', '0']);
    await stderrHas(first, /listening on/);
    const t0 = Date.now();
    const second = start(['page-server', stack, '--port', '0']);
    const r = await second.done;
    assert.equal(r.code, 1, second.err());
    assert.match(second.err(), lockedLine(stack, first.pid));
    assert.match(second.err(), /\(pagestack page-server\)/);
    assert.ok(Date.now() - t0 < 30_000, 'the second server did not stop at once');
    // with --wait: it says whom it waits for, and starts once the first one is gone
    const waiter = start(['page-server', stack, '--port', '0', '--wait']);
    await stderrHas(waiter, new RegExp(`waiting for pid ${first.pid}`));
    assert.doesNotMatch(waiter.err(), /listening/);
    first.child.kill('SIGTERM');
    assert.equal((await first.done).code, 0);
    await stderrHas(waiter, /listening on/);
    waiter.child.kill('SIGINT');
    assert.equal((await waiter.done).code, 0);
  });

  test('dedup while delta --in-place replaces a layer of its stack: refused with the lock line, then fine', async () => {
    const l1 = join(W, 'd1');
    const l2 = join(W, 'd2');
    cpSync(join(FIX, 'series', '1'), l1, { recursive: true });
    cpSync(join(FIX, 'series', '2'), l2, { recursive: true });
    const before1 = hashDir(l1);
    const d = start(['delta', l1, l2, '--in-place'], true);
    await stopped(d);
    // the layer being replaced is the top of the stack dedup is asked to change
    const r = start(['dedup', l2]);
    assert.equal((await r.done).code, 1, r.err());
    assert.match(r.err(), lockedLine(l2, d.pid));
    assert.equal(r.out(), '');
    d.child.kill('SIGCONT');
    const dr = await d.done;
    assert.equal(dr.code, 0, d.err());
    assert.ok(existsSync(join(l2, 'parent')), 'delta --in-place did not complete');
    assert.deepEqual(hashDir(l1), before1, 'the parent changed');
    // the writer gone, dedup runs
    const again = start(['dedup', l2]);
    assert.equal((await again.done).code, 0, again.err());
  });

  test('two add-images on one layer at once: only one succeeds, the other gets the lock line', async () => {
    const layer = join(W, 'ps', '1');
    const dump = join(W, 'dump');
    mkdirSync(layer, { recursive: true });
    mkdirSync(dump);
    const src = join(FIX, 'pageserver');
    for (const f of readdirSync(src)) {
      if (f === 'expected.json') continue;
      cpSync(join(src, f), join(/^(pagemap-|pages-)/.test(f) ? layer : dump, f));
    }
    const a = start(['add-images', layer, dump], true);
    await stopped(a);
    const b = start(['add-images', layer, dump]);
    assert.equal((await b.done).code, 1, b.err());
    assert.match(b.err(), lockedLine(layer, a.pid));
    assert.equal(b.out(), '');
    // what b would have done did not happen: the layer still holds only its memory
    assert.deepEqual(readdirSync(layer).sort(), ['pagemap-25377.img', 'pages-65537.img']);
    a.child.kill('SIGCONT');
    assert.equal((await a.done).code, 0, a.err());
    assert.match(a.out(), /images added from .*, verified/);
    assert.ok(readdirSync(layer).includes('pstree.img'));
  });
});
