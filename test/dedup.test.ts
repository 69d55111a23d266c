/**
 * `pagestack dedup`: on a copy of series-stack, reads through the top stay the same, ancestors
 * take less room, sizes and every other file stay byte-identical, released ranges read as zeros,
 * a second run frees nothing; interrupted runs (a failing step, SIGKILL of the CLI) leave a stack
 * that reads the same; generated stacks against a model of what must be released.
 */
import assert from 'node:assert/strict';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { rng } from '../bench/gen.js';
import { encodeImage } from '../src/image/image.js';
import { PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PRESENT } from '../src/image/pagemap.js';
import { dedupStack, planDedup } from '../src/ops/dedup.js';
import { openStackDir } from '../src/source/open.js';
import { LAZY } from '../src/stack/resolve.js';
import { cli, cliProcess } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { copyStack, FIX } from './helpers/fixtures.js';

const tmp = testDir('dedup');

/** Every dumped (non-lazy) page of every pagemap of the top, read through the stack. */
async function readThroughTop(top: string): Promise<Map<string, Buffer>> {
  const stack = await openStackDir(top);
  const out = new Map<string, Buffer>();
  try {
    for (const file of stack.top.files.filter((f) => /^pagemap-.*\.img$/.test(f))) {
      const mem = await stack.memory(file);
      const x = mem.extents;
      for (let i = 0; i < x.count; i++) {
        if (x.layer[i] === LAZY) continue;
        const addr = x.start[i]! * PAGE_SIZE;
        const len = (x.end[i]! - x.start[i]!) * PAGE_SIZE;
        out.set(`${file}@${addr.toString(16)}`, Buffer.from(await mem.read(addr, len)));
      }
    }
  } finally {
    await stack.close();
  }
  return out;
}

function assertSameReads(a: Map<string, Buffer>, b: Map<string, Buffer>, msg = ''): void {
  assert.deepEqual([...b.keys()], [...a.keys()], msg);
  for (const [k, v] of a) assert.ok(v.equals(b.get(k)!), `${msg} ${k} differs`);
}

function blocks(path: string): number {
  return statSync(path).blocks * 512;
}

/** name -> bytes of every regular file of each layer dir. */
function snapshotFiles(dirs: readonly string[]): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const d of dirs) {
    for (const f of readdirSync(d)) {
      if (f === '.pagestack-dedup') continue; // dedup's own marker (which child it was done under)
      if (lstatSync(join(d, f)).isFile()) m.set(join(d, f), readFileSync(join(d, f)));
    }
  }
  return m;
}

function isZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

