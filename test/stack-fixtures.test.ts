/**
 * The stack reader against the real CRIU 4.2 fixtures: every patterned byte reads back as the
 * pattern formula says, the series stack reads exactly like the full dumps, lazy pages are
 * reported and refused, shared memory reads the same from every process, and counts match
 * expected.json.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MemoryAccessError } from '../src/errors.js';
import { decodePagemap, PAGE_SIZE } from '../src/image/pagemap.js';
import { processMaps } from '../src/ops/maps.js';
import { summarizeStack } from '../src/ops/summary.js';
import { verifyStack } from '../src/ops/verify.js';
import { DirLayerSource } from '../src/source/dir.js';
import { openStackDir } from '../src/source/open.js';
import { LAZY } from '../src/stack/resolve.js';
import { type Expected, expectedOf, FIX } from './helpers/fixtures.js';

/**
 * Checks that `bytes` (read at address `addr`) hold u64_le(A ^ seed) for each 8-byte word at A;
 * `valueBase` shifts A for shared memory (value address = valueBase + offset). Returns the first
 * bad address or -1.
 */
function firstBadWord(bytes: Uint8Array, addr: number, seed: bigint, valueBase = addr): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const seedLo = Number(seed & 0xffffffffn);
  const seedHi = Number(seed >> 32n);
  for (let off = 0; off + 8 <= bytes.length; off += 8) {
    const a = valueBase + off;
    const lo = ((a % 0x1_0000_0000) ^ seedLo) >>> 0;
    const hi = (Math.floor(a / 0x1_0000_0000) ^ seedHi) >>> 0;
    if (dv.getUint32(off, true) !== lo || dv.getUint32(off + 4, true) !== hi) return addr + off;
  }
  return -1;
}

const PLAIN = ['single', 'tree', 'lazy', 'pageserver', 'series/1', 'series/2', 'series/3'];

