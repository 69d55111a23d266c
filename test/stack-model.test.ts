/**
 * The stack reader against a tiny page-by-page reference model.
 *
 * Many stacks are generated (depth 1-12) with random mixes of PRESENT / PARENT / LAZY entries,
 * legacy encodings (in_parent without flags, compat_nr_pages without nr_pages), adjacent entries,
 * holes, punched ranges in lower pages files (real sparse holes, reading as zeros) and huge sparse
 * entries (2^33 pages, lazy or in the parent, with a few present pages in the middle). Each is
 * written as image directories (pagemap + pages file + `parent` symlink per layer), opened with
 * openStackDir, and compared with the model: where every page's bytes come from, the per-layer
 * counts, and random reads of any alignment and length.
 *
 * The model is deliberately naive: per layer a sorted entry list and a Map page -> bytes, and a
 * page is resolved by walking down the layers one page at a time.
 */
import assert from 'node:assert/strict';
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { rng } from '../bench/gen.js';
import { MemoryAccessError } from '../src/errors.js';
import { decodePagemap, PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PRESENT } from '../src/image/pagemap.js';
import { summarizeLayers } from '../src/ops/summary.js';
import { openStackDir } from '../src/source/open.js';
import type { PagemapMemory } from '../src/stack/memory.js';
import { findExtent, LAZY, resolvePagemap } from '../src/stack/resolve.js';
import { testDir } from './helpers/files.js';
import { field, pagemapImage } from './helpers/images.js';

const SEED = Number(process.env['PAGESTACK_TEST_SEED'] ?? 0x5eed);
const STACKS = Number(process.env['PAGESTACK_MODEL_STACKS'] ?? 72);

const root = testDir('model');

// ---------------------------------------------------------------------------------------------
// deterministic randomness

/** mulberry32 from `seed` (0 taken as 1, so that every seed gives the sequence it always gave). */
function seeded(seed: number): () => number {
  return rng(seed >>> 0 || 1);
}

function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** Page contents: a pattern unique to (stack, layer, page) so a page from a wrong layer shows. */
function pageBytes(stackNo: number, layer: number, page: number): Uint8Array {
  const out = new Uint8Array(PAGE_SIZE);
  const w = new Uint32Array(out.buffer);
  let x =
    (stackNo * 0x9e3779b1 +
      layer * 0x85ebca6b +
      (page % 0x1_0000_0000) * 0xc2b2ae35 +
      Math.floor(page / 0x1_0000_0000)) >>>
      0 || 1;
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = x >>> 0;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// pagemap images, written by hand (protobuf varints + CRIU framing)

type Encoding = 'modern' | 'compat' | 'legacy' | 'both';

interface MEntry {
  /** First page, page count, normalised flags. */
  s: number;
  n: number;
  flags: number;
  enc: Encoding;
}

function encodeEntry(e: MEntry): number[] {
  const m: number[] = [];
  field(m, 1, e.s * PAGE_SIZE);
  switch (e.enc) {
    case 'modern': // CRIU 4.2: compat 0, flags, nr_pages
      field(m, 2, 0);
      field(m, 4, e.flags);
      field(m, 5, e.n);
      break;
    case 'compat': // flags, count only in compat_nr_pages
      field(m, 2, e.n);
      field(m, 4, e.flags);
      break;
    case 'legacy': // no flags: in_parent says PARENT, otherwise PRESENT
      field(m, 2, e.n);
      if (e.flags === PE_PARENT) field(m, 3, 1);
      else if (e.n % 2 === 0) field(m, 3, 0); // in_parent: false, written explicitly sometimes
      break;
    case 'both': // a wrong compat count and nr_pages: nr_pages wins
      field(m, 2, (e.n + 7) % 0x1_0000_0000);
      field(m, 4, e.flags);
      field(m, 5, e.n);
      break;
  }
  return m;
}

function encodePagemap(pagesId: number, entries: readonly MEntry[]): Uint8Array {
  return pagemapImage(pagesId, entries.map(encodeEntry));
}

// ---------------------------------------------------------------------------------------------
// the model

interface MLayer {
  entries: MEntry[];
  /** Present pages -> bytes (zeros for punched pages). */
  data: Map<number, Uint8Array>;
  punched: Set<number>;
  pagesId: number;
}

type Where = { layer: number; bytes: Uint8Array } | 'lazy' | 'none';

const ZERO = new Uint8Array(PAGE_SIZE);

function findEntry(entries: readonly MEntry[], p: number): MEntry | undefined {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]!.s + entries[mid]!.n <= p) lo = mid + 1;
    else hi = mid;
  }
  const e = entries[lo];
  return e && e.s <= p ? e : undefined;
}

