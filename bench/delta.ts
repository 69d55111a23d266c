/**
 * Delta benchmark: `node --import tsx bench/delta.ts` (or `npm run bench:delta`); `--quick`: 1 GiB only.
 *
 * For 1 GiB and then 4 GiB (4 GiB needs ~11 GiB free; with less only 1 GiB is run, and it says so):
 * writes two full dumps of one process into a temporary directory on the disk of os.tmpdir()
 * (pagemap in 256-page entries as CRIU writes them, flags 6, + pages-1.img), the child differing
 * from the parent in 10% of its pages, in scattered runs of 1..32 pages, and `sync`s them. Then,
 * with the page cache warm for both (cat runs once first):
 *
 *   - the baseline `cat PARENT/pages-*.img CHILD/pages-*.img > /dev/null` (best of 2), which reads
 *     exactly what delta has to read;
 *   - `delta` in-process (best of 2; the output is removed between runs; its pages file is written
 *     and fsynced, as always), in a process of its own (this file with `--measure`) so that its
 *     peak RSS is delta's alone;
 *
 * and prints the throughput of each in GiB/s of child pages (and the CPU seconds each used, which
 * say more than wall time on a busy machine), the ratio delta / cat time (goal:
 * within 2x of cat, and >= 1 GiB/s), and the peak RSS (process.resourceUsage().maxRSS) of the
 * delta process for each size, which must not grow with the dump size. For scale it also times
 * writing and fsyncing as many bytes as delta keeps: delta's output is durable when it returns,
 * so on a slow disk that write, not the comparison, bounds its time. Generated data is deleted at the end (also on
 * error or Ctrl-C).
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePagemapChunks, PagemapEntries } from '../src/engine/layer-writer.js';
import { PAGE_SIZE, PE_LAZY, PE_PRESENT } from '../src/image/pagemap.js';
import { delta } from '../src/ops/delta.js';
import { openStackDir } from '../src/source/open.js';
import { rng } from './gen.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SERIES1 = join(ROOT, 'test', 'fixtures', 'criu-4.2', 'series', '1');
const GiB = 1024 ** 3;
const GEN_CHUNK = 8 << 20;

/** Marks ~10% of the pages as changed, in runs of 1..32 pages at random places. */
function changedPages(nPages: number, rand: () => number): { changed: Uint8Array; count: number } {
  const changed = new Uint8Array(nPages);
  let count = 0;
  while (count < nPages / 10) {
    const len = 1 + Math.floor(rand() * 32);
    const at = Math.floor(rand() * (nPages - len));
    for (let p = at; p < at + len; p++) {
      if (!changed[p]) {
        changed[p] = 1;
        count++;
      }
    }
  }
  return { changed, count };
}

/** Writes a full dump of `nPages` pages; with `changed`, those pages get other bytes. */
async function writeDump(
  dir: string,
  nPages: number,
  pool: Buffer,
  changed: Uint8Array | null,
): Promise<void> {
  mkdirSync(dir);
  for (const f of readdirSync(SERIES1)) {
    if (!/^(pagemap-|pages-|expected)/.test(f)) cpSync(join(SERIES1, f), join(dir, f));
  }
  const entries = new PagemapEntries();
  const base = 0x7f0000000000 / PAGE_SIZE;
  for (let p = 0, i = 0; p < nPages; p += 256, i++)
    entries.push(i, base + p, Math.min(256, nPages - p), PE_LAZY | PE_PRESENT);
  writeFileSync(join(dir, 'pagemap-4242.img'), Buffer.concat([...encodePagemapChunks(1, entries)]));
  const fh = await open(join(dir, 'pages-1.img'), 'w');
  try {
    const buf = Buffer.allocUnsafe(GEN_CHUNK);
    const per = GEN_CHUNK / PAGE_SIZE;
    for (let p = 0; p < nPages; p += per) {
      const n = Math.min(per, nPages - p);
      // distinct pages: a slice of a random pool, stamped with the page number
      const from = ((p * 7919) % (pool.length / PAGE_SIZE - per)) * PAGE_SIZE;
      pool.copy(buf, 0, from, from + n * PAGE_SIZE);
      for (let k = 0; k < n; k++) {
        buf.writeUInt32LE(p + k, k * PAGE_SIZE);
        if (changed?.[p + k]) buf.writeUInt32LE(0xdeadbeef, k * PAGE_SIZE + 2048);
      }
      await fh.write(buf, 0, n * PAGE_SIZE, p * PAGE_SIZE);
    }
  } finally {
    await fh.close();
  }
}

/** Wall and CPU seconds (user + system) of the cat baseline. */
function timeCat(parent: string, child: string): { wall: number; cpu: number } {
  if (!statSync('/dev/null').isCharacterDevice()) {
    throw new Error('/dev/null is not the null device here: refusing to cat gigabytes into it');
  }
  const t0 = performance.now();
  const r = spawnSync(
    'bash',
    ['-c', `cat "${parent}"/pages-*.img "${child}"/pages-*.img > /dev/null; times`],
    {
      encoding: 'utf8',
    },
  );
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`cat failed: ${r.stderr}`);
  // `times`: shell user/sys, then children user/sys, as "0m0.001s 0m0.210s"
  const sec = (t: string) => {
    const m = /(\d+)m([\d.]+)s/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  const cpu = line.split(/\s+/).reduce((a, t) => a + sec(t), 0);
  return { wall, cpu };
}

const fmt = (x: number, d = 2) => x.toFixed(d);