describe('fixtures: patterned memory reads back exactly', () => {
  for (const dir of PLAIN) {
    test(`${dir}: every pattern run, through the process and through the pagemap`, async () => {
      const exp = expectedOf(dir);
      const stack = await openStackDir(join(FIX, dir));
      try {
        let checkedPages = 0;
        for (const p of exp.processes) {
          const proc = await stack.process(p.pid);
          const priv = await stack.memory(p.pagemap);
          for (const [k, [vaddr, nr, seedHex]] of p.pattern_runs.entries()) {
            const seed = BigInt(seedHex);
            const check = p.pattern_check[k]!;
            if (check.pages_not_present_lazy === nr) {
              // lazy: refused with reason 'lazy' at the first byte; zeros with zero:true
              await assert.rejects(proc.read(vaddr + 100, 10), (e: unknown) => {
                assert.ok(e instanceof MemoryAccessError);
                assert.equal(e.reason, 'lazy');
                assert.equal(e.address, vaddr + 100);
                return true;
              });
              const z = await proc.read(vaddr, nr * PAGE_SIZE, { zero: true });
              assert.ok(z.every((b) => b === 0));
              continue;
            }
            assert.equal(check.pages_matching, nr);
            const viaProc = await proc.read(vaddr, nr * PAGE_SIZE);
            assert.equal(
              firstBadWord(viaProc, vaddr, seed),
              -1,
              `${dir} pid ${p.pid} run ${vaddr.toString(16)}`,
            );
            const viaPagemap = priv.readSync(vaddr, nr * PAGE_SIZE);
            assert.deepEqual(viaPagemap, viaProc);
            checkedPages += nr;
          }
        }
        if (dir !== 'lazy') assert.ok(checkedPages > 0);
      } finally {
        await stack.close();
      }
    });
  }

  test('single: unaligned reads across page and entry boundaries match the formula', async () => {
    const stack = await openStackDir(join(FIX, 'single'));
    try {
      const proc = await stack.process(24588);
      const seed = 0xa100000000000000n;
      for (const [addr, len] of [
        [0x100000000ff8, 0x20],
        [0x100000000003, 13],
        [0x1000000fff00, 0x100],
        [0x100000000000, 1 << 20],
      ] as const) {
        const bytes = await proc.read(addr, len);
        const start = addr - (addr % 8);
        const full = await proc.read(start, Math.ceil((addr + len - start) / 8) * 8);
        assert.equal(firstBadWord(full, start, seed), -1);
        assert.deepEqual(bytes, full.subarray(addr - start, addr - start + len));
      }
      // the sparse region: pages 0,4,8,... are dumped, the others are not
      const seed2 = 0xa200000000000000n;
      const p4 = await proc.read(0x100040000000 + 4 * PAGE_SIZE, PAGE_SIZE);
      assert.equal(firstBadWord(p4, 0x100040000000 + 4 * PAGE_SIZE, seed2), -1);
      await assert.rejects(proc.read(0x100040000000 + PAGE_SIZE - 4, 8), (e: unknown) => {
        assert.ok(e instanceof MemoryAccessError);
        assert.equal(e.reason, 'not-dumped');
        assert.equal(e.address, 0x100040000000 + PAGE_SIZE);
        return true;
      });
      const mixed = await proc.read(0x100040000000, 8 * PAGE_SIZE, { zero: true });
      assert.equal(firstBadWord(mixed.subarray(0, PAGE_SIZE), 0x100040000000, seed2), -1);
      assert.ok(mixed.subarray(PAGE_SIZE, 4 * PAGE_SIZE).every((b) => b === 0));
      // an address no VMA covers
      await assert.rejects(proc.read(0x1000, 1), (e: unknown) => {
        assert.ok(e instanceof MemoryAccessError);
        assert.equal(e.reason, 'unmapped');
        return true;
      });
    } finally {
      await stack.close();
    }
  });

  test('absent_check ranges have no pagemap entry: reads fail with not-dumped', async () => {
    for (const dir of ['single', 'lazy', 'pageserver']) {
      const exp = expectedOf(dir);
      const stack = await openStackDir(join(FIX, dir));
      try {
        for (const p of exp.processes) {
          const proc = await stack.process(p.pid);
          for (const [vaddr, nr] of p.absent_check.ranges) {
            await assert.rejects(proc.read(vaddr, nr * PAGE_SIZE), (e: unknown) => {
              assert.ok(e instanceof MemoryAccessError, String(e));
              assert.equal(e.reason, 'not-dumped');
              assert.equal(e.address, vaddr);
              return true;
            });
          }
        }
      } finally {
        await stack.close();
      }
    }
  });
});