function modelPage(layers: readonly MLayer[], p: number, from = 0): Where {
  for (let L = from; ; L++) {
    const layer = layers[L];
    assert.ok(layer, `model: page ${p} is PE_PARENT but there is no layer ${L}`);
    const e = findEntry(layer.entries, p);
    if (!e) {
      assert.equal(L, from, `model: page ${p} is PE_PARENT above layer ${L}, which lacks it`);
      return 'none';
    }
    if (e.flags & PE_PARENT) continue;
    if (e.flags & PE_PRESENT) return { layer: L, bytes: layer.data.get(p) ?? ZERO };
    return 'lazy';
  }
}

/** Sorted covered intervals of a layer (adjacent entries merged). */
function coverage(entries: readonly MEntry[]): [number, number][] {
  const out: [number, number][] = [];
  for (const e of entries) {
    const last = out[out.length - 1];
    if (last && last[1] === e.s) last[1] = e.s + e.n;
    else out.push([e.s, e.s + e.n]);
  }
  return out;
}

const HUGE = 2 ** 33;

interface Generated {
  no: number;
  layers: MLayer[];
  base: number;
  width: number;
  /** First page of the huge zone, or -1. */
  hugeBase: number;
  dirs: string[];
}

function pickEncoding(r: () => number, flags: number, n: number): Encoding {
  const x = r();
  if (x < 0.15 && (flags === PE_PARENT || flags === PE_PRESENT) && n < 0x1_0000_0000) return 'legacy';
  if (x < 0.3 && n < 0x1_0000_0000) return 'compat';
  if (x < 0.4) return 'both';
  return 'modern';
}

function generate(no: number, depth: number): Generated {
  const r = seeded(SEED * 1000 + no);
  // window of small entries, somewhere in the 47-bit address space
  const base = randInt(r, 0, 2 ** 33) + (r() < 0.2 ? 0 : 0x100000);
  const width = randInt(r, 40, 500);
  const hugeBase = r() < 0.4 ? 2 ** 34 + randInt(r, 0, 1000) : -1;
  // per stack: how often entries leave a gap, and how often they point to the parent (high
  // values make long PE_PARENT chains, down to the bottom of deep stacks)
  const gapProb = 0.1 + r() * 0.5;
  const parentProb = 0.3 + r() * 0.65;
  const layers: MLayer[] = new Array(depth);
  for (let L = depth - 1; L >= 0; L--) {
    const below = L + 1 < depth ? layers[L + 1]! : null;
    const cov = below ? coverage(below.entries) : [];
    const entries: MEntry[] = [];
    let pos = base;
    const end = base + width;
    while (pos < end) {
      pos += r() < gapProb ? randInt(r, 1, 12) : 0;
      if (pos >= end) break;
      let len = r() < 0.05 ? randInt(r, 1, 200) : randInt(r, 1, 24);
      len = Math.min(len, end - pos);
      let flags = 0;
      if (below && r() < parentProb) {
        // in the parent: only where the layer below has entries (possibly several adjacent ones)
        const iv = cov.find(([s, e]) => s <= pos && pos < e);
        if (iv) {
          len = Math.min(len, iv[1] - pos);
          flags = PE_PARENT;
        }
      }
      if (!flags) {
        const k = r();
        flags = k < 0.4 ? PE_PRESENT : k < 0.75 ? PE_PRESENT | PE_LAZY : PE_LAZY;
      }
      entries.push({ s: pos, n: len, flags, enc: pickEncoding(r, flags, len) });
      pos += len;
    }
    if (hugeBase >= 0) {
      const h = hugeBase;
      const choice = below ? r() : 0;
      if (choice < 0.3) entries.push({ s: h, n: HUGE, flags: below ? PE_PARENT : PE_LAZY, enc: 'modern' });
      else if (choice < 0.45) entries.push({ s: h, n: HUGE, flags: PE_LAZY, enc: 'modern' });
      else {
        // in the parent / present pages in the middle / lazy or in the parent
        const m = randInt(r, 1, HUGE - 10);
        const k = randInt(r, 1, 3);
        entries.push({ s: h, n: m, flags: PE_PARENT, enc: 'modern' });
        entries.push({ s: h + m, n: k, flags: PE_PRESENT | PE_LAZY, enc: 'modern' });
        const restFlags = r() < 0.5 ? PE_PARENT : PE_LAZY;
        entries.push({ s: h + m + k, n: HUGE - m - k, flags: restFlags, enc: 'modern' });
      }
    }
    const data = new Map<number, Uint8Array>();
    const punched = new Set<number>();
    for (const e of entries) {
      if (!(e.flags & PE_PRESENT)) continue;
      for (let p = e.s; p < e.s + e.n; p++) {
        // lower layers may have punched pages (criu dedup): they read as zeros
        if (L > 0 && r() < 0.12) {
          punched.add(p);
          data.set(p, ZERO);
        } else data.set(p, pageBytes(no, L, p));
      }
    }
    layers[L] = { entries, data, punched, pagesId: randInt(r, 1, 70000) };
  }
  return { no, layers, base, width, hugeBase, dirs: [] };
}