describe('dedup of series-stack', () => {
  test('reads through the top unchanged, ancestors smaller, sizes and pagemaps identical', async () => {
    const top = copyStack(join(tmp, 'basic'));
    const root = join(top, '..');
    const dirs = ['3', '2', '1'].map((l) => join(root, l));
    const before = await readThroughTop(top);
    const filesBefore = snapshotFiles(dirs);
    const blocksBefore = dirs.map((d) => blocks(join(d, 'pages-1.img')));

    const stack = await openStackDir(top);
    const plan = await planDedup(stack);
    assert.deepEqual(
      plan.files.map((f) => [f.layer, f.pagesFile, f.releasedBytes / PAGE_SIZE]),
      [
        [1, 'pages-1.img', 35], // 2: R pages 32-63 and three small pages rewritten by 3
        [2, 'pages-1.img', 101], // 1: R pages 0-95 and five small pages rewritten by 2 or 3
      ],
    );
    const result = await dedupStack(stack);
    await stack.close();
    assert.equal(result.releasedBytes, 136 * PAGE_SIZE);
    assert.ok(result.freedBytes > 120 * PAGE_SIZE, `freed ${result.freedBytes}`);
    assert.equal(result.layers.length, 2);
    for (const l of result.layers) assert.ok(l.allocatedAfter < l.allocatedBefore);

    // reads through the top: every dumped page, the same bytes
    assertSameReads(before, await readThroughTop(top));
    // ancestors take less room; the top is untouched
    const blocksAfter = dirs.map((d) => blocks(join(d, 'pages-1.img')));
    assert.equal(blocksAfter[0], blocksBefore[0]);
    assert.ok(blocksAfter[1]! < blocksBefore[1]!);
    assert.ok(blocksAfter[2]! < blocksBefore[2]!);
    assert.ok(blocksBefore[2]! - blocksAfter[2]! >= 100 * PAGE_SIZE);
    // every file keeps its size; everything but the ancestors' pages files is byte-identical;
    // those read as zeros exactly in the released ranges and as before elsewhere
    const filesAfter = snapshotFiles(dirs);
    assert.deepEqual([...filesAfter.keys()].sort(), [...filesBefore.keys()].sort());
    for (const [path, old] of filesBefore) {
      const now = filesAfter.get(path)!;
      assert.equal(now.length, old.length, path);
      const f = plan.files.find((p) => join(p.dir, p.pagesFile) === path);
      if (!f) {
        assert.ok(now.equals(old), `${path} changed`);
        continue;
      }
      let pos = 0;
      for (const [s, e] of f.released) {
        assert.ok(now.subarray(pos, s).equals(old.subarray(pos, s)), `${path} kept bytes ${pos}-${s}`);
        assert.ok(isZero(now.subarray(s, e)), `${path} released ${s}-${e} not zero`);
        assert.ok(!isZero(old.subarray(s, e)));
        pos = e;
      }
      assert.ok(now.subarray(pos).equals(old.subarray(pos)));
    }
    // no temporary files left
    for (const d of dirs)
      assert.deepEqual(
        readdirSync(d).filter((f) => f.includes('pagestack') && f !== '.pagestack-dedup'),
        [],
      );

    // idempotent: a second run frees nothing and rewrites nothing
    const again = await openStackDir(top);
    const r2 = await dedupStack(again);
    await again.close();
    assert.equal(r2.freedBytes, 0);
    for (const l of r2.layers) for (const f of l.files) assert.ok(f.alreadyDone && !f.rewritten);
    assert.deepEqual(
      dirs.map((d) => blocks(join(d, 'pages-1.img'))),
      blocksAfter,
    );
    assertSameReads(before, await readThroughTop(top));

    // dedup from the middle layer is a no-op too now (what 2 rewrote in 1 is already released)
    const mid = await openStackDir(dirs[1]!);
    const r3 = await dedupStack(mid);
    await mid.close();
    assert.equal(r3.freedBytes, 0);
  });

  test('CLI: dry run changes nothing, then a run prints per-layer and total freed bytes', async () => {
    const top = copyStack(join(tmp, 'cli'));
    const root = join(top, '..');
    const files = snapshotFiles(['1', '2', '3'].map((l) => join(root, l)));
    let r = await cli(['dedup', top, '--dry-run']);
    assert.equal(r.code, 0);
    assert.match(r.out, /would release 35 pages/);
    assert.match(r.out, /would release 101 pages/);
    assert.match(r.out, /dry run: nothing changed/);
    for (const [p, b] of files) assert.ok(readFileSync(p).equals(b), p);
    r = await cli(['dedup', top]);
    assert.equal(r.code, 0);
    assert.match(r.out, /2\/pages-1\.img: released 35 pages/);
    assert.match(r.out, /1\/pages-1\.img: released 101 pages/);
    assert.match(r.out, /total +[\d,]+ bytes \(/);
    // layers numbered from the bottom: the top is 3, so its parents are 2 and 1
    assert.match(r.out, /\nlayers \(1 = the first dump \(bottom\), 3 = the top\):\n/);
    assert.match(r.out, /\n +2 +\S*\/2 +[\d,]+ +[\d,]+ +[\d,]+ bytes/);
    assert.match(r.out, /\n +1 +\S*\/1 +[\d,]+ +[\d,]+ +[\d,]+ bytes/);
    // one released count (pages), and the disk's count explained when it differs
    assert.match(
      r.out,
      /\nreleased 136 pages \(544 KiB\)(, the same freed on disk|; freed on disk [\d,]+ bytes .*: the disk counts allocated blocks)/,
    );
    assert.match(r.out, /valid only under their children/);
    r = await cli(['dedup', top]);
    assert.equal(r.code, 0);
    assert.match(r.out, /already deduplicated/);
    assert.match(r.out, /total +0 bytes/);
    r = await cli(['dedup', join(root, '1')]);
    assert.equal(r.code, 0);
    assert.match(r.out, /no parent layer: nothing to deduplicate/);
    r = await cli(['dedup', join(root, 'nope')]);
    assert.equal(r.code, 1);
    assert.equal(r.out, '');
    assert.match(r.err, /^pagestack: .*nope: no such file or directory\n$/);
  });
});

describe('branches', () => {
  test('refuses when another directory is also a child of an ancestor, unless forced', async () => {
    const top = copyStack(join(tmp, 'branch'));
    const root = join(top, '..');
    mkdirSync(join(root, '3b'));
    for (const f of readdirSync(top)) {
      if (f !== 'parent') writeFileSync(join(root, '3b', f), readFileSync(join(top, f)));
    }
    symlinkSync('../2', join(root, '3b', 'parent'));
    const files = snapshotFiles(['1', '2'].map((l) => join(root, l)));
    const s = await openStackDir(top);
    await assert.rejects(dedupStack(s), /3b: is also a child of .*\/2 \(a branch beside this stack\)/);
    const dry = await dedupStack(s, { dryRun: true });
    assert.equal(dry.branches.length, 1);
    for (const [p, b] of files) assert.ok(readFileSync(p).equals(b), p);
    const forced = await dedupStack(s, { force: true });
    await s.close();
    assert.ok(forced.freedBytes > 0);
  });
});

describe('interrupted dedup', () => {
  test('a failure at each step leaves a stack that reads the same; the next run completes', async () => {
    for (const step of ['temp-written', 'renamed'] as const) {
      for (const nth of [0, 1]) {
        const top = copyStack(join(tmp, `fail-${step}-${nth}`));
        const before = await readThroughTop(top);
        const stack = await openStackDir(top);
        let seen = 0;
        await assert.rejects(
          dedupStack(stack, {
            hook: (s) => {
              if (s === step && seen++ === nth) throw new Error('simulated crash');
            },
          }),
          /simulated crash/,
        );
        await stack.close();
        assertSameReads(before, await readThroughTop(top), `${step} #${nth}`);
        const s2 = await openStackDir(top);
        const r = await dedupStack(s2);
        await s2.close();
        assertSameReads(before, await readThroughTop(top), `${step} #${nth} after`);
        const done = r.layers.flatMap((l) => l.files).filter((f) => f.alreadyDone).length;
        // files finished before the crash are found done
        assert.equal(done, step === 'renamed' ? nth + 1 : nth, `${step} #${nth}`);
        const root = join(top, '..');
        for (const l of ['1', '2', '3']) {
          assert.deepEqual(
            readdirSync(join(root, l)).filter((f) => f.includes('pagestack') && f !== '.pagestack-dedup'),
            [],
          );
        }
      }
    }
  });

  test('SIGKILL of the CLI mid-run, several times: the stack reads the same through the top', async () => {
    const top = copyStack(join(tmp, 'kill'));
    const root = join(top, '..');
    const before = await readThroughTop(top);
    /** Runs the CLI; kills it `delay` ms after its first line of output (null: let it finish). */
    const run = (delay: number | null) => cliProcess(['dedup', top], { killAfterOutputMs: delay });
    // The first line comes after the first ancestor's file is renamed into place, so the first
    // kill lands between the two files, the later ones while the second is being rewritten.
    let killed = 0;
    for (const delay of [0, 1, 3]) {
      const r = await run(delay);
      if (r.signal === 'SIGKILL') killed++;
      assertSameReads(before, await readThroughTop(top), `after kill at +${delay} ms`);
      // each ancestor pages file is whole: either the original or the deduplicated one
      for (const l of ['1', '2']) {
        const b = readFileSync(join(root, l, 'pages-1.img'));
        assert.equal(b.length, statSync(join(FIX, 'series-stack', l, 'pages-1.img')).size);
      }
    }
    assert.ok(killed >= 1, 'no run was killed');
    // a run to the end cleans up and finishes the job
    const last = await run(null);
    assert.equal(last.code, 0);
    assertSameReads(before, await readThroughTop(top));
    for (const l of ['1', '2', '3']) {
      assert.deepEqual(
        readdirSync(join(root, l)).filter((f) => f.includes('pagestack') && f !== '.pagestack-dedup'),
        [],
      );
    }
    assert.ok(blocks(join(root, '1', 'pages-1.img')) < statSync(join(root, '1', 'pages-1.img')).size);
  });
});

// ---------------------------------------------------------------------------------------------
// Generated stacks on disk against a model: released = PRESENT pages of an ancestor at addresses
// where a layer above has a PRESENT or LAZY entry.

describe('generated stacks against a model', () => {
  test('30 random stacks: top reads unchanged, exactly the shadowed pages released', async () => {
    const rand = rng(0xdedb);
    const BASE = 0x5000000;
    for (let c = 0; c < 30; c++) {
      const root = join(tmp, `gen-${c}`);
      const depth = 2 + Math.floor(rand() * 3);
      const pages = 1 + Math.floor(rand() * 40);
      const files = ['pagemap-7.img', 'pagemap-shmem-9.img'].filter((_, i) => i === 0 || rand() < 0.5);
      // kinds[layer][file][page]: 0 none, 1 present, 2 lazy, 3 parent (layer 0 = bottom here)
      const kinds: number[][][] = [];
      for (let k = 0; k < depth; k++) {
        const dir = join(root, String(k));
        mkdirSync(dir, { recursive: true });
        if (k > 0) symlinkSync(`../${k - 1}`, join(dir, 'parent'));
        writeFileSync(
          join(dir, 'pstree.img'),
          encodeImage({
            magic: 'PSTREE',
            framing: 'common',
            entries: [{ pid: 7, ppid: 0, pgid: 7, sid: 7 }],
          }),
        );
        const perFile: number[][] = [];
        files.forEach((file, fi) => {
          const ks: number[] = [];
          for (let p = 0; p < pages; p++) {
            const r = rand();
            let kind = r < 0.2 ? 0 : r < 0.7 ? 1 : r < 0.78 ? 2 : 3;
            if (kind === 3) {
              // only where the layer below resolves the page
              let ok = false;
              for (let j = k - 1; j >= 0; j--) {
                const kb = kinds[j]![fi]![p]!;
                if (kb === 0) break;
                if (kb !== 3) {
                  ok = true;
                  break;
                }
              }
              if (!ok) kind = 1;
            }
            ks.push(kind);
          }
          perFile.push(ks);
          const pagesId = fi + 1;
          const entries: Record<string, unknown>[] = [{ pages_id: pagesId }];
          const data: number[] = [];
          for (let p = 0; p < pages; ) {
            let q = p + 1;
            while (q < pages && ks[q] === ks[p] && rand() < 0.6) q++;
            if (ks[p] !== 0) {
              const flags = ks[p] === 1 ? PE_PRESENT | PE_LAZY : ks[p] === 2 ? PE_LAZY : PE_PARENT;
              entries.push({
                vaddr: BigInt(BASE + p) * 4096n,
                compat_nr_pages: 0,
                flags,
                nr_pages: BigInt(q - p),
              });
              if (ks[p] === 1) for (let x = p; x < q; x++) data.push(x);
            }
            p = q;
          }
          writeFileSync(
            join(dir, file),
            encodeImage({ magic: 'PAGEMAP', framing: 'common', entries: entries as never }),
          );
          const buf = Buffer.alloc(data.length * PAGE_SIZE);
          data.forEach((page, i) => {
            // nonzero, distinct per layer, file and page
            buf.fill(1 + ((k * 31 + fi * 7 + page) % 250), i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
          });
          writeFileSync(join(dir, `pages-${pagesId}.img`), buf);
        });
        kinds.push(perFile);
      }
      const top = join(root, String(depth - 1));
      const before = await readThroughTop(top);
      const old = snapshotFiles(kinds.map((_, k) => join(root, String(k))));
      const s = await openStackDir(top);
      await dedupStack(s, { chunkSize: PAGE_SIZE * (1 + Math.floor(rand() * 3)) });
      await s.close();
      assertSameReads(before, await readThroughTop(top), `case ${c}`);
      // the model, layer by layer: which present pages must now be zeros
      for (let k = 0; k < depth - 1; k++) {
        files.forEach((file, fi) => {
          const path = join(root, String(k), `pages-${fi + 1}.img`);
          const now = readFileSync(path);
          const was = old.get(path)!;
          assert.equal(now.length, was.length);
          let slot = 0;
          for (let p = 0; p < pages; p++) {
            if (kinds[k]![fi]![p] !== 1) continue;
            let shadowed = false;
            for (let j = k + 1; j < depth; j++) {
              const kj = kinds[j]![fi]![p]!;
              if (kj === 1 || kj === 2) shadowed = true;
            }
            const got = now.subarray(slot * PAGE_SIZE, (slot + 1) * PAGE_SIZE);
            if (shadowed) assert.ok(isZero(got), `case ${c} layer ${k} ${file} page ${p} not released`);
            else
              assert.ok(
                got.equals(was.subarray(slot * PAGE_SIZE, (slot + 1) * PAGE_SIZE)),
                `case ${c} layer ${k} ${file} page ${p} lost`,
              );
            slot++;
          }
        });
      }
      // the top layer is untouched
      for (const [path, b] of old) {
        if (path.startsWith(join(top, '/')) || !/pages-\d+\.img$/.test(path)) {
          assert.ok(readFileSync(path).equals(b), `case ${c}: ${path} changed`);
        }
      }
      rmSync(root, { recursive: true, force: true });
    }
  });
});
