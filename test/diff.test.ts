/**
 * `pagestack diff`: the series fixtures against series/changes.json, the stacked series against
 * the plain one, self-diffs that read nothing, the CLI's JSON and text, and generated stacks in
 * memory against a page-by-page model.
 */
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { rng } from '../bench/gen.js';
import { encodeImage } from '../src/image/image.js';
import { PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PRESENT } from '../src/image/pagemap.js';
import { type DiffResult, diffStacks, diffToJson, type PageRanges } from '../src/ops/diff.js';
import { DirLayerSource } from '../src/source/dir.js';
import { openStackDir } from '../src/source/open.js';
import type { LayerSource, RandomAccessFile } from '../src/stack/source.js';
import { openStack, type Stack } from '../src/stack/stack.js';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { fixture, seriesChanges } from './helpers/fixtures.js';
import { MemLayer } from './helpers/mem-source.js';

const changes = seriesChanges();

/** [addr, nr_pages] list -> merged [start, end) address pairs. */
function merged(list: readonly [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, n] of [...list].sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && last[1] >= a) last[1] = Math.max(last[1], a + n * PAGE_SIZE);
    else out.push([a, a + n * PAGE_SIZE]);
  }
  return out;
}

async function diffDirs(a: string, b: string, opts = {}): Promise<DiffResult> {
  const sa = await openStackDir(a);
  const sb = await openStackDir(b);
  try {
    return await diffStacks(sa, sb, opts);
  } finally {
    await sa.close();
    await sb.close();
  }
}

/** A diff without the snapshot names, for comparing two diffs. */
function shape(r: DiffResult): unknown {
  const { a: _a, b: _b, ...rest } = diffToJson(r) as Record<string, unknown>;
  return rest;
}

describe('diff of the series fixtures', () => {
  for (const step of changes.steps) {
    test(`${step.from} -> ${step.to} matches changes.json`, async () => {
      const r = await diffDirs(fixture(step.from), fixture(step.to));
      assert.equal(r.processes.length, 1);
      const d = r.processes[0]!;
      assert.equal(d.pid, 25238);
      assert.deepEqual(d.changed.addresses(), merged(step.changed));
      assert.equal(d.changed.pages, step.changed_pages);
      assert.deepEqual(d.removed.addresses(), merged(step.gone));
      assert.deepEqual(d.added.addresses(), merged(step.new));
      assert.equal(d.lazy.pages, 0);
      assert.equal(d.equalPages + d.changed.pages, step.pages_in_both);
      // two separate dumps: every page in both was read and compared
      assert.equal(r.stats.pagesCompared, step.pages_in_both);
      assert.equal(r.stats.pagesSameSource, 0);
    });
  }

  test('series-stack layers give the same diff as the plain series, reading only what differs', async () => {
    const plain23 = await diffDirs(fixture('series/2'), fixture('series/3'));
    const stack23 = await diffDirs(fixture('series-stack/2'), fixture('series-stack/3'));
    assert.deepEqual(shape(stack23), shape(plain23));
    // 3's PE_PARENT pages resolve to the very layer 2 reads them from: not read
    assert.equal(stack23.stats.pagesSameSource, 474);
    assert.equal(stack23.stats.pagesCompared, 68);
    assert.equal(stack23.stats.bytesRead, 2 * 68 * PAGE_SIZE);

    const plain12 = await diffDirs(fixture('series/1'), fixture('series/2'));
    const stack12 = await diffDirs(fixture('series-stack/1'), fixture('series-stack/2'));
    assert.deepEqual(shape(stack12), shape(plain12));
    assert.equal(stack12.stats.pagesSameSource, 538);

    // across two steps of the stack, and the other way round
    const stack13 = await diffDirs(fixture('series-stack/1'), fixture('series-stack/3'));
    const plain13 = await diffDirs(fixture('series/1'), fixture('series/3'));
    assert.deepEqual(shape(stack13), shape(plain13));
    const back = await diffDirs(fixture('series-stack/3'), fixture('series-stack/1'));
    const d = back.processes[0]!;
    assert.deepEqual(d.added.addresses(), plain13.processes[0]!.removed.addresses());
    assert.deepEqual(d.removed.addresses(), plain13.processes[0]!.added.addresses());
    assert.deepEqual(d.changed.addresses(), plain13.processes[0]!.changed.addresses());
  });

  test('--bytes: first differing byte of each changed page', async () => {
    const r = await diffDirs(fixture('series/2'), fixture('series/3'), { bytes: true });
    const d = r.processes[0]!;
    assert.equal(d.firstDifferences!.length, 68);
    // R pages 32..95: the seeds differ only in the top byte of each word: byte 7 of the page
    for (let p = 32; p < 96; p++) {
      assert.ok(d.firstDifferences!.includes(0x300000000000 + p * PAGE_SIZE + 7));
    }
    for (const a of d.firstDifferences!) {
      const page = a - (a % PAGE_SIZE);
      assert.ok(d.changed.addresses().some(([s, e]) => s <= page && page < e));
    }
  });
});