describe('fixtures: counts and checksums equal expected.json', () => {
  for (const dir of PLAIN) {
    test(dir, async () => {
      const exp = expectedOf(dir);
      const stack = await openStackDir(join(FIX, dir));
      try {
        const procs = await stack.processes();
        assert.deepEqual(
          procs.map((p) => ({ pid: p.pid, ppid: p.ppid, threads: p.threads })),
          exp.pstree.map((p) => ({ pid: p.pid, ppid: p.ppid, threads: p.threads })),
        );
        const all = [
          ...exp.processes.map((p) => ({ ...p, shm: false })),
          ...(exp.shmem ?? []).map((s) => ({ ...s, shm: true })),
        ];
        for (const p of all) {
          const cols = decodePagemap(readFileSync(join(FIX, dir, p.pagemap)));
          assert.equal(cols.pagesId, p.pages_id);
          assert.equal(cols.count, p.n_entries);
          let total = 0;
          let present = 0;
          for (let i = 0; i < cols.count; i++) {
            total += cols.nrPages[i]!;
            if (cols.flags[i]! & 4) present += cols.nrPages[i]!;
          }
          assert.equal(total, p.total_pages);
          assert.equal(present, p.present_pages);
          const r = await stack.resolve(p.pagemap);
          let dumped = 0;
          let lazy = 0;
          for (let i = 0; i < r.extents.count; i++) {
            const n = r.extents.end[i]! - r.extents.start[i]!;
            if (r.extents.layer[i] === LAZY) lazy += n;
            else dumped += n;
          }
          assert.equal(dumped, p.present_pages);
          assert.equal(lazy, p.total_pages - p.present_pages);
          assert.equal(r.perLayer[0]!.presentPages, p.present_pages);
          // every PRESENT entry's bytes, read through the stack, hash as expected
          const mem = await stack.memory(p.pagemap);
          const whole = createHash('sha256');
          if (!p.shm) {
            const pp = p as Expected['processes'][number];
            assert.deepEqual(
              Array.from({ length: cols.count }, (_, i) => [
                cols.vpage[i]! * PAGE_SIZE,
                cols.nrPages[i]!,
                cols.flags[i]!,
              ]),
              pp.entries,
            );
            for (let i = 0; i < cols.count; i++) {
              if (!(cols.flags[i]! & 4)) {
                assert.equal(pp.entry_sha256[i], null);
                continue;
              }
              const bytes = mem.readSync(cols.vpage[i]! * PAGE_SIZE, cols.nrPages[i]! * PAGE_SIZE);
              assert.equal(createHash('sha256').update(bytes).digest('hex'), pp.entry_sha256[i]);
              whole.update(bytes);
            }
          } else {
            for (let i = 0; i < cols.count; i++) {
              if (cols.flags[i]! & 4)
                whole.update(mem.readSync(cols.vpage[i]! * PAGE_SIZE, cols.nrPages[i]! * PAGE_SIZE));
            }
          }
          assert.equal(whole.digest('hex'), p.present_sha256);
        }
        // show's numbers agree
        const s = await summarizeStack(stack);
        assert.equal(s.layers.length, 1);
        assert.equal(s.layers[0]!.deduplicated, false);
        const pagesFiles = new Map(all.map((p) => [`pages-${p.pages_id}.img`, p.pages_file_size]));
        assert.deepEqual(new Map(s.layers[0]!.pagesFiles.map((f) => [f.file, f.size])), pagesFiles);
        for (const p of exp.processes) {
          const ps = s.processes.find((x) => x.pid === p.pid)!;
          assert.equal(ps.memory!.dumpedPages, p.present_pages);
          assert.equal(ps.memory!.lazyPages, p.total_pages - p.present_pages);
          assert.equal(ps.memory!.perLayer[0]!.held, p.present_pages);
        }
        assert.equal(s.shmem.length, exp.shmem?.length ?? 0);
      } finally {
        await stack.close();
      }
    });
  }

  test('pageserver: pages_id 65537 names pages-65537.img, which the reader uses', async () => {
    const stack = await openStackDir(join(FIX, 'pageserver'));
    try {
      const cols = await stack.pagemapColumns('pagemap-25377.img', 0);
      assert.equal(cols!.pagesId, 65537);
      const f = await stack.pagesFile('pagemap-25377.img', 0);
      assert.equal(f!.size, 2_220_032);
      const proc = await stack.process(await stack.pickPid());
      const bytes = await proc.read(0x100000000000, 256 * PAGE_SIZE);
      assert.equal(firstBadWord(bytes, 0x100000000000, 0xa100000000000000n), -1);
    } finally {
      await stack.close();
    }
  });
});

