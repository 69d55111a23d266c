/**
 * Crash safety of the writing commands: the built CLI (`node dist/cli/main.js`) runs `delta -o`,
 * `delta --in-place` and `squash` on synthetic 16 MiB dumps and is SIGKILLed at random moments.
 * After every kill: the input images are unchanged (every file hashed) and still read the same;
 * the output is either absent or complete (every pagemap resolves, every page reads as expected);
 * anything else beside it has a recognisable temporary name. A last uninterrupted run of each
 * command succeeds and removes those leftovers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { encodePagemapChunks, PagemapEntries } from '../src/engine/layer-writer.js';
import { cleanStale } from '../src/engine/output.js';
import { PAGE_SIZE, PE_LAZY, PE_PRESENT } from '../src/image/pagemap.js';
import { cliProcess } from './helpers/cli.js';
import { hashDir, testDir } from './helpers/files.js';
import { FIX, ROOT } from './helpers/fixtures.js';
import { assertSameMemory, deltaDirs } from './helpers/stacks.js';

const SERIES1 = join(FIX, 'series', '1');
const RUNS_PER_MODE = 10;
const TEMP_NAME = /^\.(.+)\.pagestack-(tmp|old)-\d+-[0-9a-f]+$/;

/**
 * Builds dist/ when some src/ file is newer than its output (`npm run build`, incrementally when it
 * can: tsc emits even if someone else's file has type errors). An incremental build that leaves
 * anything stale (dist deleted behind its back) is followed by a full one.
 */
function ensureBuilt(): void {
  const stale = (): string[] => {
    const out: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
          const js = join(ROOT, 'dist', p.slice(join(ROOT, 'src').length).replace(/\.ts$/, '.js'));
          if (!existsSync(js) || statSync(js).mtimeMs < statSync(p).mtimeMs) out.push(p);
        }
      }
    };
    walk(join(ROOT, 'src'));
    return out;
  };
  if (stale().length === 0) return;
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const info = join(tmpdir(), 'pagestack-crash-safety.tsbuildinfo');
  let r = spawnSync(
    process.execPath,
    [tsc, '-p', 'tsconfig.json', '--incremental', '--tsBuildInfoFile', info],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  if (stale().length > 0) {
    rmSync(info, { force: true });
    r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  }
  const mine = ['cli/main.ts', 'ops/delta.ts', 'ops/squash.ts', 'ops/layer-writer.ts'].map((f) =>
    join(ROOT, 'src', f),
  );
  const left = stale().filter((f) => mine.includes(f));
  assert.deepEqual(left, [], `npm run build did not bring dist/ up to date: ${r.stdout}${r.stderr}`);
}

const W = testDir('crash');
const P = join(W, 'parent'); // a full dump
const C = join(W, 'child'); // the same memory with ~10% of the pages rewritten, and some lazy pages
const D = join(W, 'delta'); // delta(P, C): the stack that squash reads

/** A synthetic dump: one process pagemap (+ pages) and one shmem pagemap, other images from series/1. */
function writeDump(dir: string, mem: Buffer, shmem: Buffer, layout: [number, number, number][]): void {
  mkdirSync(dir);
  for (const f of readdirSync(SERIES1)) {
    if (!/^(pagemap-|pages-|expected)/.test(f)) cpSync(join(SERIES1, f), join(dir, f));
  }
  const e = new PagemapEntries();
  layout.forEach(([v, n, f], i) => {
    e.push(i, v, n, f);
  });
  writeFileSync(join(dir, 'pagemap-25238.img'), Buffer.concat([...encodePagemapChunks(1, e)]));
  writeFileSync(join(dir, 'pages-1.img'), mem);
  const s = new PagemapEntries();
  s.push(0, 0, shmem.length / PAGE_SIZE, PE_PRESENT);
  writeFileSync(join(dir, 'pagemap-shmem-7.img'), Buffer.concat([...encodePagemapChunks(2, s)]));
  writeFileSync(join(dir, 'pages-2.img'), shmem);
}

/** Names in W other than the known ones must be temporary directories of `dest`. */
function leftovers(known: string[], dests: string[]): string[] {
  const extra = readdirSync(W).filter((n) => !known.includes(n));
  for (const n of extra) {
    const m = TEMP_NAME.exec(n);
    assert.ok(m && dests.includes(m[1]!), `unexpected entry ${n} beside the outputs`);
  }
  return extra;
}

