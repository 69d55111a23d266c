/**
 * The store layout over an in-memory object store (the edge cases; test/store-swift.test.ts runs
 * the same round trips against real Swift): push of the CRIU 4.2 fixture stacks and dumps, read in
 * place, pulled back byte-identical, idempotent pushes, increments from plain dumps, dedup,
 * corruption, concurrent pushes, a push killed half way.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { StoreError } from '../src/errors.js';
import { PAGE_SIZE } from '../src/image/pagemap.js';
import { gc } from '../src/ops/gc.js';
import { listLayers, listStacks } from '../src/ops/ls.js';
import { pull } from '../src/ops/pull.js';
import { push } from '../src/ops/push.js';
import { removeStack } from '../src/ops/rm.js';
import { openSource, openStackDir } from '../src/source/open.js';
import { ObjectStoreBlobs } from '../src/source/store/blobs.js';
import { openFlatLayer, openStoreLayer, StoreContext } from '../src/source/store/source.js';
import { openStack } from '../src/stack/stack.js';
import { getSideObject, markInFlight, putSideObject, readChain, sideKey } from '../src/store/refs.js';
import { hashDir, testDir } from './helpers/files.js';
import { FIX } from './helpers/fixtures.js';
import { assertSameMemory } from './helpers/stacks.js';
import { MemObjectStore } from './helpers/store-mem.js';

const STACK = join(FIX, 'series-stack');
const SERIES = join(FIX, 'series');
const tmp = testDir('store');
const URL = 's3://bucket/prefix';

function fresh(): { objects: MemObjectStore; blobs: ObjectStoreBlobs } {
  const objects = new MemObjectStore(URL);
  return { objects, blobs: new ObjectStoreBlobs(objects) };
}

async function pushPath(blobs: ObjectStoreBlobs, path: string, name: string) {
  const source = await openSource(path);
  try {
    return await push({ store: blobs, stackUrl: `${URL}/${name}`, name, source, settleMs: 5 });
  } finally {
    await source.close?.();
  }
}

/** Every file of two stack directories (layers 1..n) equal, byte for byte, links by text. */
function assertSameStackDir(a: string, b: string, layers: number): void {
  for (let k = 1; k <= layers; k++) {
    assert.deepEqual(hashDir(join(a, String(k))), hashDir(join(b, String(k))), `layer ${k}`);
  }
}