/** Seconds to write `bytes` (4 MiB at a time) to a new file and fsync it. */
async function timeDurableWrite(path: string, bytes: number): Promise<number> {
  const buf = Buffer.alloc(4 << 20, 0x5a);
  const t0 = performance.now();
  const fh = await open(path, 'w');
  try {
    for (let at = 0; at < bytes; at += buf.length)
      await fh.write(buf, 0, Math.min(buf.length, bytes - at), at);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const t = (performance.now() - t0) / 1000;
  rmSync(path, { force: true });
  return t;
}

async function runSize(work: string, bytes: number): Promise<void> {
  const nPages = bytes / PAGE_SIZE;
  const rand = rng(42);
  const pool = Buffer.allocUnsafe(64 << 20);
  for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE(Math.floor(rand() * 2 ** 32), i);
  const { changed, count } = changedPages(nPages, rand);
  const dir = join(work, `${bytes / GiB}g`);
  mkdirSync(dir);
  const P = join(dir, 'parent');
  const C = join(dir, 'child');
  const O = join(dir, 'out');
  const tg = performance.now();
  await writeDump(P, nPages, pool, null);
  await writeDump(C, nPages, pool, changed);
  console.log(
    `\n${bytes / GiB} GiB dumps: ${nPages.toLocaleString('en-US')} pages each, ${count.toLocaleString('en-US')} changed (${fmt((100 * count) / nPages, 1)}%), written in ${fmt((performance.now() - tg) / 1000, 1)} s`,
  );
  // the generated files are still being written back; flush them so they do not slow down the
  // fsync of delta's output (cat does not fsync)
  const ts = performance.now();
  spawnSync('sync');
  console.log(`  (sync of the generated data: ${fmt((performance.now() - ts) / 1000, 1)} s)`);
  timeCat(P, C); // warm the page cache
  const cats = [timeCat(P, C), timeCat(P, C)];
  const tCat = Math.min(...cats.map((c) => c.wall));
  const cCat = Math.min(...cats.map((c) => c.cpu));
  // delta runs in a process of its own, so that its peak RSS is delta's alone
  const m = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--measure', P, C, O],
    {
      encoding: 'utf8',
      cwd: ROOT,
    },
  );
  if (m.status !== 0) throw new Error(`delta run failed: ${m.stderr}`);
  const measured = JSON.parse(m.stdout.trim().split('\n').pop()!) as Measured;
  const { wall: tDelta, cpu: cDelta, result } = measured;
  const gib = bytes / GiB;
  console.log(
    `  cat parent+child pages   ${fmt(tCat, 3)} s  ${fmt(gib / tCat)} GiB/s of child pages  (CPU ${fmt(cCat, 3)} s)`,
  );
  console.log(
    `  delta (in-process)       ${fmt(tDelta, 3)} s  ${fmt(gib / tDelta)} GiB/s of child pages  (CPU ${fmt(cDelta, 3)} s, all threads)`,
  );
  console.log(`  ratio delta / cat        ${fmt(tDelta / tCat)}x wall time  [goal: <= 2x cat, >= 1 GiB/s]`);
  console.log(
    `  result: ${result.pagesKept.toLocaleString('en-US')} pages kept, ${result.pagesShared.toLocaleString('en-US')} shared, ${result.entries.toLocaleString('en-US')} entries`,
  );
  if (result.pagesKept !== count) throw new Error(`expected ${count} pages kept, got ${result.pagesKept}`);
  const tWrite = await timeDurableWrite(join(dir, 'write-test'), result.bytesAfter);
  console.log(
    `  for scale: writing + fsyncing the ${fmt(result.bytesAfter / 2 ** 20, 0)} MiB delta keeps takes ${fmt(tWrite, 3)} s here (delta must do that too)`,
  );
  console.log(
    `  peak RSS of the delta process: ${fmt(measured.maxRss / 1024, 1)} MiB (${fmt(measured.rssBefore / 1024, 1)} MiB of it before delta started: node + tsx)`,
  );
  rmSync(dir, { recursive: true, force: true });
}

interface Measured {
  wall: number;
  cpu: number;
  rssBefore: number;
  maxRss: number;
  result: Awaited<ReturnType<typeof delta>>;
}

/** `--measure P C O`: delta in this process, best of 2 (the output removed before each run). */
async function measure(P: string, C: string, O: string): Promise<void> {
  const rssBefore = process.resourceUsage().maxRSS;
  let wall = Number.POSITIVE_INFINITY;
  let cpu = Number.POSITIVE_INFINITY;
  let result: Measured['result'] | null = null;
  for (let i = 0; i < 2; i++) {
    rmSync(O, { recursive: true, force: true });
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const ps = await openStackDir(P);
    const cs = await openStackDir(C);
    try {
      result = await delta(ps, cs, { out: O });
    } finally {
      await cs.close();
      await ps.close();
    }
    const c = process.cpuUsage(c0);
    wall = Math.min(wall, (performance.now() - t0) / 1000);
    cpu = Math.min(cpu, (c.user + c.system) / 1e6);
  }
  const out: Measured = { wall, cpu, rssBefore, maxRss: process.resourceUsage().maxRSS, result: result! };
  console.log(JSON.stringify(out));
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pagestack-bench-delta-'));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const st = statfsSync(work);
    const free = st.bavail * st.bsize;
    // `--quick`: 1 GiB only (for profiling; the full run is 1 GiB then 4 GiB)
    const quick = process.argv.includes('--quick');
    const sizes = quick || free <= 11 * GiB ? [1 * GiB] : [1 * GiB, 4 * GiB];
    console.log(`node ${process.version}; data in ${work}; ${fmt(free / GiB, 1)} GiB free`);
    if (sizes.length === 1 && !quick)
      console.log('less than 11 GiB free: running 1 GiB only (4 GiB needs ~11 GiB)');
    for (const s of sizes) await runSize(work, s);
  } finally {
    cleanup();
  }
}

if (process.argv[2] === '--measure') await measure(process.argv[3]!, process.argv[4]!, process.argv[5]!);
else await main();