/** Wraps a layer source, counting reads of the files it opens. */
class CountingSource implements LayerSource {
  static reads = 0;
  readonly inner: LayerSource;
  constructor(inner: LayerSource) {
    this.inner = inner;
  }
  get name(): string {
    return this.inner.name;
  }
  get id(): string {
    return this.inner.id;
  }
  list(): Promise<string[]> {
    return this.inner.list();
  }
  readFile(file: string): Promise<Uint8Array | null> {
    return this.inner.readFile(file);
  }
  async open(file: string): Promise<RandomAccessFile | null> {
    const f = await this.inner.open(file);
    if (!f) return null;
    return {
      size: f.size,
      read: (buf, offset, length, position) => {
        CountingSource.reads++;
        return f.read(buf, offset, length, position);
      },
      readSync: (buf, offset, length, position) => {
        CountingSource.reads++;
        return f.readSync!(buf, offset, length, position);
      },
      close: () => f.close(),
    };
  }
  async parent(): Promise<LayerSource | null> {
    const p = await this.inner.parent();
    return p ? new CountingSource(p) : null;
  }
}

async function countingStack(dir: string): Promise<Stack> {
  return openStack(new CountingSource(await DirLayerSource.open(dir)));
}

describe('self-diffs', () => {
  for (const dir of ['single', 'tree', 'series/2', 'series-stack/3', 'pageserver']) {
    test(`${dir} against itself: all equal, no page read`, async () => {
      CountingSource.reads = 0;
      const a = await countingStack(fixture(dir));
      const b = await countingStack(fixture(dir));
      const r = await diffStacks(a, b);
      await a.close();
      await b.close();
      assert.equal(CountingSource.reads, 0);
      assert.equal(r.stats.bytesRead, 0);
      assert.ok(r.processes.length >= 1);
      for (const d of r.processes) {
        assert.equal(d.changed.pages + d.added.pages + d.removed.pages + d.lazy.pages, 0);
        assert.ok(d.equalPages > 0);
      }
    });
  }

  test('lazy pages are reported apart, not compared', async () => {
    const r = await diffDirs(fixture('lazy'), fixture('lazy'));
    const d = r.processes[0]!;
    assert.equal(d.lazy.pages, 526);
    assert.equal(d.equalPages, 15);
    assert.equal(d.changed.pages, 0);
  });

  test('tree against a copy of itself: every page compared (shared memory too), all equal', async () => {
    const copy = join(testDir('diff'), 'tree');
    cpSync(fixture('tree'), copy, { recursive: true });
    const r = await diffDirs(fixture('tree'), copy);
    assert.deepEqual(
      r.processes.map((d) => [d.pid, d.equalPages, d.changed.pages]),
      [
        [25155, 28 + 64, 0],
        [25158, 156 + 64, 0],
        [25159, 158 + 64, 0],
      ],
    );
    assert.equal(r.stats.pagesCompared, 28 + 156 + 158 + 3 * 64);
    // the shared region is read through the shmem pagemap at the VMA's address
    for (const d of r.processes) assert.equal(d.added.pages + d.removed.pages, 0);
  });
});