describe('fixtures: lazy/', () => {
  test('show and maps report the lazy pages; reads refuse them unless zero', async () => {
    const stack = await openStackDir(join(FIX, 'lazy'));
    try {
      const s = await summarizeStack(stack);
      const p = s.processes[0]!;
      assert.equal(p.pid, 25494);
      assert.equal(p.memory!.lazyPages, 526);
      assert.equal(p.memory!.dumpedPages, 15);
      assert.equal(p.memory!.perLayer[0]!.lazy, 526);
      assert.equal(s.totals.lazyPages, 526);
      const m = await processMaps(stack, 25494);
      assert.equal(m.totals.lazy, 526);
      assert.equal(m.totals.dumped, 15);
      const dense = m.vmas.find((v) => v.start === 0x100000000000)!;
      assert.equal(dense.lazy, 256);
      assert.equal(dense.dumped, 0);
      const sparse = m.vmas.find((v) => v.start === 0x100040000000)!;
      assert.deepEqual([sparse.lazy, sparse.dumped, sparse.notDumped], [256, 0, 768]);
      const proc = await stack.process(25494);
      await assert.rejects(
        proc.read(0x100000000000, 1),
        (e: unknown) => e instanceof MemoryAccessError && e.reason === 'lazy',
      );
      const z = await proc.read(0x100000000000, 3 * PAGE_SIZE, { zero: true });
      assert.ok(z.every((b) => b === 0));
      // the present (file-backed, vdso) pages of lazy/ still read
      const priv = await stack.memory('pagemap-25494.img');
      const x = priv.extents;
      let present = 0;
      for (let i = 0; i < x.count; i++) {
        if (x.layer[i] === LAZY) continue;
        present += x.end[i]! - x.start[i]!;
        const b = priv.readSync(x.start[i]! * PAGE_SIZE, (x.end[i]! - x.start[i]!) * PAGE_SIZE);
        assert.equal(b.length, (x.end[i]! - x.start[i]!) * PAGE_SIZE);
      }
      assert.equal(present, 15);
    } finally {
      await stack.close();
    }
  });
});

describe('fixtures: tree/ shared memory', () => {
  test('0x200000000000 reads the same from all three processes, via memfd -> shmem pagemap', async () => {
    const exp = expectedOf('tree');
    const shm = exp.shmem![0]!;
    assert.equal(shm.mapped_at, 0x200000000000);
    const [, nr, seedHex] = shm.pattern_runs[0]!;
    const stack = await openStackDir(join(FIX, 'tree'));
    try {
      const reads: Uint8Array[] = [];
      for (const pid of [25155, 25158, 25159]) {
        const proc = await stack.process(pid);
        const v = proc.vmaAt(0x200000000000)!;
        assert.equal(await stack.shmemPagemapFor(v), 'pagemap-shmem-250.img');
        const bytes = await proc.read(0x200000000000, nr * PAGE_SIZE);
        assert.equal(firstBadWord(bytes, 0x200000000000, BigInt(seedHex)), -1);
        reads.push(bytes);
        // unaligned, crossing pages
        const part = await proc.read(0x200000000ffd, 7);
        assert.deepEqual(part, bytes.subarray(0xffd, 0xffd + 7));
      }
      assert.deepEqual(reads[0], reads[1]);
      assert.deepEqual(reads[0], reads[2]);
      // the shmem pagemap itself: offsets from 0, values of the mapped address
      const mem = await stack.memory('pagemap-shmem-250.img');
      const raw = mem.readSync(0, nr * PAGE_SIZE);
      assert.equal(firstBadWord(raw, 0, BigInt(seedHex), 0x200000000000), -1);
      // no process pagemap has entries for the shared region
      for (const pid of [25155, 25158, 25159]) {
        const priv = await stack.memory(`pagemap-${pid}.img`);
        assert.throws(() => priv.readSync(0x200000000000, 1), MemoryAccessError);
      }
      // maps counts the shared pages against the shmem pagemap
      const m = await processMaps(stack, 25158);
      const v = m.vmas.find((x) => x.start === 0x200000000000)!;
      assert.equal(v.shmem, 'pagemap-shmem-250.img');
      assert.equal(v.perms, 'rw-s');
      assert.equal(v.dumped, 64);
      const s = await summarizeStack(stack);
      assert.deepEqual(s.shmem[0]!.mappedBy, [25155, 25158, 25159]);
      assert.deepEqual(
        s.processes.map((p) => [p.pid, p.comm, p.threads.length]),
        [
          [25155, 'tree', 1],
          [25158, 'tree', 1],
          [25159, 'tree', 2],
        ],
      );
      // child patterns
      for (const p of exp.processes) {
        const proc = await stack.process(p.pid);
        for (const [vaddr, n, sd] of p.pattern_runs) {
          assert.equal(firstBadWord(await proc.read(vaddr, n * PAGE_SIZE), vaddr, BigInt(sd)), -1);
        }
      }
    } finally {
      await stack.close();
    }
  });
});

