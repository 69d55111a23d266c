/**
 * `delta`: against the real CRIU 4.2 stack in fixtures/criu-4.2/series-stack (which CRIU restored
 * from), and on edge cases: shmem pagemaps, lazy pages on either side, a CHILD that is itself a
 * stack, tiny chunks, in place, errors.
 */
import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import { PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PRESENT } from '../src/image/pagemap.js';
import { openStackDir } from '../src/source/open.js';
import { cli } from './helpers/cli.js';
import { sameFileBytes, testDir } from './helpers/files.js';
import { copyStack, FIX, seriesChanges } from './helpers/fixtures.js';
import { entriesOf } from './helpers/images.js';
import { assertSameMemory, deltaDirs } from './helpers/stacks.js';

const SERIES = join(FIX, 'series');
const STACK = join(FIX, 'series-stack');
const PM = 'pagemap-25238.img';

const tmp = testDir('delta');

function dir(name: string): string {
  return join(tmp, name);
}

function pagesWith(path: string, pred: (flags: number) => boolean): Set<number> {
  const s = new Set<number>();
  for (const [v, n, f] of entriesOf(path)) if (pred(f)) for (let k = 0; k < n; k++) s.add(v + k);
  return s;
}

/** Pages dumped in both `a` and `b` (full dumps) minus the pages changes.json lists as changed. */
function unchangedPages(a: string, b: string, step: number): Set<number> {
  const changes = seriesChanges();
  const changed = new Set<number>();
  for (const [addr, n] of changes.steps[step]!.changed)
    for (let k = 0; k < n; k++) changed.add(addr / PAGE_SIZE + k);
  const inA = pagesWith(join(a, PM), () => true);
  const both = [...pagesWith(join(b, PM), () => true)].filter((p) => inA.has(p));
  assert.equal(both.length, changes.steps[step]!.pages_in_both);
  return new Set(both.filter((p) => !changed.has(p)));
}

/** Pages two full dumps both hold with equal bytes (read one page at a time: tests only). */
async function equalPages(a: string, b: string): Promise<Set<number>> {
  const sa = await openStackDir(a);
  const sb = await openStackDir(b);
  const out = new Set<number>();
  try {
    const ma = await sa.memory(PM);
    const mb = await sb.memory(PM);
    const inA = pagesWith(join(a, PM), () => true);
    for (const p of pagesWith(join(b, PM), () => true)) {
      if (!inA.has(p)) continue;
      const x = Buffer.from(await ma.read(p * PAGE_SIZE, PAGE_SIZE));
      if (x.equals(await mb.read(p * PAGE_SIZE, PAGE_SIZE))) out.add(p);
    }
  } finally {
    await sa.close();
    await sb.close();
  }
  return out;
}

describe('delta on the series fixtures', () => {
  before(async () => {
    const r2 = await cli(['delta', join(SERIES, '1'), join(SERIES, '2'), '-o', dir('2')]);
    assert.equal(r2.code, 0, r2.err);
    assert.match(r2.out, /68 pages kept, 538 shared with the parent/);
    const r3 = await cli(['delta', dir('2'), join(SERIES, '3'), '-o', dir('3')]);
    assert.equal(r3.code, 0, r3.err);
    assert.match(r3.out, /132 pages kept, 474 shared with the parent/);
  });

  test('pagemaps and pages files are byte-identical to the stack real CRIU restored from', () => {
    for (const l of ['2', '3']) {
      for (const f of [PM, 'pages-1.img']) {
        assert.ok(sameFileBytes(join(dir(l), f), join(STACK, l, f)), `${l}/${f} differs from series-stack`);
      }
    }
  });

  test('other images are copied unchanged; parent is a relative symlink to PARENT', () => {
    for (const l of ['2', '3']) {
      for (const f of readdirSync(join(SERIES, l))) {
        if (f === PM || f === 'pages-1.img') continue;
        assert.ok(sameFileBytes(join(dir(l), f), join(SERIES, l, f)), `${l}/${f}`);
      }
      assert.deepEqual(
        readdirSync(dir(l)).sort(),
        [...readdirSync(join(SERIES, l)), 'parent'].sort(),
        'no file more or less',
      );
      const link = readlinkSync(join(dir(l), 'parent'));
      assert.ok(!link.startsWith('/'), `relative link: ${link}`);
    }
    assert.equal(readlinkSync(join(dir('3'), 'parent')), '../2');
    assert.equal(realpathSync(join(dir('2'), 'parent')), realpathSync(join(SERIES, '1')));
  });

  test('reading the result gives exactly the memory of series/3 (and of series/2 one layer down)', async () => {
    await assertSameMemory(dir('3'), join(SERIES, '3'));
    await assertSameMemory(dir('2'), join(SERIES, '2'));
  });

  test('PE_PARENT pages are exactly the pages changes.json lists as unchanged', () => {
    const isParent = (f: number) => f === PE_PARENT;
    assert.deepEqual(
      [...pagesWith(join(dir('2'), PM), isParent)].sort(),
      [...unchangedPages(join(SERIES, '1'), join(SERIES, '2'), 0)].sort(),
    );
    assert.deepEqual(
      [...pagesWith(join(dir('3'), PM), isParent)].sort(),
      [...unchangedPages(join(SERIES, '2'), join(SERIES, '3'), 1)].sort(),
    );
  });

  test('memory the parent lacks (the new region N) stays present with its flags', () => {
    const n = entriesOf(join(dir('3'), PM)).find(([v]) => v === 0x300080000000 / PAGE_SIZE);
    assert.deepEqual(n, [0x300080000000 / PAGE_SIZE, 64, PE_LAZY | PE_PRESENT]);
  });

  test('tiny chunks (2 pages, 5 pages) give the same bytes as the default', async () => {
    for (const chunk of [2 * PAGE_SIZE, 5 * PAGE_SIZE]) {
      const out = dir(`chunk-${chunk}`);
      await deltaDirs({ parent: dir('2'), child: join(SERIES, '3'), out, chunkBytes: chunk });
      for (const f of [PM, 'pages-1.img']) assert.ok(sameFileBytes(join(out, f), join(STACK, '3', f)), f);
    }
  });

  test('a CHILD that is itself a stack is read through its own parents', async () => {
    // series-stack/3 on top of series-stack/1: layer 2 gets folded in
    const out = dir('3-on-1');
    const r = await deltaDirs({ parent: join(STACK, '1'), child: join(STACK, '3'), out });
    assert.equal(r.pagesKept + r.pagesShared, 606);
    await assertSameMemory(out, join(SERIES, '3'));
    const shared = pagesWith(join(out, PM), (f) => f === PE_PARENT);
    assert.deepEqual(
      [...shared].sort(),
      [...(await equalPages(join(SERIES, '1'), join(SERIES, '3')))].sort(),
    );
  });
});

