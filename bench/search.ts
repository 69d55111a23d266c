/**
 * Search benchmark: `node --import tsx bench/search.ts [SIZE] [--layers N]` (default 1G, 3 layers).
 *
 * Generates (bench/gen.ts) a stack of one process with SIZE bytes of private memory, writes the
 * process's memory as read through the stack into one flat file, then times in the same run:
 *   - baseline: `LC_ALL=C grep -c -F NEEDLE FILE` over that file (a separate process);
 *   - pagestack: searchStack (src/ops/search.ts) for the same literal over the stack, in process.
 * Both see page-cached input. Prints both best rates and the ratio pagestack / grep (goal >= 0.7):
 * the median of 5 rounds, each timing grep and pagestack back to back (interleaved: load on the
 * shared machine hits both alike). The generator's pages never hold the needle, so both scan everything (counts 0).
 * Figures, not pass/fail. The generated data is deleted at the end (also on error and Ctrl-C).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePattern, searchStack } from '../src/ops/search.js';
import { openStackDir } from '../src/source/open.js';
import { generateStack, removeOnExit } from './gen.js';

const args = process.argv.slice(2);
const sizeArg = args.find((a) => !a.startsWith('--')) ?? '1G';
const layersIdx = args.indexOf('--layers');
const layers = layersIdx >= 0 ? Number(args[layersIdx + 1]) : 3;
const mult: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };
const m = /^(\d+)([KMG]?)$/i.exec(sizeArg);
if (!m) throw new Error(`bad SIZE ${sizeArg}`);
const size = Number(m[1]) * (mult[m[2]!.toUpperCase()] ?? 1);
const NEEDLE = 'pagestack-search-needle';

const root = mkdtempSync(join(tmpdir(), 'pagestack-bench-search-'));
const cleanup = removeOnExit(root);
try {
  console.log(
    `search bench: ${sizeArg} process, ${layers} layers, load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  const g = await generateStack(root, { bytes: size, layers });
  const stack = await openStackDir(g.top);
  const mem = await stack.process(g.pid);
  // the flat file: the memory through the stack
  const flat = join(root, 'flat.bin');
  const fd = openSync(flat, 'w');
  const buf = Buffer.allocUnsafe(8 << 20);
  for (let off = 0; off < g.bytes; off += buf.length) {
    const n = Math.min(buf.length, g.bytes - off);
    mem.readIntoSync(buf.subarray(0, n), g.base + off);
    writeSync(fd, buf, 0, n, off);
  }
  closeSync(fd);
  // warm both inputs
  spawnSync('cat', [flat], { stdio: ['ignore', 'ignore', 'inherit'] });
  const pattern = compilePattern(NEEDLE);
  await searchStack(stack, pattern, { onMatch: () => {} });

  // interleaved: each round times grep and then pagestack back to back, so the shared machine's
  // load hits both alike; the ratio is the median of the per-round ratios
  const rounds = 5;
  const grepTimes: number[] = [];
  const oursTimes: number[] = [];
  const ratios: number[] = [];
  let grepCount = '';
  let oursCount = 0;
  for (let i = 0; i < rounds; i++) {
    let t0 = process.hrtime.bigint();
    const r = spawnSync('grep', ['-c', '-F', NEEDLE, flat], {
      env: { ...process.env, LC_ALL: 'C' },
      encoding: 'utf8',
    });
    const g = Number(process.hrtime.bigint() - t0) / 1e9;
    grepCount = r.stdout.trim();
    let n = 0;
    t0 = process.hrtime.bigint();
    await searchStack(stack, pattern, { onMatch: () => n++ });
    const o = Number(process.hrtime.bigint() - t0) / 1e9;
    oursCount = n;
    grepTimes.push(g);
    oursTimes.push(o);
    ratios.push(g / o);
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[s.length >> 1]!;
  };
  const grepBest = Math.min(...grepTimes);
  const oursBest = Math.min(...oursTimes);
  await stack.close();
  const gib = g.bytes / 1024 ** 3;
  console.log(
    `grep -c -F (flat file): ${(gib / grepBest).toFixed(2)} GiB/s (${grepBest.toFixed(3)} s, count ${grepCount})`,
  );
  console.log(
    `pagestack search:       ${(gib / oursBest).toFixed(2)} GiB/s (${oursBest.toFixed(3)} s, ${oursCount} matches)`,
  );
  console.log(
    `ratio pagestack / grep: ${median(ratios).toFixed(2)}x median of ${rounds} interleaved rounds (goal >= 0.7); rounds ${ratios.map((x) => x.toFixed(2)).join(' ')}; load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
} finally {
  cleanup();
}
