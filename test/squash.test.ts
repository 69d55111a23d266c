/**
 * `squash`: the real CRIU 4.2 stack in fixtures/criu-4.2/series-stack folded into one directory
 * (whole, and down to a kept layer), full dumps passing through unchanged, PE_PARENT over lazy
 * pages, errors.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { LayerWriter, PagemapEntries } from '../src/engine/layer-writer.js';
import { PE_LAZY, PE_PARENT } from '../src/image/pagemap.js';
import { DirLayerSource } from '../src/source/dir.js';
import { openStackDir } from '../src/source/open.js';
import { cli } from './helpers/cli.js';
import { sameFileBytes, testDir } from './helpers/files.js';
import { FIX } from './helpers/fixtures.js';
import { entriesOf } from './helpers/images.js';
import { assertSameMemory, squashDir } from './helpers/stacks.js';

const SERIES = join(FIX, 'series');
const STACK = join(FIX, 'series-stack');
const PM = 'pagemap-25238.img';

const tmp = testDir('squash');

function dir(name: string): string {
  return join(tmp, name);
}

/** page -> flags, over all entries of a pagemap file. */
function pageFlags(path: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const [v, n, f] of entriesOf(path)) for (let k = 0; k < n; k++) m.set(v + k, f);
  return m;
}