describe('store: layers round trip', () => {
  test('series-stack pushed, read in place and pulled byte-identical', async () => {
    const { blobs } = fresh();
    const r = await pushPath(blobs, join(STACK, '3'), 'series');
    assert.equal(r.mode, 'layers');
    assert.deepEqual(
      r.layers.map((l) => [l.seq, l.status]),
      [
        [1, 'new'],
        [2, 'new'],
        [3, 'new'],
      ],
    );
    assert.equal(r.total, 3);
    // in place: the layered view is the same stack
    const ctx = new StoreContext(blobs, `${URL}/series`);
    const top = await openStoreLayer(ctx, 'series');
    const stack = await openStack(top);
    assert.equal(stack.layers.length, 3);
    const local = await openStackDir(join(STACK, '3'));
    const pm = 'pagemap-25238.img';
    const a = await stack.memory(pm);
    const b = await local.memory(pm);
    assert.deepEqual([...a.extents.start], [...b.extents.start]);
    for (let i = 0; i < b.extents.count; i++) {
      const s = b.extents.start[i]! * PAGE_SIZE;
      const n = (b.extents.end[i]! - b.extents.start[i]!) * PAGE_SIZE;
      assert.ok(Buffer.from(await a.read(s, n)).equals(Buffer.from(await b.read(s, n))), `extent ${i}`);
    }
    await stack.close();
    await local.close();
    // pulled: every file equal
    const out = join(tmp, 'pulled');
    const p = await pull({ ctx: new StoreContext(blobs, `${URL}/series`), name: 'series', dest: out });
    assert.equal(p.layers, 3);
    assertSameStackDir(STACK, out, 3);
    // @2: two layers
    const out2 = join(tmp, 'pulled2');
    await pull({ ctx, name: 'series', at: 2, dest: out2 });
    assertSameStackDir(STACK, out2, 2);
    // flat: one layer, the same memory
    const flat = join(tmp, 'flat');
    await pull({ ctx, name: 'series', dest: flat, flat: true });
    await assertSameMemory(flat, join(STACK, '3'));
  });

  test('pushing again is idempotent and uploads only manifests it already has (nothing)', async () => {
    const { blobs, objects } = fresh();
    await pushPath(blobs, join(STACK, '3'), 's');
    const puts = objects.stored;
    const r = await pushPath(blobs, join(STACK, '3'), 's');
    assert.deepEqual(
      r.layers.map((l) => l.status),
      ['stored', 'stored', 'stored'],
    );
    assert.equal(r.uploadedBytes, 0);
    assert.equal(objects.stored, puts);
    // a lower part of the same stack: stored too
    const r2 = await pushPath(blobs, join(STACK, '2'), 's');
    assert.deepEqual(
      r2.layers.map((l) => l.status),
      ['stored', 'stored'],
    );
    assert.equal(r2.total, 3);
  });

  test('a plain dump pushed on a stack becomes an increment (page hashes only), and again is a no-op', async () => {
    const { blobs } = fresh();
    const r1 = await pushPath(blobs, join(SERIES, '1'), 'inc');
    assert.equal(r1.mode, 'layers');
    const r2 = await pushPath(blobs, join(SERIES, '2'), 'inc');
    assert.equal(r2.mode, 'increment');
    assert.equal(r2.total, 2);
    assert.ok(r2.pagesShared > 0, 'pages shared with the layer below');
    assert.ok(r2.uploadedBytes < r1.uploadedBytes / 3, `uploaded ${r2.uploadedBytes} vs ${r1.uploadedBytes}`);
    const r2b = await pushPath(blobs, join(SERIES, '2'), 'inc');
    assert.equal(r2b.layers[0]!.status, 'stored');
    assert.equal(r2b.total, 2);
    await pushPath(blobs, join(SERIES, '3'), 'inc');
    // the stored stack holds the memory of dump 3, and pulls into a stack CRIU can restore
    const ctx = new StoreContext(blobs, `${URL}/inc`);
    const out = join(tmp, 'inc');
    const p = await pull({ ctx, name: 'inc', dest: out });
    assert.equal(p.layers, 3);
    await assertSameMemory(join(out, '3'), join(SERIES, '3'));
    await assertSameMemory(join(out, '2'), join(SERIES, '2'));
    const flat = join(tmp, 'inc-flat');
    await pull({ ctx, name: 'inc', at: 2, dest: flat, flat: true });
    await assertSameMemory(flat, join(SERIES, '2'));
  });

  test('a second stack of the same dumps uploads only its manifests, files and indexes', async () => {
    const { blobs } = fresh();
    const a = await pushPath(blobs, join(STACK, '3'), 'a');
    const b = await pushPath(blobs, join(STACK, '3'), 'b');
    assert.equal(b.uploadedBytes, 0, 'same content: same blobs');
    assert.ok(a.uploadedBytes > 0);
    const stacks = await listStacks(blobs);
    assert.deepEqual(
      stacks.map((s) => [s.name, s.layers]),
      [
        ['a', 3],
        ['b', 3],
      ],
    );
    const ctx = new StoreContext(blobs, `${URL}/a`);
    const layers = await listLayers(ctx, 'a');
    assert.equal(layers.length, 3);
    assert.equal(layers[0]!.pagesBytes, readFileSync(join(STACK, '1', 'pages-1.img')).length);
  });
});