/** Writes the stack as image directories: L0 (top) ... L<depth-1>, each with parent -> ../L<i+1>. */
function writeStack(g: Generated): string {
  const dir = join(root, `stack-${g.no}`);
  mkdirSync(dir);
  g.dirs = g.layers.map((_, L) => join(dir, `L${L}`));
  g.layers.forEach((layer, L) => {
    const d = g.dirs[L]!;
    mkdirSync(d);
    writeFileSync(join(d, 'pagemap-1.img'), encodePagemap(layer.pagesId, layer.entries));
    const fd = openSync(join(d, `pages-${layer.pagesId}.img`), 'w');
    let off = 0;
    for (const e of layer.entries) {
      if (!(e.flags & PE_PRESENT)) continue;
      for (let p = e.s; p < e.s + e.n; p++) {
        // punched pages are left as holes: a sparse file, as fallocate(PUNCH_HOLE) leaves it
        if (!layer.punched.has(p)) writeSync(fd, layer.data.get(p)!, 0, PAGE_SIZE, off);
        off += PAGE_SIZE;
      }
    }
    ftruncateSync(fd, off);
    closeSync(fd);
    if (L + 1 < g.layers.length) symlinkSync(`../L${L + 1}`, join(d, 'parent'));
  });
  return g.dirs[0]!;
}

// ---------------------------------------------------------------------------------------------
// comparing

function expectRead(
  g: Generated,
  addr: number,
  len: number,
  zero: boolean,
): Uint8Array | { reason: string; address: number } {
  const out = new Uint8Array(len);
  const end = addr + len;
  for (let p = Math.floor(addr / PAGE_SIZE); p * PAGE_SIZE < end; p++) {
    const w = modelPage(g.layers, p);
    const ps = p * PAGE_SIZE;
    const a = Math.max(addr, ps);
    const b = Math.min(end, ps + PAGE_SIZE);
    if (typeof w === 'string') {
      if (!zero) return { reason: w === 'lazy' ? 'lazy' : 'not-dumped', address: a };
      continue;
    }
    out.set(w.bytes.subarray(a - ps, b - ps), a - addr);
  }
  return out;
}

