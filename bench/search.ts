/**
 * Search benchmark: `node --import tsx bench/search.ts [SIZE] [--layers N] [--chunk-kib K]` (default
 * 1G, 3 layers, searchStack's default chunk).
 *
 * Generates (bench/gen.ts) a stack of one process with SIZE bytes of private memory, writes the
 * process's memory as read through the stack into one flat file, then times in the same run:
 *   - baseline: `LC_ALL=C grep -c -F NEEDLE FILE` over that file (a separate process);
 *   - pagestack: searchStack (src/ops/search.ts) for the same literal over the stack, in process.
 * Both see page-cached input. Prints both best rates and the ratio pagestack / grep (goal >= 0.7):
 * the median of 7 rounds, each timing grep and pagestack back to back in alternating order
 * (interleaved: load on the shared machine hits both alike); and the ratio of their CPU times
 * (user + system; grep's from the shell's `times`), less sensitive to load than wall time. The generator's pages never hold the needle, so both scan everything (counts 0).
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
const sizeArg = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--')) ?? '1G';
const layersIdx = args.indexOf('--layers');
const layers = layersIdx >= 0 ? Number(args[layersIdx + 1]) : 3;
const chunkIdx = args.indexOf('--chunk-kib');
const chunkSize = chunkIdx >= 0 ? Number(args[chunkIdx + 1]) * 1024 : undefined;
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
  const rounds = 7;
  const grepTimes: number[] = [];
  const oursTimes: number[] = [];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  let grepCount = '';
  let oursCount = 0;
  // grep under `sh -c '...; times'`: the shell's `times` prints its children's user and system
  // CPU time (10 ms ticks), which load on the shared machine changes far less than wall time
  const runGrep = (): { wall: number; cpu: number | null } => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('sh', ['-c', 'LC_ALL=C grep -c -F "$0" "$1"; times', NEEDLE, flat], {
      encoding: 'utf8',
    });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const lines = r.stdout.trim().split('\n');
    grepCount = lines[0] ?? '';
    const secs = [...(lines[2] ?? '').matchAll(/(\d+)m([\d.]+)s/g)].map(
      (x) => Number(x[1]) * 60 + Number(x[2]),
    );
    return { wall, cpu: secs.length === 2 ? secs[0]! + secs[1]! : null };
  };
  const runOurs = async (): Promise<{ wall: number; cpu: number }> => {
    let n = 0;
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await searchStack(stack, pattern, { onMatch: () => n++, chunkSize });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    oursCount = n;
    return { wall, cpu: (c.user + c.system) / 1e6 };
  };
  for (let i = 0; i < rounds; i++) {
    // interleaved, and the order alternates (ABBA...): neither always runs first
    let gr: { wall: number; cpu: number | null };
    let ou: { wall: number; cpu: number };
    if (i % 2 === 0) {
      gr = runGrep();
      ou = await runOurs();
    } else {
      ou = await runOurs();
      gr = runGrep();
    }
    grepTimes.push(gr.wall);
    oursTimes.push(ou.wall);
    ratios.push(gr.wall / ou.wall);
    if (gr.cpu !== null) cpuRatios.push(gr.cpu / ou.cpu);
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
  if (cpuRatios.length > 0) {
    console.log(
      `CPU time ratio (grep user+sys / pagestack user+sys): ${median(cpuRatios).toFixed(2)}x median; rounds ${cpuRatios.map((x) => x.toFixed(2)).join(' ')}`,
    );
  }
  console.log(
    `ratio pagestack / grep: ${median(ratios).toFixed(2)}x median of ${rounds} interleaved rounds (goal >= 0.7); rounds ${ratios.map((x) => x.toFixed(2)).join(' ')}; load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
} finally {
  cleanup();
}
