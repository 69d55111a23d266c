/**
 * Decode benchmark: `node --import tsx bench/decode.ts [--quick]` (or `npm run bench:decode`; needs
 * `npm run build` for the end-to-end part).
 *
 * Writes a CRIU 4.2 style pagemap with 1,000,000 entries (flags 6 or 4, compat_nr_pages 0 + nr_pages,
 * increasing page-aligned addresses) into a temporary directory, then prints
 *
 *   - in-process rates (entries/s, best of several runs) of a framing-only walk over the entries (the
 *     baseline), `decodePagemap`, the generic `decodeImage` and image -> JSON text, each also as a ratio
 *     against the baseline measured in this same process;
 *   - wall time of whole processes: `node dist/cli/main.js decode F -o out.json` and crit's
 *     `crit decode -i F -o out2.json`, interleaved (P C P C' P: pagestack's median of the runs around
 *     the crit runs, each crit once: it takes 10-20 s), and the ratio crit / pagestack. The crit is
 *     CRIU 4.2's (env PAGESTACK_CRIT, else ../shared/criu-4.2/bin/crit beside the repo; run with a
 *     clean environment, as pagestack is; completed into a runnable copy when its generated modules are missing,
 *     see crit42.ts), skipped with one line when there is none; Debian's /usr/bin/crit (3.17)
 *     is a second line; each crit's JSON is compared with pagestack's. `--quick` skips the crit
 *     runs.
 *
 * The machine is shared: the load average is printed with the figures, and in-process rates are
 * also given per CPU second (process.cpuUsage), which waiting for a core does not inflate.
 * Figures, not pass/fail: the goals (>= 20 M entries/s for decodePagemap, >= 50x crit 4.2 end to
 * end) are printed next to them. The generated data is deleted at the end (also on error).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeImage, decodeToJsonText, forEachEntry, readFraming } from '../src/image/image.js';
import { decodePagemap } from '../src/image/pagemap.js';
import { decodeToJsonChunks, emitJsonChunks } from '../src/image/pagemap-json.js';
import { type CritCommand, crit42 } from './crit42.js';
import { CLEAN_ENV } from './env.js';
import { makePagemap } from './pagemap-gen.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const DEBIAN_CRIT = '/usr/bin/crit';
const critArg = process.env['PAGESTACK_CRIT'] ?? join(ROOT, '..', 'shared', 'criu-4.2', 'bin', 'crit');
// a relative path as typed here: crit runs from another directory
const CRIT42 = critArg.includes('/') ? resolve(critArg) : critArg;
const QUICK = process.argv.includes('--quick');
const N = 1_000_000;

const load = (): string => `load ${loadavg()[0]!.toFixed(2)}`;

/** CPU seconds of the best run, and the median wall seconds, of `runs` runs of `fn`. */
let lastWall = 0;
function best(runs: number, fn: () => void): number {
  let b = Number.POSITIVE_INFINITY;
  const walls: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    fn();
    walls.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    const t = (c.user + c.system) / 1e6;
    if (t < b) b = t;
  }
  walls.sort((x, y) => x - y);
  lastWall = walls[walls.length >> 1]!;
  return b;
}