async function checkRead(
  g: Generated,
  mem: PagemapMemory,
  addr: number,
  len: number,
  zero: boolean,
  sync: boolean,
): Promise<void> {
  const want = expectRead(g, addr, len, zero);
  const what = `stack ${g.no} (seed ${SEED}): read ${addr.toString(16)} +${len}${zero ? ' zero' : ''}`;
  let got: Uint8Array | MemoryAccessError;
  try {
    got = sync ? mem.readSync(addr, len, { zero }) : await mem.read(addr, len, { zero });
  } catch (e) {
    if (!(e instanceof MemoryAccessError)) throw e;
    got = e;
  }
  if (want instanceof Uint8Array) {
    assert.ok(got instanceof Uint8Array, `${what}: ${String(got)}`);
    if (Buffer.compare(got, want) !== 0) {
      let i = 0;
      while (got[i] === want[i]) i++;
      assert.fail(`${what}: first difference at ${(addr + i).toString(16)}`);
    }
  } else {
    assert.ok(
      got instanceof MemoryAccessError,
      `${what}: expected ${want.reason} at ${want.address.toString(16)}`,
    );
    assert.equal(got.reason, want.reason, what);
    assert.equal(got.address, want.address, what);
  }
}

/**
 * A batch read (readMany / readManySync) against single reads of the model: the bytes of every
 * read back to back, or, when any read fails, the error of the first failing one.
 */
async function checkBatch(
  g: Generated,
  mem: PagemapMemory,
  addrs: number[],
  len: number,
  zero: boolean,
): Promise<void> {
  const what = `stack ${g.no} (seed ${SEED}): batch of ${addrs.length} x ${len}${zero ? ' zero' : ''}`;
  const want = new Uint8Array(addrs.length * len);
  let wantErr: MemoryAccessError | null = null;
  addrs.forEach((a, k) => {
    const w = expectRead(g, a, len, zero);
    if (w instanceof Uint8Array) want.set(w, k * len);
    else wantErr ??= w as MemoryAccessError;
  });
  for (const sync of [true, false]) {
    let got: Uint8Array | MemoryAccessError;
    try {
      got = sync ? mem.readManySync(addrs, len, { zero }) : await mem.readMany(addrs, len, { zero });
    } catch (e) {
      if (!(e instanceof MemoryAccessError)) throw e;
      got = e;
    }
    const how = `${what} (${sync ? 'readManySync' : 'readMany'})`;
    if (wantErr === null) {
      assert.ok(got instanceof Uint8Array, `${how}: ${String(got)}`);
      if (Buffer.compare(got, want) !== 0) {
        let i = 0;
        while (got[i] === want[i]) i++;
        assert.fail(`${how}: first difference in read ${Math.floor(i / len)} at +${i % len}`);
      }
    } else {
      const err: MemoryAccessError = wantErr;
      assert.ok(
        got instanceof MemoryAccessError,
        `${how}: expected ${err.reason} at ${err.address.toString(16)}`,
      );
      assert.equal(got.reason, err.reason, how);
      assert.equal(got.address, err.address, how);
    }
  }
}

/** Pages worth checking one by one: the window with margins, and the huge zone's boundaries. */
function probePages(g: Generated): number[] {
  const out: number[] = [];
  for (let p = Math.max(0, g.base - 3); p < g.base + g.width + 3; p++) out.push(p);
  if (g.hugeBase >= 0) {
    const set = new Set<number>([g.hugeBase - 1, g.hugeBase + Math.floor(HUGE / 2), g.hugeBase + HUGE]);
    for (const l of g.layers) {
      for (const e of l.entries) {
        if (e.s < g.hugeBase) continue;
        for (const p of [e.s - 1, e.s, e.s + 1, e.s + e.n - 1, e.s + e.n]) set.add(p);
      }
    }
    out.push(...[...set].sort((a, b) => a - b));
  }
  return out;
}