describe('fixtures: series-stack reads like the full dumps', () => {
  for (const n of [2, 3]) {
    test(`series-stack/${n} == series/${n}, page for page over every dumped page`, async () => {
      const full = await openStackDir(join(FIX, 'series', String(n)));
      const stack = await openStackDir(join(FIX, 'series-stack', String(n)));
      try {
        assert.equal(stack.layers.length, n);
        const file = 'pagemap-25238.img';
        const a = await full.memory(file);
        const b = await stack.memory(file);
        // the same pages are dumped
        const pagesOf = (x: typeof a.extents): number[] => {
          const out: number[] = [];
          for (let i = 0; i < x.count; i++) for (let p = x.start[i]!; p < x.end[i]!; p++) out.push(p);
          return out;
        };
        const pa = pagesOf(a.extents);
        assert.deepEqual(pagesOf(b.extents), pa);
        assert.equal(pa.length, 606);
        for (const p of pa) {
          assert.deepEqual(
            b.readSync(p * PAGE_SIZE, PAGE_SIZE),
            a.readSync(p * PAGE_SIZE, PAGE_SIZE),
            `page ${p.toString(16)}`,
          );
        }
        // one big read across everything, through the process (VMAs), equals too
        const pf = await full.process(25238);
        const ps = await stack.process(25238);
        for (const v of pf.vmas) {
          const len = v.end - v.start;
          if (len > 64 << 20) continue;
          assert.deepEqual(
            await ps.read(v.start, len, { zero: true }),
            await pf.read(v.start, len, { zero: true }),
          );
        }
        // the pattern of the last dump
        const exp = expectedOf(`series/${n}`);
        for (const [vaddr, nr, seed] of exp.processes[0]!.pattern_runs) {
          const bytes = await ps.read(vaddr, nr * PAGE_SIZE);
          assert.equal(firstBadWord(bytes, vaddr, BigInt(seed)), -1);
        }
      } finally {
        await full.close();
        await stack.close();
      }
    });
  }

  test('series-stack/3: per-layer counts as the fixture README says', async () => {
    const stack = await openStackDir(join(FIX, 'series-stack', '3'));
    try {
      const s = await summarizeStack(stack);
      assert.deepEqual(
        s.layers.map((l) => l.size),
        [540_672, 278_528, 2_482_176],
      );
      const per = s.processes[0]!.memory!.perLayer;
      assert.deepEqual(
        per.map((l) => [l.held, l.fromBelow, l.lazy]),
        [
          [132, 474, 0],
          [68, 538, 0],
          [606, 0, 0],
        ],
      );
      assert.equal(
        per.reduce((t, l) => t + l.used, 0),
        606,
      );
      assert.equal(per[0]!.used, 132);
      assert.ok(s.layers.every((l) => !l.deduplicated));
    } finally {
      await stack.close();
    }
  });
});

describe('fixtures: verify is clean', () => {
  for (const dir of [...PLAIN, 'series-stack/1', 'series-stack/2', 'series-stack/3']) {
    test(dir, async () => {
      const r = await verifyStack(await DirLayerSource.open(join(FIX, dir)));
      assert.deepEqual(r.problems, []);
      assert.equal(r.ok, true);
      assert.equal(r.layers.length, dir.startsWith('series-stack/') ? Number(dir.slice(-1)) : 1);
    });
  }
});

