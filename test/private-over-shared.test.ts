/**
 * A shared object mapped MAP_PRIVATE (issue 17 section 1): the process's own pages in
 * pagemap-<pid>.img win over the object's, page by page, in every reader (read, export, search,
 * diff, maps) and `verify` accepts them, while an entry in a MAP_SHARED VMA or outside every VMA
 * stays an error.
 *
 * The stack: a copy of tree/ (CRIU 4.2; three processes map the 64-page memfd object
 * pagemap-shmem-250.img MAP_SHARED at 0x200000000000) in which process 25155's mapping is made
 * what CRIU writes for a MAP_PRIVATE one (flags MAP_PRIVATE, status VMA_AREA_MEMFD |
 * VMA_FILE_PRIVATE, as proc_parse.c sets them) and given two private pages of 0x16 at
 * 0x200000001000 in its own pagemap, as CRIU dumps pages the process wrote there.
 * (test/live-oracle.test.ts checks the same rule against the kernel on real dumps.)
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportElf } from '../src/ops/export-elf.js';
import { processMaps } from '../src/ops/maps.js';
import { compilePattern, type SearchMatch, searchStack } from '../src/ops/search.js';
import { openStackDir } from '../src/source/open.js';
import { cli } from './helpers/cli.js';
import { coreBytes, elfLoads } from './helpers/elf-loads.js';
import { testDir } from './helpers/files.js';
import { FIX } from './helpers/fixtures.js';
import { entriesOf, pagemapEntry, pagemapImage } from './helpers/images.js';

const PID = 25155;
const BASE = 0x200000000000;
const OWN = BASE + 0x1000; // the two private pages
const PAGE = 4096;
const SHM_SEED = 0xb000000000000000n;

/** The shared object's bytes at process address `a` (all three map it at BASE, offset 0). */
function objectWord(a: number): bigint {
  return BigInt(a) ^ SHM_SEED;
}

/**
 * tree/ with process PID's shared mapping turned MAP_PRIVATE (unless `keepShared`) and two
 * private pages of 0x16 at OWN (at `at` when given) in its pagemap.
 */
async function makeStack(name: string, o: { keepShared?: boolean; at?: number } = {}): Promise<string> {
  const dir = join(testDir(`private-over-shared-${name}`), 'tree');
  cpSync(join(FIX, 'tree'), dir, { recursive: true });
  if (!o.keepShared) {
    const mm = join(dir, `mm-${PID}.img`);
    const dec = await cli(['decode', mm]);
    assert.equal(dec.code, 0, dec.err);
    const json = JSON.parse(dec.out);
    const v = json.entries[0].vmas.find((x: { start: number }) => x.start === BASE);
    assert.equal(v.flags, 1, 'the fixture maps it MAP_SHARED');
    assert.equal(v.status, 0x4081, 'VMA_AREA_MEMFD | VMA_FILE_SHARED | VMA_AREA_REGULAR');
    v.flags = 2; // MAP_PRIVATE
    v.status = 0x4041; // VMA_AREA_MEMFD | VMA_FILE_PRIVATE | VMA_AREA_REGULAR
    const enc = await cli(['encode', '-', '-o', mm], new TextEncoder().encode(JSON.stringify(json)));
    assert.equal(enc.code, 0, enc.err);
  }
  // the private pages: the lowest address of the pagemap, so the first pages of its pages file
  const at = o.at ?? OWN;
  const pm = join(dir, `pagemap-${PID}.img`);
  const entries = entriesOf(pm);
  assert.ok(entries[0]![0] * PAGE > at);
  const pagesFile = join(dir, 'pages-2.img');
  writeFileSync(
    pm,
    pagemapImage(2, [pagemapEntry(at, 2, 6), ...entries.map(([p, n, f]) => pagemapEntry(p * PAGE, n, f))]),
  );
  writeFileSync(pagesFile, Buffer.concat([Buffer.alloc(2 * PAGE, 0x16), readFileSync(pagesFile)]));
  return dir;
}

test('read: the private pages win over the shared object, page by page; the rest is the object', async () => {
  const dir = await makeStack('read');
  const stack = await openStackDir(dir);
  try {
    const mem = await stack.process(PID);
    const got = Buffer.from(await mem.read(BASE, 4 * PAGE));
    // page 0 and 3: the object's; pages 1-2: the process's own
    assert.equal(got.readBigUInt64LE(0), objectWord(BASE));
    assert.equal(got.readBigUInt64LE(PAGE - 8), objectWord(BASE + PAGE - 8));
    assert.ok(
      got.subarray(PAGE, 3 * PAGE).every((b) => b === 0x16),
      'pages 1-2 are the private copies',
    );
    assert.equal(got.readBigUInt64LE(3 * PAGE), objectWord(BASE + 3 * PAGE));
    // the other processes map the object MAP_SHARED: they still see the object there
    const other = await stack.process(25158);
    assert.equal(Buffer.from(await other.read(OWN, 8)).readBigUInt64LE(0), objectWord(OWN));
    // the CLI says the same (a read across the edge)
    const r = await cli(['read', dir, '--pid', String(PID), `0x${(OWN - 8).toString(16)}`, '16', '--raw']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.bytes.readBigUInt64LE(0), objectWord(OWN - 8));
    assert.ok(r.bytes.subarray(8).every((b) => b === 0x16));
  } finally {
    await stack.close();
  }
});