async function checkStack(g: Generated): Promise<void> {
  const top = writeStack(g);
  const stack = await openStackDir(top);
  const what = `stack ${g.no} (seed ${SEED}, depth ${g.layers.length})`;
  try {
    assert.equal(stack.layers.length, g.layers.length);
    const mem = await stack.memory('pagemap-1.img');
    const x = mem.extents;
    // extents: sorted, non-overlapping, merged where they continue each other
    for (let i = 0; i < x.count; i++) {
      assert.ok(x.start[i]! < x.end[i]!, what);
      if (i > 0) {
        assert.ok(x.end[i - 1]! <= x.start[i]!, `${what}: extents overlap`);
        const cont =
          x.end[i - 1] === x.start[i] &&
          x.layer[i - 1] === x.layer[i] &&
          (x.layer[i] === LAZY ||
            x.offset[i - 1]! + (x.end[i - 1]! - x.start[i - 1]!) * PAGE_SIZE === x.offset[i]);
        assert.ok(!cont, `${what}: extents ${i - 1} and ${i} were not merged`);
      }
    }
    // page by page: the source layer and the bytes
    for (const p of probePages(g)) {
      const w = modelPage(g.layers, p);
      const i = findExtent(x, p);
      const has = i < x.count && x.start[i]! <= p;
      if (w === 'none') assert.ok(!has, `${what}: page ${p.toString(16)} should not be dumped`);
      else if (w === 'lazy')
        assert.ok(has && x.layer[i] === LAZY, `${what}: page ${p.toString(16)} should be lazy`);
      else {
        assert.ok(
          has && x.layer[i] === w.layer,
          `${what}: page ${p.toString(16)} should come from layer ${w.layer}`,
        );
        const got = mem.readSync(p * PAGE_SIZE, PAGE_SIZE);
        assert.ok(Buffer.compare(got, w.bytes) === 0, `${what}: page ${p.toString(16)} bytes differ`);
      }
    }
    // per-layer counts: pages each layer's own pagemap holds, and pages read from each layer
    const r = await stack.resolve('pagemap-1.img');
    const used = new Array<number>(g.layers.length).fill(0);
    const seen = new Set<number>();
    for (const l of g.layers) {
      for (const e of l.entries) {
        if (!(e.flags & PE_PRESENT)) continue;
        for (let p = e.s; p < e.s + e.n; p++) {
          if (seen.has(p)) continue;
          seen.add(p);
          const w = modelPage(g.layers, p);
          if (typeof w !== 'string') used[w.layer]!++;
        }
      }
    }
    assert.deepEqual(
      r.perLayer.map((c) => c.resolvedPages),
      used,
      `${what}: pages read from each layer`,
    );
    for (let L = 0; L < r.depth; L++) {
      const own = { present: 0, parent: 0, lazy: 0 };
      for (const e of g.layers[L]!.entries) {
        if (e.flags & PE_PARENT) own.parent += e.n;
        else if (e.flags & PE_PRESENT) own.present += e.n;
        else own.lazy += e.n;
      }
      const c = r.perLayer[L]!;
      assert.deepEqual(
        [c.presentPages, c.parentPages, c.lazyPages],
        [own.present, own.parent, own.lazy],
        `${what}: layer ${L}`,
      );
    }
    let dumped = 0;
    let lazy = 0;
    for (let i = 0; i < x.count; i++) {
      if (x.layer[i] === LAZY) lazy += x.end[i]! - x.start[i]!;
      else dumped += x.end[i]! - x.start[i]!;
    }
    assert.equal(
      dumped,
      used.reduce((a, b) => a + b, 0),
    );
    const topPages = g.layers[0]!.entries.reduce((t, e) => t + e.n, 0);
    assert.equal(dumped + lazy, topPages, `${what}: every page of the top pagemap is dumped or lazy`);
    // random reads of any alignment and length
    const rr = seeded(SEED * 7919 + g.no);
    const lo = Math.max(0, g.base - 2) * PAGE_SIZE;
    const span = (g.width + 4) * PAGE_SIZE;
    for (let k = 0; k < 40; k++) {
      const addr = lo + randInt(rr, 0, span);
      const len = rr() < 0.1 ? randInt(rr, 0, 48 * PAGE_SIZE) : randInt(rr, 1, 3 * PAGE_SIZE);
      await checkRead(g, mem, addr, len, rr() < 0.3, rr() < 0.5);
    }
    // batch reads: random, clustered (coalesced into shared reads), repeated addresses
    for (let k = 0; k < 8; k++) {
      const len = rr() < 0.5 ? PAGE_SIZE : randInt(rr, 1, 2 * PAGE_SIZE);
      const addrs: number[] = [];
      const n = randInt(rr, 1, 40);
      for (let j = 0; j < n; j++) {
        const prev = addrs[addrs.length - 1];
        const r = rr();
        addrs.push(
          prev !== undefined && r < 0.4
            ? prev + randInt(rr, 0, 3 * PAGE_SIZE)
            : prev !== undefined && r < 0.5
              ? prev
              : lo + randInt(rr, 0, span),
        );
      }
      await checkBatch(g, mem, addrs, len, k % 4 !== 0);
    }
    if (g.hugeBase >= 0) {
      for (const p of probePages(g).filter((q) => q >= g.hugeBase - 1)) {
        await checkRead(
          g,
          mem,
          p * PAGE_SIZE - randInt(rr, 0, 100),
          randInt(rr, 1, 2 * PAGE_SIZE),
          rr() < 0.5,
          rr() < 0.5,
        );
      }
    }
    // show flags layers with punched pages as deduplicated
    const ls = await summarizeLayers(stack);
    for (let L = 0; L < g.layers.length; L++) {
      const l = g.layers[L]!;
      // a punched page makes a hole only when its 4 KiB block is not shared with data
      if (l.punched.size === 0) assert.equal(ls[L]!.deduplicated, false, `${what}: layer ${L}`);
      if (L > 0 && ls[L]!.deduplicated) assert.match(ls[L]!.note!, /valid only under its children/);
    }
  } finally {
    await stack.close();
  }
}