function wall(
  cmd: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
): { seconds: number; status: number | null; stderr: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...(env ? { env, cwd: '/' } : {}) });
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
    console.log(`\nin-process (CPU time of the best of several runs; wall: median)  [${load()}]`);
    console.log(`  baseline framing walk  ${fmtRate(rBase)}  (${(tBase * 1e3).toFixed(1)} ms)`);

    const tPm = best(7, () => {
      sink += decodePagemap(buf).count;
    });
    const rPm = N / tPm;
    console.log(
      `  decodePagemap          ${fmtRate(rPm)}  (${(tPm * 1e3).toFixed(1)} ms; wall ${fmtRate(N / lastWall)})  ${fmtRatio(rPm / rBase)} of baseline  [goal >= 20 M entries/s]`,
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
      `  decodeToJsonChunks     ${fmtRate(rChunks)}  (${(tChunks * 1e3).toFixed(1)} ms)  ${fmtRatio(rChunks / rBase)} of baseline  (image -> JSON bytes in new chunks)`,
    );
    let jsonBytes = 0;
    const tEmit = best(5, () => {
      emitJsonChunks(buf, false, (c) => {
        jsonBytes += c.length;
      });
    });
    jsonBytes /= 5;
    // memory speed here: copying the same number of bytes within one refilled 1 MiB buffer
    const src = new Uint8Array(1 << 20).fill(0x31);
    const dst = new Uint8Array(1 << 20);
    const tCopy = best(5, () => {
      for (let done = 0; done < jsonBytes; done += src.length) dst.set(src);
    });
    console.log(
      `  emitJsonChunks         ${fmtRate(N / tEmit)}  (${(tEmit * 1e3).toFixed(1)} ms, ${(jsonBytes / tEmit / 1e9).toFixed(2)} GB/s of JSON, what \`decode -o\` runs)  memcpy of as many bytes: ${(jsonBytes / tCopy / 1e9).toFixed(2)} GB/s, ${fmtRatio(tEmit / tCopy)} its time`,
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
    const ps: number[] = [];
    const runPs = (): void => {
      rmSync(out, { force: true }); // a fresh file each time, as crit writes
      const r = wall(process.execPath, [CLI, 'decode', file, '-o', out], CLEAN_ENV);
      if (r.status !== 0) throw new Error(`pagestack decode failed (${r.status}): ${r.stderr}`);
      ps.push(r.seconds);
    };
    const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
    const crits: CritCommand[] = [];
    if (QUICK) console.log('  (--quick: no crit runs)');
    else {
      const c42 = crit42(CRIT42, dir);
      if (typeof c42 === 'string') console.log(`  crit 4.2: ${c42}: skipped`);
      else {
        crits.push(c42);
        if (c42.note) console.log(`  crit 4.2: ${c42.note}`);
      }
      if (existsSync(DEBIAN_CRIT)) {
        crits.push({ name: "Debian's crit 3.17", cmd: DEBIAN_CRIT, pre: [], env: CLEAN_ENV, note: '' });
      } else console.log(`  ${DEBIAN_CRIT} not installed: no Debian crit line`);
    }
    runPs();
    const critSeconds: number[] = [];
    for (const c of crits) {
      const out2 = join(dir, 'out2.json');
      rmSync(out2, { force: true });
      const r = wall(c.cmd, [...c.pre, 'decode', '-i', file, '-o', out2], c.env);
      if (r.status !== 0) {
        // a crit that does not run here is a missing baseline, not a failed benchmark
        console.log(`  ${c.name} (${c.cmd}) does not run: ${r.stderr.split('\n').pop()}`);
        critSeconds.push(Number.NaN);
      } else {
        critSeconds.push(r.seconds);
        // the same work: crit's file and pagestack's are the same bytes
        const same = readFileSync(out2).equals(readFileSync(out));
        console.log(`  ${c.name}: its JSON ${same ? 'equals' : 'DIFFERS from'} pagestack's, byte for byte`);
      }
      runPs();
    }
    while (ps.length < 3) runPs();
    const tPs = median(ps);
    console.log(
      `  pagestack decode -o    ${tPs.toFixed(3)} s median of ${ps.length} (${ps.map((x) => x.toFixed(2)).join(' ')})  (${fmtRate(N / tPs)}, ${statSync(out).size.toLocaleString('en-US')} bytes of JSON)  [${load()}]`,
    );
    crits.forEach((c, k) => {
      const t = critSeconds[k]!;
      if (Number.isNaN(t)) return;
      const goal = c.name === 'crit 4.2' ? '  [goal >= 50x]' : '';
      console.log(
        `  ${c.name.padEnd(22)} ${t.toFixed(3)} s  ratio ${c.name} / pagestack ${fmtRatio(t / tPs)}${goal}`,
      );
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