before(() => {
  ensureBuilt();
  // layout: 16 MiB in entries of 1..256 pages with gaps, flags 6/4, a few lazy-only entries
  const layout: [number, number, number][] = [];
  let v = 0x7f0000000;
  let present = 0;
  let k = 0;
  while (present < 4 * 1024) {
    const n = 1 + ((k * 37) % 256);
    const flags = k % 29 === 5 ? PE_LAZY : k % 7 === 0 ? PE_PRESENT : PE_LAZY | PE_PRESENT;
    layout.push([v, n, flags]);
    if (flags & PE_PRESENT) present += n;
    v += n + (k % 3 === 0 ? 5 : 0);
    k++;
  }
  const mem = randomBytes(present * PAGE_SIZE);
  const mem2 = Buffer.from(mem);
  for (let r = 0; r < 40; r++) {
    const at = Math.floor(Math.random() * (present - 16));
    randomBytes(PAGE_SIZE * (1 + (r % 16))).copy(mem2, at * PAGE_SIZE);
  }
  const shm = randomBytes(256 * PAGE_SIZE);
  const shm2 = Buffer.from(shm);
  shm2[100 * PAGE_SIZE]! ^= 1;
  writeDump(P, mem, shm, layout);
  writeDump(C, mem2, shm2, layout);
});

describe('SIGKILL at random moments', () => {
  test('delta -o, delta --in-place and squash: inputs intact, outputs complete or absent', async (t) => {
    await deltaDirs({ parent: P, child: C, out: D });
    const hashes = new Map([P, C, D].map((d) => [d, hashDir(d)]));
    const unchanged = (d: string) => assert.deepEqual(hashDir(d), hashes.get(d), `${d} changed`);
    const OUT_D = join(W, 'out-delta');
    const INPLACE = join(W, 'inplace');
    const OUT_S = join(W, 'out-squash');
    cpSync(C, INPLACE, { recursive: true });
    const known = ['parent', 'child', 'delta', 'out-delta', 'inplace', 'out-squash'];
    const dests = ['out-delta', 'inplace', 'out-squash'];
    const modes = [
      { name: 'delta -o', args: ['delta', P, C, '-o', OUT_D], out: OUT_D },
      { name: 'delta --in-place', args: ['delta', P, INPLACE, '--in-place'], out: INPLACE },
      { name: 'squash', args: ['squash', D, '-o', OUT_S], out: OUT_S },
    ];
    const stats = { killed: 0, completed: 0, absent: 0 };
    // node's start-up is most of a run here: spread the kills mostly over what comes after it
    const s0 = performance.now();
    await cliProcess(['--version'], { built: true });
    const startup = performance.now() - s0;
    for (const mode of modes) {
      // how long a whole run takes, to spread the kills over it
      const t0 = performance.now();
      const full = await cliProcess(mode.args, { built: true });
      const T = performance.now() - t0;
      assert.equal(full.code, 0, `${mode.name}: ${full.stderr}`);
      await assertSameMemory(mode.out, C, 1024);
      const reset = () => {
        rmSync(mode.out, { recursive: true, force: true });
        if (mode.out === INPLACE) cpSync(C, INPLACE, { recursive: true });
      };
      reset();
      for (let i = 0; i < RUNS_PER_MODE; i++) {
        const from = i % 2 === 0 ? 0 : startup * 0.5; // half anywhere, half rather after start-up
        const killAfterMs = from + Math.random() * Math.max(T - from, 10);
        const r = await cliProcess(mode.args, { built: true, killAfterMs });
        if (r.signal === 'SIGKILL') stats.killed++;
        else assert.equal(r.code, 0, `${mode.name}: ${r.stderr}`);
        for (const d of [P, C, D]) unchanged(d);
        leftovers(known, dests);
        if (i === RUNS_PER_MODE - 1) await assertSameMemory(D, C, 1024); // P and D still read as before
        if (mode.out === INPLACE) {
          if (!existsSync(INPLACE)) {
            // killed between the two renames of the swap: the next run puts the original back
            await cleanStale(INPLACE);
          }
          const h = hashDir(INPLACE);
          if (JSON.stringify([...h]) === JSON.stringify([...hashes.get(C)!])) stats.absent++;
          else {
            assert.equal(realpathSync(join(INPLACE, 'parent')), realpathSync(P));
            await assertSameMemory(INPLACE, C, 1024);
            stats.completed++;
          }
          await assertSameMemory(INPLACE, C, 1024);
        } else if (existsSync(mode.out)) {
          await assertSameMemory(mode.out, C, 1024);
          stats.completed++;
        } else stats.absent++;
        reset();
      }
      // an uninterrupted run cleans up after the killed ones
      const last = await cliProcess(mode.args, { built: true });
      assert.equal(last.code, 0, `${mode.name}: ${last.stderr}`);
      await assertSameMemory(mode.out, C, 1024);
      assert.deepEqual(
        leftovers(known, dests).filter((n) => n.startsWith(`.${mode.out.split('/').pop()}.`)),
        [],
        `${mode.name}: leftovers not cleaned`,
      );
      reset();
    }
    assert.equal(stats.killed + stats.completed >= RUNS_PER_MODE * modes.length, true);
    assert.ok(stats.killed > 0, 'no run was killed');
    t.diagnostic(
      `${stats.killed} of ${RUNS_PER_MODE * modes.length} runs killed; outputs afterwards: ${stats.completed} complete, ${stats.absent} absent (or the original, in place)`,
    );
  });
});