test('export: the ELF core holds the private pages inside the shared mapping, one PT_LOAD across the edge', async () => {
  const dir = await makeStack('export');
  const core = join(dir, '..', 'core.elf');
  const stack = await openStackDir(dir);
  try {
    await exportElf(stack, core, { pid: PID });
  } finally {
    await stack.close();
  }
  const bytes = new Uint8Array(readFileSync(core));
  const loads = elfLoads(bytes);
  const all = coreBytes(bytes, loads, BASE, 64 * PAGE);
  assert.ok(all, 'one PT_LOAD holds the whole 64-page mapping');
  const b = Buffer.from(all);
  for (let p = 0; p < 64; p++) {
    if (p === 1 || p === 2)
      assert.ok(
        b.subarray(p * PAGE, (p + 1) * PAGE).every((x) => x === 0x16),
        `page ${p}`,
      );
    else assert.equal(b.readBigUInt64LE(p * PAGE + 8), objectWord(BASE + p * PAGE + 8), `page ${p}`);
  }
});

test('search: a private page is found in the process, the object bytes it hides are not', async () => {
  const dir = await makeStack('search');
  const stack = await openStackDir(dir);
  try {
    const found = async (pattern: string, hex: boolean): Promise<SearchMatch[]> => {
      const out: SearchMatch[] = [];
      await searchStack(stack, compilePattern(pattern, { hex }), { onMatch: (m) => out.push(m) });
      return out;
    };
    const own = (await found('16 16 16 16 16 16 16 16 16 16 16 16 16 16 16 16', true)).filter(
      (m) => m.pid === PID && m.address === OWN,
    );
    assert.equal(own.length, 1, 'the private copy at its address');
    assert.equal(own[0]!.vma?.start, BASE, 'inside the memfd mapping');
    assert.equal(own[0]!.shared, null);
    // the object's word at offset 0x1000: the other two processes see it, PID does not
    const w = Buffer.alloc(8);
    w.writeBigUInt64LE(objectWord(OWN));
    const hidden = await found([...w].map((x) => x.toString(16).padStart(2, '0')).join(' '), true);
    assert.deepEqual(hidden.map((m) => [m.pid, m.address]).sort(), [
      [25158, OWN],
      [25159, OWN],
    ]);
    // a word the process still sees from the object (page 3) is found for all three
    w.writeBigUInt64LE(objectWord(BASE + 3 * PAGE));
    const seen = await found([...w].map((x) => x.toString(16).padStart(2, '0')).join(' '), true);
    assert.deepEqual(seen.map((m) => m.pid).sort(), [PID, 25158, 25159]);
  } finally {
    await stack.close();
  }
});

test('maps says which pages come from where; verify accepts the private pages', async () => {
  const dir = await makeStack('maps');
  const stack = await openStackDir(dir);
  try {
    const m = await processMaps(stack, PID);
    const v = m.vmas.find((x) => x.start === BASE)!;
    assert.equal(v.perms, 'rw-p');
    assert.equal(v.privatePages, 2);
    assert.equal(v.dumped, 64);
    assert.deepEqual(
      v.extents.map((e) => [e.start - BASE, e.end - BASE, e.pagemap]),
      [
        [0, PAGE, 'pagemap-shmem-250.img'],
        [PAGE, 3 * PAGE, `pagemap-${PID}.img`],
        [3 * PAGE, 64 * PAGE, 'pagemap-shmem-250.img'],
      ],
    );
    assert.equal(m.outside.length, 0);
  } finally {
    await stack.close();
  }
  const text = await cli(['maps', dir, '--pid', String(PID)]);
  assert.match(text.out, /rw-p .*\(pagemap-shmem-250\.img, 2 from pagemap-25155\.img\)/);
  const v = await cli(['verify', dir]);
  assert.equal(v.code, 0, v.out + v.err);
  assert.doesNotMatch(v.out, /^error:/m);
});

test('verify: private pages in a MAP_SHARED mapping, or outside every VMA, are still errors', async () => {
  const shared = await makeStack('verify-shared', { keepShared: true });
  let v = await cli(['verify', shared]);
  assert.equal(v.code, 1, v.out);
  assert.match(
    v.out,
    /pagemap-25155\.img: entry 0: pages 0x200000001000-0x200000003000 lie outside every private VMA/,
  );
  const outside = await makeStack('verify-outside', { at: 0x100000000000 });
  v = await cli(['verify', outside]);
  assert.equal(v.code, 1, v.out);
  assert.match(v.out, /entry 0: pages 0x100000000000-0x100000002000 lie outside every private VMA/);
});

test('diff: the private pages are a change of the process only', async () => {
  const dir = await makeStack('diff');
  const r = await cli(['diff', join(FIX, 'tree'), dir, '--json']);
  assert.equal(r.code, 1, r.err); // they differ: 1, as diff(1)
  const d = JSON.parse(r.out) as {
    processes: { pid: number; changed: [string, string][]; changed_pages: number }[];
  };
  const byPid = new Map(d.processes.map((p) => [p.pid, p]));
  assert.deepEqual(byPid.get(PID)?.changed, [['0x200000001000', '0x200000003000']]);
  assert.equal(byPid.get(PID)?.changed_pages, 2);
  assert.equal(byPid.get(25158)?.changed_pages, 0);
  assert.equal(byPid.get(25159)?.changed_pages, 0);
});