describe('diff CLI', () => {
  test('--json shape', async () => {
    const { code, out } = await cli(['diff', fixture('series/2'), fixture('series/3'), '--json']);
    assert.equal(code, 1); // they differ: exit 1, as diff(1)
    const doc = JSON.parse(out) as {
      differ: boolean;
      processes: {
        vmas: { start: string | null; changed_pages: number; added_pages: number; removed_pages: number }[];
        changed_pages: number;
        pid: number;
        changed: string[][];
        added: string[][];
        removed: string[][];
        equal_pages: number;
      }[];
    };
    assert.equal(doc.processes.length, 1);
    const p = doc.processes[0]!;
    assert.equal(p.pid, 25238);
    assert.equal(p.equal_pages, 474);
    for (const k of ['changed', 'added', 'removed'] as const) {
      for (const r of p[k]) {
        assert.equal(r.length, 2);
        for (const a of r) assert.match(a, /^0x[0-9a-f]+$/);
        assert.ok(BigInt(r[0]!) < BigInt(r[1]!));
      }
    }
    assert.deepEqual(p.added, [['0x300080000000', '0x300080040000']]);
    assert.deepEqual(p.removed, [['0x300040000000', '0x300040040000']]);
    assert.deepEqual(p.changed[0], ['0x300000020000', '0x300000060000']);
    // the per-VMA summary sums to the totals, one entry per VMA with differences
    assert.equal(doc.differ, true);
    assert.equal(
      p.vmas.reduce((t, v) => t + v.changed_pages, 0),
      p.changed_pages,
    );
    assert.deepEqual(
      p.vmas.filter((v) => v.start === '0x300080000000').map((v) => v.added_pages),
      [64],
    );
  });

  test('a per-VMA summary first; the ranges only with --ranges', async () => {
    const r = await cli(['diff', fixture('series/1'), fixture('series/2')]);
    assert.equal(r.code, 1);
    assert.match(r.out, /\n +vma +changed +added +removed +lazy +ranges\n/);
    assert.match(r.out, /\n +0x300000000000-0x300000200000 rw-p anon +[\d,]+ +0 +0 +0 +\d+\n/);
    assert.doesNotMatch(r.out, /\n {2}ranges:|changed +0x300000000000-0x300000040000/);
    assert.match(r.out, /\(5 ranges: --ranges lists them\)/);
    const withRanges = await cli(['diff', fixture('series/1'), fixture('series/2'), '--ranges']);
    assert.equal(withRanges.code, 1);
    assert.match(withRanges.out, /\n {2}ranges:\n/);
    assert.match(withRanges.out, /changed +0x300000000000-0x300000040000 +64 pages/);
    // equal snapshots: exit 0
    const same = await cli(['diff', fixture('series/1'), fixture('series/1')]);
    assert.equal(same.code, 0, same.err);
    assert.match(same.out, /no differences/);
  });

  test('human output names the VMAs; --pid picks; unknown pid fails', async () => {
    const { code, out } = await cli([
      'diff',
      fixture('series/1'),
      fixture('series/2'),
      '--pid',
      '25238',
      '--bytes',
    ]);
    assert.equal(code, 1);
    assert.match(out, /pid 25238: 68 pages changed, 0 added, 0 removed, 538 equal/);
    assert.match(
      out,
      /changed +0x300000000000-0x300000040000 +64 pages +vma 0x300000000000-0x300000200000 rw-p anon/,
    );
    assert.match(out, /heap/);
    assert.match(out, /first difference: /);
    const bad = await cli(['diff', fixture('series/1'), fixture('series/2'), '--pid', '7']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^pagestack: no process 7 in either snapshot; processes in both: 25238\n$/);
    const usage = await cli(['diff', fixture('series/1'), fixture('series/2'), '--pid', 'x']);
    assert.equal(usage.code, 2);
  });

  test('tree: per-process summaries', async () => {
    const { code, out } = await cli(['diff', fixture('tree'), fixture('tree')]);
    assert.equal(code, 0);
    assert.equal(out.match(/no differences/g)?.length, 3);
  });
});

// ---------------------------------------------------------------------------------------------
// Generated stacks in memory against a page-by-page model.

/** Page content for value v: zeros but for a marker byte whose place depends on v. */
function content(v: number): Uint8Array {
  const b = new Uint8Array(PAGE_SIZE);
  b[(v * 509) % PAGE_SIZE] = v + 1;
  return b;
}

type ModelPage = { lazy: true } | { lazy: false; v: number };
type Model = Map<number, ModelPage>;

const PID = 100;
const BASE_PAGE = 0x7f0000000; // addresses around 0x7f0000000000

function pstree(): Uint8Array {
  return encodeImage({
    magic: 'PSTREE',
    framing: 'common',
    entries: [{ pid: PID, ppid: 0, pgid: PID, sid: PID }],
  });
}