// ---------------------------------------------------------------------------------------------

describe('legacy pagemap entries decode like CRIU normalises them', () => {
  test('in_parent without flags, compat_nr_pages without nr_pages, nr_pages over compat', () => {
    const entries: MEntry[] = [
      { s: 0x10, n: 3, flags: PE_PRESENT, enc: 'legacy' },
      { s: 0x13, n: 2, flags: PE_PARENT, enc: 'legacy' },
      { s: 0x15, n: 4, flags: PE_PRESENT, enc: 'legacy' }, // n even: in_parent false written
      { s: 0x20, n: 5, flags: PE_LAZY, enc: 'compat' },
      { s: 0x30, n: 6, flags: PE_PRESENT | PE_LAZY, enc: 'both' },
      { s: 2 ** 34, n: HUGE, flags: PE_LAZY, enc: 'modern' },
    ];
    const cols = decodePagemap(encodePagemap(7, entries));
    assert.equal(cols.pagesId, 7);
    assert.deepEqual(
      Array.from({ length: cols.count }, (_, i) => [cols.vpage[i], cols.nrPages[i], cols.flags[i]]),
      entries.map((e) => [e.s, e.n, e.flags]),
    );
  });

  test('a 2^33-page lazy entry and a 2^33-page parent entry resolve without per-page memory', () => {
    const h = 2 ** 34;
    const bottom = decodePagemap(encodePagemap(1, [{ s: h, n: HUGE, flags: PE_LAZY, enc: 'modern' }]));
    const mid = decodePagemap(
      encodePagemap(2, [
        { s: h, n: HUGE / 2, flags: PE_PARENT, enc: 'modern' },
        { s: h + HUGE / 2, n: 1, flags: PE_PRESENT, enc: 'modern' },
        { s: h + HUGE / 2 + 1, n: HUGE / 2 - 1, flags: PE_PARENT, enc: 'modern' },
      ]),
    );
    const top = decodePagemap(encodePagemap(3, [{ s: h, n: HUGE, flags: PE_PARENT, enc: 'modern' }]));
    const t0 = performance.now();
    const r = resolvePagemap('pagemap-1.img', [
      { layerName: 'top', columns: top },
      { layerName: 'mid', columns: mid },
      { layerName: 'bottom', columns: bottom },
    ]);
    assert.ok(performance.now() - t0 < 1000);
    assert.equal(r.extents.count, 3);
    assert.deepEqual(
      [r.extents.start[1], r.extents.end[1], r.extents.layer[1]],
      [h + HUGE / 2, h + HUGE / 2 + 1, 1],
    );
    assert.equal(r.extents.layer[0], LAZY);
    assert.equal(r.extents.layer[2], LAZY);
    assert.deepEqual(
      r.perLayer.map((c) => c.resolvedPages),
      [0, 1, 0],
    );
  });
});

describe(`generated stacks vs the reference model (seed ${SEED})`, () => {
  for (let no = 0; no < STACKS; no++) {
    const depth = 1 + (no % 12);
    test(`stack ${no}: depth ${depth}`, async () => {
      await checkStack(generate(no, depth));
    });
  }
});
