/**
 * Live CRIU, the `tree` program: three processes (a parent and two children) sharing one
 * MAP_SHARED|MAP_ANONYMOUS region, each child with a private region, the second child with a second
 * thread. Dumped twice by real CRIU in this run (`--leave-running`), the second dump turned into a
 * layer on the first by `pagestack delta`; both dumps and the stack verify, read back, export cores
 * gdb reads (both threads of child 2), and CRIU restores the stack: each of the three restored
 * processes checks the shared and its private memory and must report `bad_words 0`.
 *
 * Memory of tree (test/fixtures/criu-4.2/prog/tree.c), pattern u64le(A ^ SEED):
 *   shared 0x200000000000, 64 pages, seed 0xB0..., in all three (CRIU dumps it as a memfd object)
 *   child1 0x200040000000, 128 pages, seed 0xB1...; child2 0x200080000000, 128 pages, seed 0xB2...
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, type TestContext, test } from 'node:test';
import { PE_PARENT } from '../src/image/pagemap.js';
import { cli } from './helpers/cli.js';
import { entriesOf } from './helpers/images.js';
import {
  assertGdbReads,
  assertReadsBack,
  assertVerifies,
  LiveSession,
  type PatternRun,
  requireLive,
  SKIP_LIVE,
} from './helpers/live-criu.js';

const SHARED: PatternRun = { addr: 0x200000000000, pages: 64, seed: 0xb000000000000000n };
const WHO = ['parent', 'child1', 'child2'] as const;
const RUNS: Record<(typeof WHO)[number], PatternRun[]> = {
  parent: [SHARED],
  child1: [SHARED, { addr: 0x200040000000, pages: 128, seed: 0xb100000000000000n }],
  child2: [SHARED, { addr: 0x200080000000, pages: 128, seed: 0xb200000000000000n }],
};
/** Each process's private region is absent from the others. */
const ABSENT: Record<(typeof WHO)[number], number[]> = {
  parent: [0x200040000000, 0x200080000000],
  child1: [0x200080000000],
  child2: [0x200040000000],
};

const live = new LiveSession('tree');
const root = live.dir;
const DUMP = [join(root, 'dumps', '1'), join(root, 'dumps', '2')];
const pids = new Map<(typeof WHO)[number], number>();
let markers = '';
let exe = '';

async function assertGood(dir: string): Promise<void> {
  await assertVerifies(dir);
  for (const who of WHO) {
    const pid = pids.get(who)!;
    await assertReadsBack(dir, pid, RUNS[who]);
    await assertGdbReads(dir, join(root, 'core.elf'), pid, {
      exe,
      runs: RUNS[who],
      absent: ABSENT[who],
      threads: who === 'child2' ? 2 : 1,
    });
  }
}

/** Restores `dir`; each restored process must verify its memory with `bad_words 0`. */
async function restoreAndVerify(t: TestContext, dir: string): Promise<void> {
  const r = await live.restore(dir);
  try {
    assert.ok(r.ok, `criu restore -D ${dir} failed (exit ${r.code}): ${r.output}\n${r.log}`);
    for (const who of WHO) {
      const pid = pids.get(who)!;
      const host = r.pids.get(pid);
      assert.ok(host, `restored ${dir}, but no pid ${pid} (${who}) in its namespace`);
      const v = await live.verifyProcess(host, markers, `tree.${who}.verified`);
      t.diagnostic(`${dir.slice(root.length + 1)}: restored ${who} says "${v.line}"`);
      assert.equal(v.line, `pid ${pid} bad_words 0`);
    }
    // child 2's second thread came back too
    const c2 = r.pids.get(pids.get('child2')!)!;
    assert.equal(readdirSync(`/proc/${c2}/task`).length, 2, 'threads of child2');
  } finally {
    await r.kill();
  }
}

describe('live CRIU: tree (3 processes, shared memory, 2 threads) through delta', { skip: SKIP_LIVE }, () => {
  before(async () => {
    requireLive();
    const ready = WHO.map((w) => `tree.${w}.ready`);
    const s = await live.start('tree', ready);
    markers = s.markers;
    exe = join(live.bin, 'tree');
    WHO.forEach((w, i) => {
      pids.set(w, s.pids.get(ready[i]!)!);
    });
    await live.dump(pids.get('parent')!, DUMP[0]!);
    await live.dump(pids.get('parent')!, DUMP[1]!);
    live.stop(...WHO.map((w) => pids.get(w)!));
  });

  test('both live dumps verify, read back and satisfy gdb', async () => {
    for (const d of DUMP) await assertGood(d);
  });

  test('delta 1 -> 2 verifies, reads back, satisfies gdb and restores', async (t) => {
    const top = join(root, 'stack', '2');
    mkdirSync(join(root, 'stack'));
    const r = await cli(['delta', DUMP[0]!, DUMP[1]!, '-o', top]);
    assert.equal(r.code, 0, r.err);
    assert.equal(readlinkSync(join(top, 'parent')), '../../dumps/1');
    // nothing patterned changed between the dumps: all of it comes from the parent, shared region too
    const pms = readdirSync(top).filter((f) => f.startsWith('pagemap-'));
    assert.equal(pms.length, 4, pms.join(' '));
    for (const pm of pms) {
      const fromParent = entriesOf(join(top, pm))
        .filter(([, , f]) => f & PE_PARENT)
        .reduce((a, [, n]) => a + n, 0);
      t.diagnostic(`${pm}: ${fromParent} pages PE_PARENT`);
      if (pm.startsWith('pagemap-shmem-')) assert.equal(fromParent, SHARED.pages, pm);
      else assert.ok(fromParent > 0, pm);
    }
    await assertGood(top);
    await restoreAndVerify(t, top);
  });

  test('squash of that stack (shared memory pulled up from the parent) restores', async (t) => {
    const flat = join(root, 'flat');
    const r = await cli(['squash', join(root, 'stack', '2'), '-o', flat]);
    assert.equal(r.code, 0, r.err);
    for (const pm of readdirSync(flat).filter((f) => f.startsWith('pagemap-'))) {
      assert.equal(entriesOf(join(flat, pm)).filter(([, , f]) => f & PE_PARENT).length, 0, pm);
    }
    await assertGood(flat);
    await restoreAndVerify(t, flat);
  });
});