/** Builds a chain of `depth` layers over `pages` pages; returns layers bottom-up and their models. */
function chain(
  rand: () => number,
  name: string,
  depth: number,
  pages: number,
): { layers: MemLayer[]; models: Model[] } {
  const layers: MemLayer[] = [];
  const models: Model[] = [];
  for (let k = 0; k < depth; k++) {
    const below = k > 0 ? models[k - 1]! : null;
    const model: Model = new Map();
    // kind per page: 0 none, 1 present, 2 lazy, 3 parent
    const kinds: number[] = [];
    const values: number[] = [];
    for (let p = 0; p < pages; p++) {
      const r = rand();
      let kind = r < 0.25 ? 0 : r < 0.65 ? 1 : r < 0.72 ? 2 : 3;
      if (kind === 3 && !below?.has(p)) kind = 1;
      kinds.push(kind);
      const v = Math.floor(rand() * 6);
      values.push(v);
      if (kind === 1) model.set(p, { lazy: false, v });
      else if (kind === 2) model.set(p, { lazy: true });
      else if (kind === 3) model.set(p, below!.get(p)!);
    }
    const pagesId = 1 + Math.floor(rand() * 3);
    const entries: Record<string, unknown>[] = [{ pages_id: pagesId }];
    const data: Uint8Array[] = [];
    for (let p = 0; p < pages; ) {
      const kind = kinds[p]!;
      let q = p + 1;
      while (q < pages && kinds[q] === kind && rand() < 0.7) q++;
      if (kind !== 0) {
        const flags =
          kind === 1 ? (rand() < 0.5 ? PE_PRESENT | PE_LAZY : PE_PRESENT) : kind === 2 ? PE_LAZY : PE_PARENT;
        entries.push({
          vaddr: BigInt(BASE_PAGE + p) * 4096n,
          compat_nr_pages: 0,
          flags,
          nr_pages: BigInt(q - p),
        });
        if (kind === 1) for (let x = p; x < q; x++) data.push(content(values[x]!));
      }
      p = q;
    }
    const layer = new MemLayer(`${name}/${k}`, `${name}/${k}`, k > 0 ? layers[k - 1]! : null);
    layer.files.set('pstree.img', pstree());
    layer.files.set(
      `pagemap-${PID}.img`,
      encodeImage({ magic: 'PAGEMAP', framing: 'common', entries: entries as never }),
    );
    const buf = new Uint8Array(data.length * PAGE_SIZE);
    data.forEach((d, i) => {
      buf.set(d, i * PAGE_SIZE);
    });
    layer.files.set(`pages-${pagesId}.img`, buf);
    layers.push(layer);
    models.push(model);
  }
  return { layers, models };
}

function pagesOf(r: PageRanges): number[] {
  const out: number[] = [];
  for (let i = 0; i < r.count; i++) for (let p = r.start[i]!; p < r.end[i]!; p++) out.push(p - BASE_PAGE);
  return out;
}

describe('generated stacks against a page-by-page model', () => {
  test('300 random pairs of snapshots', async () => {
    const rand = rng(0x5eed);
    for (let c = 0; c < 300; c++) {
      const pages = 1 + Math.floor(rand() * 48);
      const x = chain(rand, `x${c}`, 1 + Math.floor(rand() * 4), pages);
      const other = rand() < 0.3 ? chain(rand, `y${c}`, 1 + Math.floor(rand() * 3), pages) : x;
      const ia = Math.floor(rand() * x.layers.length);
      const ib = Math.floor(rand() * other.layers.length);
      const ma = x.models[ia]!;
      const mb = other.models[ib]!;
      const bytes = rand() < 0.5;
      const chunkSize = rand() < 0.5 ? PAGE_SIZE * (1 + Math.floor(rand() * 5)) : undefined;
      const sa = await openStack(x.layers[ia]!);
      const sb = await openStack(other.layers[ib]!);
      const r = await diffStacks(sa, sb, { bytes, chunkSize });
      const d = r.processes[0]!;
      // the model
      const want = {
        changed: [] as number[],
        added: [] as number[],
        removed: [] as number[],
        lazy: [] as number[],
      };
      const firsts: number[] = [];
      let equal = 0;
      for (let p = 0; p < pages; p++) {
        const a = ma.get(p);
        const b = mb.get(p);
        if (!a && !b) continue;
        if (!b) want.removed.push(p);
        else if (!a) want.added.push(p);
        else if (a.lazy || b.lazy) want.lazy.push(p);
        else if (a.v === b.v) equal++;
        else {
          want.changed.push(p);
          const ca = content(a.v);
          const cb = content(b.v);
          let i = 0;
          while (ca[i] === cb[i]) i++;
          firsts.push((BASE_PAGE + p) * PAGE_SIZE + i);
        }
      }
      const msg = `case ${c}: ${x.layers[ia]!.name} vs ${other.layers[ib]!.name}`;
      assert.deepEqual(pagesOf(d.changed), want.changed, msg);
      assert.deepEqual(pagesOf(d.added), want.added, msg);
      assert.deepEqual(pagesOf(d.removed), want.removed, msg);
      assert.deepEqual(pagesOf(d.lazy), want.lazy, msg);
      assert.equal(d.equalPages, equal, msg);
      if (bytes) assert.deepEqual(d.firstDifferences, firsts, msg);
      // ranges are merged: no two touch
      for (const rr of [d.changed, d.added, d.removed, d.lazy]) {
        for (let i = 1; i < rr.count; i++) assert.ok(rr.start[i]! > rr.end[i - 1]!, msg);
      }
      assert.ok(r.stats.bytesRead <= 2 * r.stats.pagesCompared * PAGE_SIZE, msg);
      if (other === x && ia === ib) assert.equal(r.stats.bytesRead, 0, msg);
    }
  });
});
