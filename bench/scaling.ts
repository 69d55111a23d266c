/**
 * Scaling benchmark: `node --import tsx bench/scaling.ts [--quick]` (or `npm run bench -- scaling`).
 *
 * How the cost of resolving a pagemap grows, each case in a fresh process (cold: nothing cached,
 * no JIT warm-up) that opens the stack and resolves the top pagemap (read + decode of every layer's
 * pagemap it needs, then the resolution to extents):
 *
 *   - layers: stacks of 1, 8, 64 and 256 layers of a 16 MiB process (bench/gen.ts: a full dump at
 *     the bottom, each upper layer rewriting 10-20% of the pages);
 *   - entries: one layer whose pagemap has 10,000, 1,000,000 and 10,000,000 entries of one page
 *     each, a page apart (so no two merge: one extent per entry), over a sparse pages file.
 *
 * For each: resolve time (and per entry), peak RSS growth over the process before the resolve
 * (process.resourceUsage().maxRSS) and per extent. The baseline in the same run is the fresh
 * process itself (its RSS before the resolve, printed). Goal: the 10M-entry and the 256-layer cases
 * stay under 2 GiB. `--quick` stops at 64 layers and 1M entries. The load average is printed with
 * each line. The generated data is deleted at the end (also on error and Ctrl-C).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStackDir } from '../src/source/open.js';
import {
  EntryList,
  encodePagemap,
  generateStack,
  PE_LAZY_PRESENT,
  processImages,
  removeOnExit,
} from './gen.js';

const SELF = fileURLToPath(import.meta.url);
const PAGE = 4096;
const MiB = 1024 ** 2;
const QUICK = process.argv.includes('--quick');

interface Report {
  rssBeforeKiB: number;
  maxRssKiB: number;
  ms: number;
  extents: number;
  depth: number;
}

async function child(dir: string, pid: number): Promise<void> {
  const stack = await openStackDir(dir);
  const rssBeforeKiB = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  const r = await stack.resolve(`pagemap-${pid}.img`);
  const ms = performance.now() - t0;
  const rep: Report = {
    rssBeforeKiB,
    maxRssKiB: process.resourceUsage().maxRSS,
    ms,
    extents: r.extents.count,
    depth: r.depth,
  };
  await stack.close();
  process.stdout.write(JSON.stringify(rep));
}

function runChild(dir: string, pid: number): Report {
  const r = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--child', dir, String(pid)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`resolve child failed (${r.signal ?? r.status}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Report;
}

const fmt = (n: number, d = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const load = (): string => `load ${loadavg()[0]!.toFixed(2)}`;

function show(label: string, entries: number, r: Report): void {
  const grow = (r.maxRssKiB - r.rssBeforeKiB) * 1024;
  const flag = r.maxRssKiB * 1024 > 2 * 1024 * MiB ? '  OVER 2 GiB' : '';
  console.log(
    `${label.padEnd(26)} ${fmt(entries).padStart(11)} ${fmt(r.extents).padStart(11)} ${fmt(r.ms, 1).padStart(9)} ms ${fmt((r.ms * 1e6) / entries, 0).padStart(6)} ns ${fmt(r.maxRssKiB / 1024, 1).padStart(8)} MiB ${fmt(grow / MiB, 1).padStart(8)} MiB ${fmt(grow / Math.max(1, r.extents), 0).padStart(6)} B  [${load()}]${flag}`,
  );
}

/** One layer, `n` entries of one page each, a page apart; the pages file sparse. */
function entriesLayer(dir: string, n: number, pid: number): void {
  mkdirSync(dir, { recursive: true });
  const base = 0x7f00_0000_0000 / PAGE;
  const e = new EntryList();
  for (let i = 0; i < n; i++) e.push(base + 2 * i, 1, PE_LAZY_PRESENT);
  writeFileSync(join(dir, `pagemap-${pid}.img`), encodePagemap(1, e));
  const small = processImages({ pid, comm: 'bench', vmas: [[base * PAGE, (base + 2 * n) * PAGE]] });
  for (const [name, bytes] of Object.entries(small)) writeFileSync(join(dir, name), bytes);
  const fd = openSync(join(dir, 'pages-1.img'), 'w');
  ftruncateSync(fd, n * PAGE);
  closeSync(fd);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    await child(args[1]!, Number(args[2]));
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'pagestack-bench-scaling-'));
  const cleanup = removeOnExit(root);
  try {
    console.log(`scaling: resolve of the top pagemap, each case in a fresh process  [${load()}]`);
    console.log(
      `${'case'.padEnd(26)} ${'entries'.padStart(11)} ${'extents'.padStart(11)} ${'resolve'.padStart(12)} ${'/entry'.padStart(9)} ${'peak RSS'.padStart(12)} ${'growth'.padStart(12)} ${'/extent'.padStart(8)}`,
    );
    for (const layers of QUICK ? [1, 8, 64] : [1, 8, 64, 256]) {
      const where = join(root, `layers-${layers}`);
      mkdirSync(where);
      const g = await generateStack(where, { bytes: 16 * MiB, layers });
      const entries = g.entries.reduce((a, b) => a + b, 0);
      show(`${layers} layer${layers === 1 ? '' : 's'}, 16 MiB process`, entries, runChild(g.top, g.pid));
    }
    for (const n of QUICK ? [10_000, 1_000_000] : [10_000, 1_000_000, 10_000_000]) {
      const dir = join(root, `entries-${n}`);
      entriesLayer(dir, n, 4242);
      show(`1 layer, ${fmt(n)} entries`, n, runChild(dir, 4242));
    }
    console.log(
      '(peak RSS includes node + tsx, about 90-100 MiB; growth is over the process before the resolve)',
    );
  } finally {
    cleanup();
  }
}

main().catch((e) => {
  process.stderr.write(`bench/scaling: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
