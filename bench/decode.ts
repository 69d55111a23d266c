/**
 * Decode benchmark: `node --import tsx bench/decode.ts` (or `npm run bench:decode`; needs `npm run build`
 * for the end-to-end part).
 *
 * Writes a CRIU 4.2 style pagemap with 1,000,000 entries (flags 6 or 4, compat_nr_pages 0 + nr_pages,
 * increasing page-aligned addresses) into a temporary directory, then prints
 *
 *   - in-process rates (entries/s, best of several runs) of a framing-only walk over the entries (the
 *     baseline), `decodePagemap`, the generic `decodeImage` and image -> JSON text, each also as a ratio
 *     against the baseline measured in this same process;
 *   - wall time of whole processes: `node dist/cli/main.js decode F -o out.json` (best of 3) and Debian's
 *     `crit decode -i F -o out2.json` (once: it takes ~14 s), and the ratio crit / pagestack.
 *
 * Figures, not pass/fail: the goals (>= 10 M entries/s for decodePagemap, >= 20x crit end to end) are
 * printed next to them. The generated data is deleted at the end (also on error).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeImage, decodeToJsonText, forEachEntry, readFraming } from '../src/image/image.js';
import { decodePagemap } from '../src/image/pagemap.js';
import { decodeToJsonChunks } from '../src/image/pagemap-json.js';
import { makePagemap } from './pagemap-gen.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const CRIT = '/usr/bin/crit';
const N = 1_000_000;

/** Best (shortest) of `runs` timings of `fn`, in seconds. */
function best(runs: number, fn: () => void): number {
  let b = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    const t = Number(process.hrtime.bigint() - t0) / 1e9;
    if (t < b) b = t;
  }
  return b;
}

function wall(cmd: string, args: string[]): { seconds: number; status: number | null; stderr: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds, status: r.status, stderr: (r.stderr ?? '').trim() };
}

const fmtRate = (r: number): string => `${(r / 1e6).toFixed(2)} M entries/s`;
const fmtRatio = (x: number): string => `${x.toFixed(2)}x`;

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'pagestack-bench-'));
  try {
    const file = join(dir, 'pagemap-1.img');
    const buf = makePagemap(N);
    writeFileSync(file, buf);
    console.log(`pagemap: ${N.toLocaleString('en-US')} entries, ${buf.length.toLocaleString('en-US')} bytes`);
    console.log(`node ${process.version}`);

    // Baseline: walk the framing only (one u32 per entry), the floor of any decoder.
    let sink = 0;
    const { start } = readFraming(buf);
    const tBase = best(7, () => {
      sink += forEachEntry(buf, start, () => {});
    });
    const rBase = N / tBase;
    console.log(`\nin-process (best of several runs)`);
    console.log(`  baseline framing walk  ${fmtRate(rBase)}  (${(tBase * 1e3).toFixed(1)} ms)`);

    const tPm = best(7, () => {
      sink += decodePagemap(buf).count;
    });
    const rPm = N / tPm;
    console.log(
      `  decodePagemap          ${fmtRate(rPm)}  (${(tPm * 1e3).toFixed(1)} ms)  ${fmtRatio(rPm / rBase)} of baseline  [goal >= 10 M entries/s]`,
    );

    const tGen = best(3, () => {
      sink += decodeImage(buf).entries.length;
    });
    const rGen = N / tGen;
    console.log(
      `  decodeImage            ${fmtRate(rGen)}  (${(tGen * 1e3).toFixed(1)} ms)  ${fmtRatio(rGen / rBase)} of baseline, decodePagemap is ${fmtRatio(rPm / rGen)} faster`,
    );

    const tChunks = best(5, () => {
      sink += decodeToJsonChunks(buf, false).length;
    });
    const rChunks = N / tChunks;
    console.log(
      `  decodeToJsonChunks     ${fmtRate(rChunks)}  (${(tChunks * 1e3).toFixed(1)} ms)  ${fmtRatio(rChunks / rBase)} of baseline  (image -> JSON bytes, what \`decode\` runs)`,
    );

    const tJson = best(2, () => {
      sink += decodeToJsonText(buf, false).length;
    });
    const rJson = N / tJson;
    console.log(
      `  decodeToJsonText       ${fmtRate(rJson)}  (${(tJson * 1e3).toFixed(1)} ms)  ${fmtRatio(rJson / rBase)} of baseline  (the generic path), the pagemap writer is ${fmtRatio(rChunks / rJson)} faster`,
    );
    if (sink === 0) console.log('(unreachable)');

    console.log(`\nend to end (whole processes)`);
    if (!existsSync(CLI)) {
      console.log(`  ${CLI} is missing: run \`npm run build\` first`);
      return;
    }
    const out = join(dir, 'out.json');
    let tPs = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      rmSync(out, { force: true }); // a fresh file each time, as crit writes
      const r = wall(process.execPath, [CLI, 'decode', file, '-o', out]);
      if (r.status !== 0) throw new Error(`pagestack decode failed (${r.status}): ${r.stderr}`);
      tPs = Math.min(tPs, r.seconds);
    }
    console.log(
      `  pagestack decode -o    ${tPs.toFixed(3)} s  (${fmtRate(N / tPs)}, ${statSync(out).size.toLocaleString('en-US')} bytes of JSON)`,
    );
    if (!existsSync(CRIT)) {
      console.log(`  ${CRIT} not installed: no comparison`);
      return;
    }
    const out2 = join(dir, 'out2.json');
    const c = wall(CRIT, ['decode', '-i', file, '-o', out2]);
    if (c.status !== 0) throw new Error(`crit decode failed (${c.status}): ${c.stderr}`);
    console.log(
      `  crit decode -o         ${c.seconds.toFixed(3)} s  (${fmtRate(N / c.seconds)}, ${statSync(out2).size.toLocaleString('en-US')} bytes of JSON)`,
    );
    console.log(`  ratio crit / pagestack ${fmtRatio(c.seconds / tPs)}  [goal >= 20x]`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