describe('store: integrity', () => {
  test('a corrupted, truncated or missing frame is one line naming object and layer, never wrong bytes', async () => {
    const { blobs, objects } = fresh();
    await pushPath(blobs, join(STACK, '3'), 'c');
    const ctx = new StoreContext(blobs, `${URL}/c`);
    const top = await openStoreLayer(ctx, 'c');
    const frame = top.manifest.frames[0]![0];
    const key = `blobs/${frame}`;
    const good = objects.data.get(key)!.body;
    const bad = new Uint8Array(good);
    bad[100] ^= 1;
    objects.data.set(key, { ...objects.meta(key), body: bad });
    const read = async () => {
      const c = new StoreContext(blobs, `${URL}/c`);
      await pull({ ctx: c, name: 'c', dest: join(tmp, `bad-${Math.random()}`) });
    };
    await assert.rejects(read, (e: unknown) => {
      assert.ok(e instanceof StoreError);
      assert.equal(e.code, 'PAGESTACK_STORE_CORRUPT');
      assert.match(e.message, new RegExp(`^${URL}/blobs/${frame}: ${URL}/c@\\d/pages-1.img: .*expected`));
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    objects.data.set(key, { ...objects.meta(key), body: good.subarray(0, good.length - 1) });
    await assert.rejects(read, /truncated/);
    objects.data.delete(key);
    await assert.rejects(read, /the object is missing/);
  });
});

describe('store: refs', () => {
  test('two pushes of different layers to one NAME at once: one wins, the other is refused, the chain is whole', async () => {
    const { blobs } = fresh();
    await pushPath(blobs, join(SERIES, '1'), 'race');
    const results = await Promise.allSettled([
      pushPath(blobs, join(SERIES, '2'), 'race'),
      pushPath(blobs, join(SERIES, '3'), 'race'),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r) => r.status === 'rejected');
    // both computed their layer on layer 1 and claimed layer 2 at once: exactly one wins
    assert.equal(ok.length, 1);
    assert.equal(failed.length, 1);
    for (const f of failed) {
      assert.ok(f.reason instanceof StoreError);
      assert.equal(f.reason.code, 'PAGESTACK_STORE_CONFLICT');
    }
    const chain = await readChain(blobs, 'race');
    assert.equal(chain.length, 1 + ok.length);
    for (let i = 1; i < chain.length; i++) assert.equal(chain[i]!.parent, chain[i - 1]!.manifest);
    // the stack reads whole
    const ctx = new StoreContext(blobs, `${URL}/race`);
    const flat = await openFlatLayer(ctx, 'race');
    const stack = await openStack(flat);
    await stack.memory('pagemap-25238.img');
    await stack.close();
  });
});

describe('store: kills, resume, compare-and-swap, depth', () => {
  test('a push cut at any object leaves no ref; the next push uploads only what is missing', async () => {
    const full = fresh();
    await pushPath(full.blobs, join(STACK, '3'), 'k');
    const allPuts = full.objects.stored;
    for (const cutAt of [1, Math.floor(allPuts / 2), allPuts - 1]) {
      const o = new MemObjectStore(URL);
      const b = new ObjectStoreBlobs(o);
      let n = 0;
      o.beforePut = () => {
        if (++n === cutAt) throw new StoreError(`${URL}: connection reset`, 'PAGESTACK_STORE_UNAVAILABLE');
      };
      await assert.rejects(pushPath(b, join(STACK, '3'), 'k'), /connection reset/);
      const refsAfterCut = [...o.data.keys()].filter((k) => k.startsWith('refs/'));
      const chainAfterCut = await readChain(b, 'k');
      // a layer is referenced only when its claim was written, after all its blobs
      for (const c of chainAfterCut) assert.ok(o.data.has(`blobs/${c.manifest}`));
      assert.ok(refsAfterCut.length <= 3);
      o.beforePut = null;
      const before = o.stored;
      const r = await pushPath(b, join(STACK, '3'), 'k');
      assert.equal(r.total, 3);
      assert.equal(o.stored, allPuts, `cut at ${cutAt}: only the missing objects (${before} stored before)`);
      const out = join(tmp, `resumed-${cutAt}`);
      await pull({ ctx: new StoreContext(b, `${URL}/k`), name: 'k', dest: out });
      assertSameStackDir(STACK, out, 3);
    }
  });

  test('where the server has conditional PUT, a lock per layer decides the race', async () => {
    const { blobs, objects } = fresh();
    objects.cas = true;
    await pushPath(blobs, join(SERIES, '1'), 'cas');
    const results = await Promise.allSettled([
      pushPath(blobs, join(SERIES, '2'), 'cas'),
      pushPath(blobs, join(SERIES, '3'), 'cas'),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal((lost.reason as StoreError).code, 'PAGESTACK_STORE_CONFLICT');
    assert.equal((await readChain(blobs, 'cas')).length, 2);
    // pushing the same layer again after a win is no conflict
    const again = await Promise.all([pushPath(blobs, join(SERIES, '3'), 'cas')]);
    assert.ok(again[0]!.total >= 2);
  });

  test('the flat view reads layer N with the same number of requests at any depth', async () => {
    const { blobs, objects } = fresh();
    const dumps = ['1', '2', '3'];
    for (let i = 0; i < 12; i++) await pushPath(blobs, join(SERIES, dumps[i % 3]!), 'deep');
    assert.equal((await readChain(blobs, 'deep')).length, 12);
    const cost = async (at: number) => {
      const g = objects.gets;
      const ctx = new StoreContext(blobs, `${URL}/deep`);
      const layer = await openFlatLayer(ctx, 'deep', at);
      const stack = await openStack(layer);
      const m = await stack.memory('pagemap-25238.img');
      const x = m.extents;
      await m.read(x.start[0]! * PAGE_SIZE, PAGE_SIZE);
      await stack.close();
      return objects.gets - g;
    };
    const shallow = await cost(2);
    const deep = await cost(12);
    assert.equal(deep, shallow);
    // and the memory is dump 3's (layer 12 = the 12th push, of series/3)
    const out = join(tmp, 'deep-flat');
    await pull({ ctx: new StoreContext(blobs, `${URL}/deep`), name: 'deep', dest: out, flat: true });
    await assertSameMemory(out, join(SERIES, '3'));
  });
});

describe('store: rm, gc, side objects', () => {
  test('rm removes refs top first; gc deletes only what no claim needs, and nothing while a push is in flight', async () => {
    const { blobs, objects } = fresh();
    await pushPath(blobs, join(STACK, '3'), 'keep');
    await pushPath(blobs, join(SERIES, '1'), 'gone');
    await pushPath(blobs, join(SERIES, '3'), 'gone');
    const ctx = new StoreContext(blobs, URL);
    // everything is younger than the default grace period: nothing goes
    const young = await gc(ctx);
    assert.equal(young.blobsDeleted, 0);
    assert.equal(await removeStack(blobs, 'gone', 2), 1);
    assert.equal((await readChain(blobs, 'gone')).length, 1);
    assert.equal(await removeStack(blobs, 'gone'), 1);
    assert.equal((await readChain(blobs, 'gone')).length, 0);
    // a push in flight (its marker): gc deletes nothing
    const unmark = await markInFlight(blobs);
    const busy = await gc(ctx, { graceMs: 0 });
    assert.equal(busy.busy, true);
    await unmark();
    const before = objects.data.size;
    const r = await gc(ctx, { graceMs: 0 });
    assert.equal(r.busy, false);
    assert.ok(r.blobsDeleted > 0);
    assert.equal(objects.data.size, before - r.blobsDeleted);
    // the kept stack still pulls whole, and a gc again deletes nothing
    const out = join(tmp, 'after-gc');
    await pull({ ctx: new StoreContext(blobs, `${URL}/keep`), name: 'keep', dest: out });
    assertSameStackDir(STACK, out, 3);
    assert.equal((await gc(ctx, { graceMs: 0 })).blobsDeleted, 0);
  });

  test('a side object beside a layer (a restore hot set)', async () => {
    const { blobs } = fresh();
    await pushPath(blobs, join(STACK, '3'), 'side');
    const top = (await readChain(blobs, 'side'))[2]!.manifest;
    assert.equal(await getSideObject(blobs, top, 'hotset'), null);
    await putSideObject(blobs, top, 'hotset', new Uint8Array([1, 2, 3]));
    assert.deepEqual([...(await getSideObject(blobs, top, 'hotset'))!], [1, 2, 3]);
    assert.throws(() => sideKey(top, '../x'), /side object name/);
  });
});

describe('store: CLI arguments', () => {
  test('bad s3 URLs and stack names are usage errors (exit 2, one line), before any request', async () => {
    const { cli } = await import('./helpers/cli.js');
    for (const args of [
      ['push', join(STACK, '3'), 's3://b1/x/NAME'],
      ['push', join(STACK, '3'), 'not-a-url'],
      ['pull', 's3://bucket/x/NAME@one', join(tmp, 'nope')],
      ['ls', 'file:///tmp'],
      ['show', 's3://bucket/x/NAME', '--parent', join(STACK, '2')],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, /^pagestack: [^\n]+\n$/);
    }
  });
});
