/**
 * One suite over every kind of layer source (in the manner of isomorphic-git's FixtureFS): each
 * op runs on stacks opened through the source under test, and its result is checked against
 * facts of the real CRIU fixtures (expected.json, series/changes.json), never against another
 * source's output. A new source (an archive, an object store) gets the whole suite by one line in
 * SOURCES.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PAGE_SIZE } from '../../src/image/pagemap.js';
import { delta } from '../../src/ops/delta.js';
import { diffStacks } from '../../src/ops/diff.js';
import { exportElf } from '../../src/ops/export-elf.js';
import { processMaps } from '../../src/ops/maps.js';
import { squash } from '../../src/ops/squash.js';
import { summarizeStack } from '../../src/ops/summary.js';
import { verifyStack } from '../../src/ops/verify.js';
import { openArchiveSource } from '../../src/source/archive/index.js';
import { DirLayerSource } from '../../src/source/dir.js';
import { firstUnreadable } from '../../src/stack/readable.js';
import { LAZY } from '../../src/stack/resolve.js';
import type { LayerSource } from '../../src/stack/source.js';
import { openStack, type Stack } from '../../src/stack/stack.js';
import { testDir } from './files.js';
import { expectedOf, fixture, seriesChanges } from './fixtures.js';
import { memLayerFromDir } from './mem-source.js';
import { assertSameMemory } from './stacks.js';
import { archiveOfStack } from './tar.js';

/** A kind of layer source: how to open the image directory `dir` through it. */
export interface SourceKind {
  readonly name: string;
  open(dir: string): Promise<LayerSource>;
}

/** Every source the suite runs over: one line each. */
export const SOURCES: readonly SourceKind[] = [
  { name: 'directory', open: (dir) => DirLayerSource.open(dir) },
  { name: 'memory', open: async (dir) => memLayerFromDir(dir) },
  { name: 'archive', open: (dir) => openArchiveSource(archiveOfStack(dir)) },
];

const PID = 25238;