describe('delta --in-place', () => {
  test('replaces CHILD with the incremental layer and leaves nothing else behind', async () => {
    const base = dir('inplace');
    cpSync(join(SERIES, '1'), join(base, '1'), { recursive: true });
    cpSync(join(SERIES, '2'), join(base, '2'), { recursive: true });
    const r = await cli(['delta', join(base, '1'), join(base, '2'), '--in-place']);
    assert.equal(r.code, 0, r.err);
    for (const f of [PM, 'pages-1.img']) assert.ok(sameFileBytes(join(base, '2', f), join(STACK, '2', f)), f);
    assert.equal(readlinkSync(join(base, '2', 'parent')), '../1');
    assert.deepEqual(readdirSync(base).sort(), ['1', '2']);
    await assertSameMemory(join(base, '2'), join(SERIES, '2'));
    // again: already a delta, the result is the same
    const again = await cli(['delta', join(base, '1'), join(base, '2'), '--in-place']);
    assert.equal(again.code, 0, again.err);
    for (const f of [PM, 'pages-1.img']) assert.ok(sameFileBytes(join(base, '2', f), join(STACK, '2', f)), f);
  });

  test('a replace killed between its two renames is undone by the next run', async () => {
    const base = dir('inplace-crash');
    cpSync(join(SERIES, '1'), join(base, '1'), { recursive: true });
    cpSync(join(SERIES, '2'), join(base, '.2.pagestack-old-999999999-abcd'), { recursive: true });
    cpSync(join(SERIES, '3'), join(base, '.2.pagestack-tmp-999999999-abcd'), { recursive: true });
    const r = await cli(['delta', join(base, '1'), join(base, '2'), '--in-place']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(readdirSync(base).sort(), ['1', '2']);
    await assertSameMemory(join(base, '2'), join(SERIES, '2'));
  });
});

describe('delta: shmem pagemaps, lazy pages', () => {
  test('tree: every pagemap (processes and shmem) is handled; a changed shmem page is kept', async () => {
    const child = dir('tree-child');
    cpSync(join(FIX, 'tree'), child, { recursive: true });
    // flip one byte in page 5 of the shared object (pages-1.img belongs to pagemap-shmem-250.img)
    const pages = join(child, 'pages-1.img');
    const b = readFileSync(pages);
    b[5 * PAGE_SIZE + 17]! ^= 0xff;
    writeFileSync(pages, b);
    const out = dir('tree-out');
    const r = await deltaDirs({ parent: join(FIX, 'tree'), child, out });
    assert.equal(r.pagemaps, 4);
    assert.equal(r.pagesKept, 1);
    assert.equal(r.pagesShared, 64 + 28 + 156 + 158 - 1);
    assert.deepEqual(entriesOf(join(out, 'pagemap-shmem-250.img')), [
      [0, 5, PE_PARENT],
      [5, 1, PE_PRESENT],
      [6, 58, PE_PARENT],
    ]);
    for (const p of ['2', '3', '4']) assert.equal(lstatSync(join(out, `pages-${p}.img`)).size, 0);
    await assertSameMemory(out, child);
  });

  test('a page lazy in the parent never becomes PE_PARENT; lazy child entries stay as they are', async () => {
    // PARENT = lazy/ (pattern pages PE_LAZY only); CHILD = single/'s memory under lazy/'s pid
    const child = dir('single-as-25494');
    cpSync(join(FIX, 'lazy'), child, { recursive: true });
    cpSync(join(FIX, 'single', 'pagemap-24588.img'), join(child, 'pagemap-25494.img'));
    cpSync(join(FIX, 'single', 'pages-1.img'), join(child, 'pages-1.img'));
    const out = dir('lazy-parent');
    await deltaDirs({ parent: join(FIX, 'lazy'), child, out });
    const lazyInParent = pagesWith(join(FIX, 'lazy', 'pagemap-25494.img'), (f) => f === PE_LAZY);
    const shared = pagesWith(join(out, 'pagemap-25494.img'), (f) => f === PE_PARENT);
    assert.ok(lazyInParent.size >= 512);
    for (const p of lazyInParent) assert.ok(!shared.has(p), `page ${p} is lazy in the parent`);
    await assertSameMemory(out, child);

    // the other way round: CHILD's lazy entries are copied as they are
    const out2 = dir('lazy-child');
    const r = await deltaDirs({ parent: child, child: join(FIX, 'lazy'), out: out2 });
    assert.equal(r.pagesLazy, lazyInParent.size);
    const lazyEntries = entriesOf(join(out2, 'pagemap-25494.img')).filter(([, , f]) => f === PE_LAZY);
    const orig = entriesOf(join(FIX, 'lazy', 'pagemap-25494.img')).filter(([, , f]) => f === PE_LAZY);
    assert.deepEqual(lazyEntries, orig);
    await assertSameMemory(out2, join(FIX, 'lazy'));
  });

  test('a pagemap the parent does not have is kept whole (with force: no process in common)', async () => {
    const out = dir('other-process');
    const r = await deltaDirs({ parent: join(FIX, 'single'), child: join(SERIES, '1'), out, force: true });
    assert.equal(r.pagesShared, 0);
    assert.equal(r.pagesKept, 606);
    assert.ok(sameFileBytes(join(out, PM), join(SERIES, '1', PM)));
    assert.ok(sameFileBytes(join(out, 'pages-1.img'), join(SERIES, '1', 'pages-1.img')));
  });
});

describe('delta errors (one line, originals untouched)', () => {
  test('usage: neither or both of -o and --in-place', async () => {
    const r = await cli(['delta', join(SERIES, '1'), join(SERIES, '2')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^pagestack: delta: give exactly one of -o OUT or --in-place\n$/);
    const r2 = await cli(['delta', join(SERIES, '1'), join(SERIES, '2'), '-o', dir('x'), '--in-place']);
    assert.equal(r2.code, 2);
  });

  test('OUT exists', async () => {
    const r = await cli(['delta', join(SERIES, '1'), join(SERIES, '2'), '-o', join(SERIES, '3')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^pagestack: .*series\/3: already exists; choose a new output directory/);
    assert.equal(r.err.split('\n').length, 2);
  });

  test('the directory OUT would go in does not exist', async () => {
    const r = await cli(['delta', join(SERIES, '1'), join(SERIES, '2'), '-o', join(dir('none'), 'out')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /none\/out: cannot create it: .*none does not exist\n$/);
  });

  test('a missing PARENT, and a CHILD in its own parent stack', async () => {
    const r = await cli(['delta', dir('nope'), join(SERIES, '2'), '-o', dir('y')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /nope: no such file or directory/);
    assert.ok(!existsSync(dir('y')));
    const base = dir('cycle');
    copyStack(base, ['1', '2']);
    const c = await cli(['delta', join(base, '2'), join(base, '1'), '--in-place']);
    assert.equal(c.code, 1);
    assert.match(c.err, /its stack contains .*1; a layer cannot be its own ancestor/);
    assert.ok(sameFileBytes(join(base, '1', PM), join(STACK, '1', PM)));
    assert.deepEqual(readdirSync(base).sort(), ['1', '2']);
  });

  test('a broken PARENT stack fails before anything is written', async () => {
    const base = dir('broken');
    copyStack(base, ['2']);
    const r = await cli(['delta', join(base, '2'), join(SERIES, '3'), '-o', join(base, 'out')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /parent link points to .*which does not exist/);
    assert.deepEqual(readdirSync(base), ['2']);
    assert.ok(resolve(base));
  });
});