describe('fixtures: batch reads through a process', () => {
  test('tree/: readManySync (all-private fast path and mixed with shared memory) equals single reads', async () => {
    const stack = await openStackDir(join(FIX, 'tree'));
    try {
      const proc = await stack.process(25158);
      const shared = proc.vmas.filter((v) => proc.shared.has(v));
      const priv = proc.vmas.filter((v) => !proc.shared.has(v));
      assert.ok(shared.length > 0 && priv.length > 0);
      let seed = 12345;
      const rand = (n: number): number => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed % n;
      };
      const pick = (vs: typeof proc.vmas, len: number): number => {
        const v = vs[rand(vs.length)]!;
        return v.start + rand(Math.max(1, v.end - v.start - len + 1));
      };
      for (const len of [PAGE_SIZE, 100, 2 * PAGE_SIZE + 3]) {
        for (const mixed of [false, true]) {
          const addrs: number[] = [];
          for (let k = 0; k < 300; k++) {
            const prev = addrs[addrs.length - 1];
            const r = rand(10);
            // neighbours (continuing the previous read, or a page on), repeats, fresh picks
            if (prev !== undefined && r < 2) addrs.push(prev + len);
            else if (prev !== undefined && r < 3) addrs.push(prev);
            else if (prev !== undefined && r < 4) addrs.push(prev + PAGE_SIZE);
            else addrs.push(pick(mixed && r < 6 ? shared : priv, len));
          }
          const want = new Uint8Array(addrs.length * len);
          addrs.forEach((a, k) => {
            want.set(proc.readSync(a, len, { zero: true }), k * len);
          });
          const got = proc.readManySync(addrs, len, { zero: true });
          assert.ok(Buffer.compare(got, want) === 0, `len ${len}${mixed ? ' mixed' : ''}: batch differs`);
          const into = new Uint8Array(addrs.length * len + 5).fill(0xee);
          proc.readManySync(addrs, len, { zero: true, out: into });
          assert.ok(Buffer.compare(into.subarray(0, want.length), want) === 0);
          assert.deepEqual([...into.subarray(want.length)], [0xee, 0xee, 0xee, 0xee, 0xee]);
        }
      }
      // a failing address fails the batch with the error its single read gives
      const last = proc.vmas[proc.vmas.length - 1]!;
      const bad = [priv[0]!.start, last.end + 0x10000, priv[0]!.start];
      let single: unknown;
      try {
        proc.readSync(bad[1]!, 8);
      } catch (e) {
        single = e;
      }
      assert.ok(single instanceof MemoryAccessError);
      assert.throws(
        () => proc.readManySync(bad, 8),
        (e: unknown) =>
          e instanceof MemoryAccessError && e.reason === single.reason && e.address === single.address,
      );
    } finally {
      await stack.close();
    }
  });
});

describe('directory source: scattered reads', () => {
  test('readvSync fills the buffers in turn from one position, short only at the end of the file', async () => {
    const src = await DirLayerSource.open(join(FIX, 'single'));
    const name = (await src.list()).find((f) => /^pages-\d+\.img$/.test(f))!;
    const file = (await src.open(name))!;
    try {
      const all = readFileSync(join(FIX, 'single', name));
      assert.ok(all.length > 3 * PAGE_SIZE);
      const bufs = [new Uint8Array(10), new Uint8Array(PAGE_SIZE), new Uint8Array(1)];
      assert.equal(file.readvSync!(bufs, 4090), PAGE_SIZE + 11);
      assert.deepEqual(Buffer.concat(bufs), all.subarray(4090, 4090 + PAGE_SIZE + 11));
      // across the end: the bytes that are there
      const tail = [new Uint8Array(7), new Uint8Array(20)];
      assert.equal(file.readvSync!(tail, all.length - 9), 9);
      assert.deepEqual(Buffer.from(tail[0]!), all.subarray(all.length - 9, all.length - 2));
      assert.deepEqual(Buffer.from(tail[1]!.subarray(0, 2)), all.subarray(all.length - 2));
      assert.equal(file.readvSync!([new Uint8Array(4)], all.length), 0);
    } finally {
      await file.close();
    }
  });
});