async function withStack<T>(kind: SourceKind, dir: string, fn: (s: Stack) => Promise<T>): Promise<T> {
  const stack = await openStack(await kind.open(dir));
  try {
    return await fn(stack);
  } finally {
    await stack.close();
  }
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Every dumped byte of pid 25238's private memory in address order, read through the stack. */
async function dumpedBytes(stack: Stack): Promise<Buffer> {
  const mem = await stack.process(PID);
  const x = mem.private.extents;
  const parts: Buffer[] = [];
  for (let i = 0; i < x.count; i++) {
    if (x.layer[i] === LAZY) continue;
    parts.push(Buffer.from(await mem.read(x.start[i]! * PAGE_SIZE, (x.end[i]! - x.start[i]!) * PAGE_SIZE)));
  }
  return Buffer.concat(parts);
}

/** The suite, over one kind of source. series-stack/3 (3 layers) holds the memory of series/3. */
export function sourceSuite(kind: SourceKind): void {
  const expected = expectedOf('series/3').processes[0]!;
  const tmp = testDir(`sources-${kind.name}`);
  const STACK3 = fixture('series-stack', '3');

  describe(`ops over the ${kind.name} source`, () => {
    test('show: layers, the process and its pages through the stack', async () => {
      const s = await withStack(kind, STACK3, summarizeStack);
      assert.equal(s.layers.length, 3);
      assert.deepEqual(
        s.processes.map((p) => p.pid),
        [PID],
      );
      assert.equal(s.processes[0]!.memory?.dumpedPages, expected.present_pages);
      assert.equal(s.totals.dumpedPages, expected.present_pages);
      // every layer holds some of it; the layers' own pages add up to more than the top reads
      const used = s.processes[0]!.memory!.perLayer.map((l) => l.used);
      assert.equal(
        used.reduce((a, b) => a + b, 0),
        expected.present_pages,
      );
      assert.ok(used.every((u) => u > 0));
    });

    test('maps: every dumped page is in a VMA, counted by the layer holding it', async () => {
      const m = await withStack(kind, STACK3, (s) => processMaps(s, PID));
      assert.equal(m.totals.dumped, expected.present_pages);
      assert.equal(m.totals.outside, 0);
      assert.equal(m.layerNames.length, 3);
      const byLayer = m.vmas.flatMap((v) => v.layers).reduce((a, l) => a + l.pages, 0);
      assert.equal(byLayer, expected.present_pages);
    });

    test('read: the bytes through the stack are series/3 pages file, page for page', async () => {
      const bytes = await withStack(kind, STACK3, dumpedBytes);
      assert.equal(bytes.length, expected.present_pages * PAGE_SIZE);
      assert.equal(sha256(bytes), expected.present_sha256);
      // the pattern: the u64 at A holds A ^ seed, for one dumped run
      const [addr] = expected.pattern_runs[0]!;
      await withStack(kind, STACK3, async (s) => {
        const mem = await s.process(PID);
        assert.equal(firstUnreadable(mem, addr, PAGE_SIZE), null);
        const first = Buffer.from(await mem.read(addr, 16));
        const seed = first.readBigUInt64LE(0) ^ BigInt(addr);
        assert.equal(first.readBigUInt64LE(8) ^ BigInt(addr + 8), seed);
        // a range outside every VMA is refused before any byte is read
        assert.equal(firstUnreadable(mem, 0x1000, 1), 0x1000);
      });
    });

    test('export: the ELF core carries exactly the dumped pages', async () => {
      const out = join(tmp, 'core.elf');
      const sum = await withStack(kind, STACK3, (s) => exportElf(s, out));
      assert.equal(sum.pages, expected.present_pages);
      assert.equal(sum.layersUsed, 3);
      const core = readFileSync(out);
      assert.equal(core.readUInt32BE(0), 0x7f454c46);
      // segments are written in address order, contiguous after the page-aligned headers
      assert.equal(
        sha256(core.subarray(core.length - expected.present_pages * PAGE_SIZE)),
        expected.present_sha256,
      );
    });

    test('verify: the stack is clean', async () => {
      const report = await verifyStack(await kind.open(STACK3));
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      assert.equal(report.layers.length, 3);
      assert.equal(report.dumpedPages, expected.present_pages);
    });

    test('delta: series/3 on series-stack/2 holds the memory of series/3', async () => {
      const out = join(tmp, 'delta');
      const r = await withStack(kind, fixture('series-stack', '2'), (parent) =>
        withStack(kind, fixture('series', '3'), (child) => delta(parent, child, { out })),
      );
      assert.ok(r.pagesShared > 0 && r.pagesKept > 0);
      assert.equal(r.pagesKept + r.pagesShared, expected.present_pages);
      assert.ok(existsSync(join(out, 'parent')));
      await assertSameMemory(out, fixture('series', '3'));
    });

    test('squash: one self-contained layer with the memory of series/3', async () => {
      const out = join(tmp, 'squash');
      const r = await withStack(kind, STACK3, (s) => squash(s, { out }));
      assert.equal(r.parent, null);
      assert.equal(r.presentPages, expected.present_pages);
      assert.ok(!existsSync(join(out, 'parent')));
      await assertSameMemory(out, fixture('series', '3'));
    });

    test('diff: series/2 -> series/3 as series/changes.json says', async () => {
      const step = seriesChanges().steps.find((s) => s.from === 'series/2' && s.to === 'series/3')!;
      const r = await withStack(kind, fixture('series', '2'), (a) =>
        withStack(kind, fixture('series', '3'), (b) => diffStacks(a, b)),
      );
      const d = r.processes[0]!;
      assert.equal(d.changed.pages, step.changed_pages);
      assert.equal(d.equalPages + d.changed.pages, step.pages_in_both);
    });
  });
}