describe('squash of series-stack/3', () => {
  before(async () => {
    const r = await cli(['squash', join(STACK, '3'), '-o', dir('full')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /3 of 3 layers merged; 606 pages present \(474 from lower layers\).*no parent/);
  });

  test('reads identical to series/3 and has no parent', async () => {
    assert.ok(!existsSync(join(dir('full'), 'parent')));
    const s = await openStackDir(dir('full'));
    assert.equal(s.layers.length, 1);
    await s.close();
    await assertSameMemory(dir('full'), join(SERIES, '3'));
  });

  test('pagemap and pages equal series/3: every page with the same flags, the pages file byte for byte', () => {
    assert.deepEqual(pageFlags(join(dir('full'), PM)), pageFlags(join(SERIES, '3', PM)));
    assert.ok(sameFileBytes(join(dir('full'), 'pages-1.img'), join(SERIES, '3', 'pages-1.img')));
    // entries follow the top layer's entries, cut where the holding layer changes; never PE_PARENT
    for (const [, , f] of entriesOf(join(dir('full'), PM))) assert.ok(!(f & PE_PARENT));
  });

  test('other images are copied from the top layer unchanged', () => {
    const names = readdirSync(join(STACK, '3')).filter((f) => f !== 'parent');
    assert.deepEqual(readdirSync(dir('full')).sort(), names.sort());
    for (const f of names) {
      if (f === PM || f === 'pages-1.img') continue;
      assert.ok(sameFileBytes(join(dir('full'), f), join(STACK, '3', f)), f);
    }
  });
});

describe('squash --keep-below', () => {
  test('by index: layers 0 and 1 merged, based on layer 2 (series-stack/1)', async () => {
    const out = dir('keep2');
    const r = await cli(['squash', join(STACK, '3'), '-o', out, '--keep-below', '2']);
    assert.equal(r.code, 0, r.err);
    const link = readlinkSync(join(out, 'parent'));
    assert.ok(!link.startsWith('/'));
    const s = await openStackDir(out);
    assert.equal(s.layers.length, 2);
    await s.close();
    await assertSameMemory(out, join(SERIES, '3'));
    // exactly the pages that resolve into series-stack/1 stay PE_PARENT
    const st = await openStackDir(join(STACK, '3'));
    const x = (await st.resolve(PM)).extents;
    const inL1 = new Set<number>();
    for (let i = 0; i < x.count; i++)
      if (x.layer[i] === 2) for (let p = x.start[i]!; p < x.end[i]!; p++) inL1.add(p);
    await st.close();
    const parentPages = [...pageFlags(join(out, PM))].filter(([, f]) => f === PE_PARENT).map(([p]) => p);
    assert.deepEqual(parentPages.sort(), [...inL1].sort());
  });

  test('by directory: series-stack/2 kept, so the result is layer 3 itself', async () => {
    const out = dir('keep-dir');
    const r = await cli(['squash', join(STACK, '3'), '-o', out, '--keep-below', join(STACK, '2')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /1 of 3 layers merged/);
    assert.ok(sameFileBytes(join(out, PM), join(STACK, '3', PM)));
    assert.ok(sameFileBytes(join(out, 'pages-1.img'), join(STACK, '3', 'pages-1.img')));
    await assertSameMemory(out, join(SERIES, '3'));
  });

  test('a layer not in the stack, or out of range, is an error', async () => {
    const a = await cli(['squash', join(STACK, '3'), '-o', dir('k1'), '--keep-below', join(SERIES, '1')]);
    assert.equal(a.code, 1);
    assert.match(a.err, /^pagestack: --keep-below .*series\/1: not a layer of the stack/);
    const b = await cli(['squash', join(STACK, '3'), '-o', dir('k2'), '--keep-below', '3']);
    assert.equal(b.code, 1);
    assert.match(b.err, /has layers 0 \(top\) to 2; choose one from 1 to 2/);
    const c = await cli(['squash', join(STACK, '3'), '-o', dir('k3'), '--keep-below', '0']);
    assert.equal(c.code, 1);
    assert.ok(!existsSync(dir('k1')) && !existsSync(dir('k2')) && !existsSync(dir('k3')));
  });
});

describe('squash of full dumps and lazy pages', () => {
  test('a full dump passes through byte for byte (single, tree with shmem, lazy)', async () => {
    for (const name of ['single', 'tree', 'lazy', 'pageserver']) {
      const out = dir(`pass-${name}`);
      await squashDir({ top: join(FIX, name), out });
      for (const f of readdirSync(join(FIX, name))) {
        assert.ok(sameFileBytes(join(out, f), join(FIX, name, f)), `${name}/${f}`);
      }
      assert.deepEqual(readdirSync(out).sort(), readdirSync(join(FIX, name)).sort());
    }
  });

  test('PE_PARENT over lazy pages comes back lazy; over present pages, present with their flags', async () => {
    // layer B: lazy/'s pagemap with every entry PE_PARENT and no pages, on top of lazy/
    const base = dir('lazy-stack');
    cpSync(join(FIX, 'lazy'), join(base, 'A'), { recursive: true });
    const lazyPm = join(FIX, 'lazy', 'pagemap-25494.img');
    const entries = new PagemapEntries();
    entriesOf(lazyPm).forEach(([v, n], i) => {
      entries.push(i, v, n, PE_PARENT);
    });
    const w = await LayerWriter.begin(join(base, 'B'));
    await w.writePagemap('pagemap-25494.img', 1, entries);
    await (await w.createPages('pages-1.img')).close();
    await w.copyLayerFiles(
      await DirLayerSource.open(join(FIX, 'lazy')),
      readdirSync(join(FIX, 'lazy')).filter((f) => f !== 'pagemap-25494.img' && f !== 'pages-1.img'),
    );
    await w.commit();
    symlinkSync('../A', join(base, 'B', 'parent'));
    const out = dir('lazy-squashed');
    const r = await squashDir({ top: join(base, 'B'), out });
    assert.equal(r.lazyPages, 526);
    assert.deepEqual(entriesOf(join(out, 'pagemap-25494.img')), entriesOf(lazyPm));
    assert.ok(sameFileBytes(join(out, 'pages-1.img'), join(FIX, 'lazy', 'pages-1.img')));
    const kept = dir('lazy-kept');
    await squashDir({ top: join(base, 'B'), out: kept, keepBelow: 1 });
    for (const [, , f] of entriesOf(join(kept, 'pagemap-25494.img'))) assert.equal(f, PE_PARENT);
    assert.ok(entriesOf(lazyPm).some(([, , f]) => f === PE_LAZY));
    await assertSameMemory(kept, join(FIX, 'lazy'));
  });

  test('OUT exists: refused, nothing touched', async () => {
    const r = await cli(['squash', join(STACK, '3'), '-o', join(STACK, '2')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /already exists/);
    const u = await cli(['squash', join(STACK, '3')]);
    assert.equal(u.code, 2);
  });
});
