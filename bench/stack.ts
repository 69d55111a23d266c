/**
 * Stack benchmark: `node --import tsx bench/stack.ts [SIZE] [--layers N] [--only resolve|reads|export]`
 * (or `npm run bench:stack`;
 * the export part runs dist/cli/main.js: `npm run build` first). SIZE is the process's memory,
 * default 4G (512M, 64M... for quick runs); N the number of layers, default 8.
 *
 * Generates (bench/gen.ts) a stack of one process with one private anonymous mapping of SIZE bytes:
 * the bottom layer a full dump, each upper layer rewriting 10-20% of the pages in scattered runs
 * (CRIU 4.2 pagemaps: flags 6 / PE_PARENT, entries <= 256 pages). The pages files take about
 * 2.3 x SIZE on disk, and the export part writes up to that much again. Then prints
 *
 *   - resolve: Stack.resolve of the top pagemap in a fresh process (cold: nothing cached, no JIT
 *     warm-up), its time and peak RSS growth (process.resourceUsage().maxRSS), against the baseline
 *     of reading + decodePagemap of every layer's pagemap in another fresh process;
 *   - reads: random 4 KiB reads on a warm stack through ProcessMemory.readSync / .read (a new
 *     buffer per read) and .readIntoSync / .readInto (the caller's buffer), page-aligned and
 *     unaligned over the whole range, against fs.readSync / FileHandle.read of 4 KiB at random
 *     offsets of the bottom pages file in the same process (the bottom layer is a full dump: the same
 *     offsets as the page-aligned stack reads), into one buffer ("raw") and into a new one each
 *     time ("raw+alloc"). Goal: readSync >= 0.8x raw. Then batches of 256 addresses through
 *     readManySync / readMany against 256 single calls (goal >= 2x). A sample of reads is checked
 *     byte for byte against the generator's pattern first;
 *   - export: `node dist/cli/main.js export TOP -o OUT` as a whole process (no fsync, the default),
 *     against `cat` of all layers' pages files into one file on the same disk, 3 rounds
 *     interleaved, medians: cat time / export time, goal >= 1.2x; then once each the durable
 *     path (cat + fsync against export --sync). The inputs are in the page cache for both.
 *
 * Figures, not pass/fail; the load average is printed because other work on the machine shows in
 * every figure. The generated data is deleted at the end (also on error and Ctrl-C).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  readSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { open as openFile, readFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePagemap } from '../src/image/pagemap.js';
import { openStackDir } from '../src/source/open.js';
import { CLEAN_ENV } from './env.js';
import { expectedBytes, type GeneratedStack, generateStack, removeOnExit, rng } from './gen.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const SELF = fileURLToPath(import.meta.url);
const PAGE = 4096;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size '${s}': expected e.g. 4G, 512M, 65536K`);
  const mult = { '': 1, k: 1024, m: MiB, g: GiB, t: 1024 * GiB }[m[2]!.toLowerCase()]!;
  return Math.floor((Number(m[1]) * mult) / PAGE) * PAGE;
}

const fmt = (n: number, d = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const mb = (bytes: number): string => `${fmt(bytes / MiB, 1)} MiB`;
const line = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

/** The child process running now (killed when the benchmark is interrupted). */
let running: ChildProcess | null = null;

interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end without blocking the event loop (so Ctrl-C is handled at once). */
function run(cmd: string, args: string[], stdout: number | 'pipe' = 'pipe'): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd: ROOT, env: CLEAN_ENV, stdio: ['ignore', stdout, 'pipe'] });
    running = c;
    let out = '';
    let err = '';
    c.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    c.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    c.on('error', reject);
    c.on('close', (status, signal) => {
      running = null;
      resolve({ status, signal, stdout: out, stderr: err });
    });
  });
}

// ------------------------------------------------------------------------------------------------
// Child mode: resolve (or the decode baseline) cold in a fresh process.

interface ChildReport {
  /** maxRSS (KiB) before the timed part, and after it. */
  rssBeforeKiB: number;
  maxRssKiB: number;
  ms: number;
  /** resolve mode: a second resolve on a fresh Stack in the same process (warm JIT and caches). */
  warmMs: number;
  entries: number;
  extents: number;
  depth: number;
}

/**
 * Runs in a fresh process: `mode` 'resolve' = Stack.resolve of the top pagemap on a new stack
 * (cold: nothing cached, no JIT warm-up); 'decode' = the baseline, reading and decodePagemap of
 * every layer's pagemap, equally cold.
 */
async function child(mode: string, top: string, pid: number): Promise<void> {
  const file = `pagemap-${pid}.img`;
  const stack = await openStackDir(top);
  const rep: ChildReport = {
    rssBeforeKiB: process.resourceUsage().maxRSS,
    maxRssKiB: 0,
    ms: 0,
    warmMs: 0,
    entries: 0,
    extents: 0,
    depth: 0,
  };
  const t0 = performance.now();
  if (mode === 'resolve') {
    const r = await stack.resolve(file);
    rep.ms = performance.now() - t0;
    rep.maxRssKiB = process.resourceUsage().maxRSS;
    rep.extents = r.extents.count;
    rep.depth = r.depth;
    const again = await openStackDir(top);
    const w0 = performance.now();
    await again.resolve(file);
    rep.warmMs = performance.now() - w0;
  } else {
    for (const l of stack.layers) {
      const buf = await readFile(join(l.source.name, file));
      rep.entries += decodePagemap(new Uint8Array(buf.buffer, buf.byteOffset, buf.length)).count;
    }
    rep.ms = performance.now() - t0;
    rep.maxRssKiB = process.resourceUsage().maxRSS;
  }
  process.stdout.write(JSON.stringify(rep));
}

async function runChild(mode: string, g: GeneratedStack): Promise<ChildReport> {
  const res = await run(process.execPath, ['--import', 'tsx', SELF, '--child', mode, g.top, String(g.pid)]);
  if (res.status !== 0) {
    throw new Error(`${mode} child failed (${res.signal ?? `status ${res.status}`}): ${res.stderr.trim()}`);
  }
  return JSON.parse(res.stdout) as ChildReport;
}

// ------------------------------------------------------------------------------------------------

async function benchResolve(g: GeneratedStack): Promise<void> {
  line('\n== resolve (cold: each in a fresh process) ==');
  const d = await runChild('decode', g);
  const r = await runChild('resolve', g);
  const mib = (kib: number): string => `${fmt(kib / 1024, 1)} MiB`;
  line(
    `pagemap entries over ${g.dirs.length} layers: ${fmt(d.entries)}; extents after resolve: ${fmt(r.extents)}; depth ${r.depth}`,
  );
  line(
    `baseline: read + decodePagemap of every layer: ${fmt(d.ms, 1)} ms, +${mib(d.maxRssKiB - d.rssBeforeKiB)} peak RSS`,
  );
  line(
    `Stack.resolve of the top pagemap (read + decode + resolve): ${fmt(r.ms, 1)} ms = ${fmt(r.ms / d.ms, 2)}x baseline (warm, on a new Stack: ${fmt(r.warmMs, 1)} ms)`,
  );
  line(
    `peak RSS ${mib(r.maxRssKiB)}: +${mib(r.maxRssKiB - r.rssBeforeKiB)} over ${mib(r.rssBeforeKiB)} before resolve = ${fmt(((r.maxRssKiB - r.rssBeforeKiB) * 1024) / Math.max(1, d.entries), 0)} bytes per entry; ${fmt((r.maxRssKiB - r.rssBeforeKiB) / Math.max(1, d.maxRssKiB - d.rssBeforeKiB), 2)}x baseline`,
  );
}

/** Sum of what the timed calls return, so that no call can be optimised away. */
let sink = 0;

/** Runs `fn` over `addrs` (cycling) for about `ms` milliseconds; returns calls per second. */
function rateSync(addrs: Float64Array, ms: number, fn: (a: number) => number): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let k = 0; k < 4096; k++) sink += fn(addrs[n++ & (addrs.length - 1)]!);
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}

async function rateAsync(
  addrs: Float64Array,
  ms: number,
  fn: (a: number) => Promise<unknown>,
): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let k = 0; k < 1024; k++) await fn(addrs[n++ & (addrs.length - 1)]!);
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}

interface ReadCase {
  name: string;
  addrs: Float64Array;
  sync?: (a: number) => number;
  async?: (a: number) => Promise<unknown>;
}

/** Runs the cases interleaved, `rounds` times `ms` each (a warm-up round first); medians per case. */
async function runCases(cases: ReadCase[], rounds: number, ms: number): Promise<Map<string, number>> {
  const got = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let r = -1; r < rounds; r++) {
    for (const c of cases) {
      const v = c.sync
        ? rateSync(c.addrs, r < 0 ? 200 : ms, c.sync)
        : await rateAsync(c.addrs, r < 0 ? 100 : ms, c.async!);
      if (r >= 0) got.get(c.name)!.push(v);
    }
  }
  const med = new Map<string, number>();
  for (const [k, v] of got) {
    v.sort((a, b) => a - b);
    med.set(k, v[v.length >> 1]!);
  }
  return med;
}

async function benchReads(g: GeneratedStack): Promise<void> {
  line('\n== random 4 KiB reads (warm stack; medians of interleaved runs) ==');
  const stack = await openStackDir(g.top);
  try {
    const mem = await stack.process(g.pid);
    const rand = rng(7);
    const N = 1 << 20;
    const aligned = new Float64Array(N);
    const unaligned = new Float64Array(N);
    const filePos = new Float64Array(N);
    const span = g.bytes - PAGE;
    for (let i = 0; i < N; i++) {
      aligned[i] = g.base + Math.floor(rand() * g.pages) * PAGE;
      unaligned[i] = g.base + Math.floor(rand() * (span + 1));
      // the bottom layer is a full dump, its pages file in address order: the same offsets as
      // the stack reads of `aligned`, read straight from that one file
      filePos[i] = aligned[i]! - g.base;
    }
    // correctness sample (outside the timing)
    const into = new Uint8Array(PAGE);
    let checked = 0;
    for (let i = 0; i < 2000; i++) {
      const a = i & 1 ? unaligned[i]! : aligned[i]!;
      const want = expectedBytes(g, a, PAGE);
      const got = [mem.readSync(a, PAGE), await mem.read(a, PAGE), mem.readIntoSync(into, a)];
      for (const b of got) {
        if (Buffer.compare(b, want) !== 0)
          throw new Error(`read at 0x${a.toString(16)} returned wrong bytes`);
      }
      checked++;
    }
    line(`checked ${checked} random reads (readSync, read, readIntoSync) against the pattern: all match`);

    const fd = openSync(g.pagesFiles[0]!, 'r');
    // where each page-aligned address resolves to: the stack's own preads, without the stack
    const x = mem.private.resolved.extents;
    const layerFd = stack.layers.map((l) => {
      const k = g.dirs.findIndex((d) => realpathSync(d) === realpathSync(l.source.name));
      return k < 0 ? -1 : openSync(g.pagesFiles[k]!, 'r');
    });
    const idx = new Float64Array(N).map((_, k) => k);
    const resFd = new Int32Array(N);
    const resPos = new Float64Array(N);
    for (let k = 0; k < N; k++) {
      const page = aligned[k]! / PAGE;
      let lo = 0;
      let hi = x.count;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (x.end[mid]! <= page) lo = mid + 1;
        else hi = mid;
      }
      resFd[k] = layerFd[x.layer[lo]!]!;
      resPos[k] = x.offset[lo]! + (page - x.start[lo]!) * PAGE;
    }
    const fh = await openFile(g.pagesFiles[0]!, 'r');
    try {
      const buf = new Uint8Array(PAGE);
      const MS = 600;
      const sync = await runCases(
        [
          { name: 'raw', addrs: filePos, sync: (p) => readSync(fd, buf, 0, PAGE, p) },
          {
            name: 'raw+alloc',
            addrs: filePos,
            sync: (p) => readSync(fd, Buffer.allocUnsafe(PAGE), 0, PAGE, p),
          },
          // the same preads the stack reads make: the (layer file, offset) each address resolves to
          { name: 'resolved', addrs: idx, sync: (k) => readSync(resFd[k]!, buf, 0, PAGE, resPos[k]!) },
          { name: 'readSync', addrs: aligned, sync: (a) => mem.readSync(a, PAGE)[5]! },
          { name: 'readSync-u', addrs: unaligned, sync: (a) => mem.readSync(a, PAGE)[5]! },
          { name: 'into', addrs: aligned, sync: (a) => mem.readIntoSync(buf, a)[5]! },
          { name: 'into-u', addrs: unaligned, sync: (a) => mem.readIntoSync(buf, a)[5]! },
        ],
        3,
        MS,
      );
      const raw = sync.get('raw')!;
      const rawAlloc = sync.get('raw+alloc')!;
      const show = (label: string, k: string, goal = ''): void => {
        const v = sync.get(k)!;
        line(
          `${label.padEnd(44)} ${fmt(v).padStart(9)}/s = ${fmt(v / raw, 2)}x raw, ${fmt(v / rawAlloc, 2)}x raw+alloc${goal}`,
        );
      };
      line(
        `${'baseline fs.readSync 4 KiB, one buffer'.padEnd(44)} ${fmt(raw).padStart(9)}/s (random offsets in one pages file)`,
      );
      line(
        `${'baseline fs.readSync 4 KiB, allocUnsafe each'.padEnd(44)} ${fmt(rawAlloc).padStart(9)}/s = ${fmt(rawAlloc / raw, 2)}x raw`,
      );
      line(
        `${'floor: the same preads in the layer files'.padEnd(44)} ${fmt(sync.get('resolved')!).padStart(9)}/s = ${fmt(sync.get('resolved')! / raw, 2)}x raw (the (file, offset) each stack read resolves to, no stack code)`,
      );
      show(
        'ProcessMemory.readSync, page-aligned',
        'readSync',
        '  (goal >= 0.8x raw; new buffer: compare raw+alloc)',
      );
      show('ProcessMemory.readSync, unaligned', 'readSync-u');
      show('ProcessMemory.readIntoSync, page-aligned', 'into');
      show('ProcessMemory.readIntoSync, unaligned', 'into-u');

      // batch reads: B random page-aligned addresses per call, against B single calls
      const B = 256;
      const batches = Array.from({ length: N / B }, (_, j) => aligned.subarray(j * B, (j + 1) * B));
      // clustered: each batch inside one random 4 MiB window (1,024 pages, a quarter of them read)
      const clustered = batches.map(() => {
        const w = g.base + Math.floor(rand() * Math.max(1, g.pages - 1024)) * PAGE;
        return new Float64Array(B).map(() => w + Math.floor(rand() * Math.min(1024, g.pages)) * PAGE);
      });
      const batchOut = new Uint8Array(B * PAGE);
      const bat = await runCases(
        [
          {
            name: 'single',
            addrs: new Float64Array(batches.length).map((_, j) => j),
            sync: (j) => {
              let x = 0;
              for (const a of batches[j]!) x += mem.readIntoSync(buf, a)[5]!;
              return x;
            },
          },
          {
            name: 'batch',
            addrs: new Float64Array(batches.length).map((_, j) => j),
            sync: (j) => mem.readManySync(batches[j]!, PAGE, { out: batchOut })[5]!,
          },
          {
            name: 'single-c',
            addrs: new Float64Array(batches.length).map((_, j) => j),
            sync: (j) => {
              let x = 0;
              for (const a of clustered[j]!) x += mem.readIntoSync(buf, a)[5]!;
              return x;
            },
          },
          {
            name: 'batch-c',
            addrs: new Float64Array(batches.length).map((_, j) => j),
            sync: (j) => mem.readManySync(clustered[j]!, PAGE, { out: batchOut })[5]!,
          },
          {
            name: 'single-async',
            addrs: new Float64Array(batches.length).map((_, j) => j),
            async: async (j) => {
              for (const a of batches[j]!) await mem.readInto(buf, a);
            },
          },
          {
            name: 'batch-async',
            addrs: new Float64Array(batches.length).map((_, j) => j),
            async: (j) => mem.readMany(batches[j]!, PAGE, { out: batchOut }),
          },
        ],
        3,
        MS / 2,
      );
      const perRead = (k: string): number => bat.get(k)! * B;
      // positioned reads per address of one pass over the batches (counted outside the timing)
      const preads = (set: Float64Array[]): number => {
        let calls = 0;
        const files = mem.private.files.filter((f) => f !== null);
        const saved = files.map((f) => [f.readSync, f.readvSync] as const);
        for (const f of files) {
          const r = f.readSync!.bind(f);
          const v = f.readvSync?.bind(f);
          f.readSync = (...a) => {
            calls++;
            return r(...a);
          };
          if (v) {
            f.readvSync = (...a) => {
              calls++;
              return v(...a);
            };
          }
        }
        try {
          for (const b of set) mem.readManySync(b, PAGE, { out: batchOut });
        } finally {
          files.forEach((f, i) => {
            f.readSync = saved[i]![0];
            f.readvSync = saved[i]![1];
          });
        }
        return calls / (set.length * B);
      };
      line(
        `readManySync preads per address: random ${fmt(preads(batches.slice(0, 256)), 3)}, 4 MiB window ${fmt(preads(clustered.slice(0, 256)), 3)}; one pread (raw) = ${fmt(1e6 / raw, 2)} us`,
      );
      line(
        `${`ProcessMemory.readManySync, ${B} addresses`.padEnd(44)} ${fmt(perRead('batch')).padStart(9)}/s = ${fmt(perRead('batch') / perRead('single'), 2)}x ${B} readIntoSync calls (${fmt(perRead('single'))}/s)  (goal >= 2x)`,
      );
      line(
        `${`ProcessMemory.readManySync, ${B} in a 4 MiB window`.padEnd(44)} ${fmt(perRead('batch-c')).padStart(9)}/s = ${fmt(perRead('batch-c') / perRead('single-c'), 2)}x ${B} readIntoSync calls (${fmt(perRead('single-c'))}/s)  (coalesced reads)`,
      );
      line(
        `${`ProcessMemory.readMany, ${B} addresses`.padEnd(44)} ${fmt(perRead('batch-async')).padStart(9)}/s = ${fmt(perRead('batch-async') / perRead('single-async'), 2)}x ${B} awaited readInto calls (${fmt(perRead('single-async'))}/s)  (goal >= 2x)`,
      );
      line(`[load ${loadavg()[0]!.toFixed(2)}]`);
      const asy = await runCases(
        [
          { name: 'raw', addrs: filePos, async: (p) => fh.read(buf, 0, PAGE, p) },
          { name: 'read', addrs: aligned, async: (a) => mem.read(a, PAGE) },
          { name: 'read-u', addrs: unaligned, async: (a) => mem.read(a, PAGE) },
          { name: 'into', addrs: aligned, async: (a) => mem.readInto(buf, a) },
        ],
        3,
        MS / 2,
      );
      const rawA = asy.get('raw')!;
      const showA = (label: string, k: string): void => {
        const v = asy.get(k)!;
        line(`${label.padEnd(44)} ${fmt(v).padStart(9)}/s = ${fmt(v / rawA, 2)}x raw`);
      };
      line(`${'baseline FileHandle.read 4 KiB, one at a time'.padEnd(44)} ${fmt(rawA).padStart(9)}/s`);
      showA('ProcessMemory.read, page-aligned', 'read');
      showA('ProcessMemory.read, unaligned', 'read-u');
      showA('ProcessMemory.readInto, page-aligned', 'into');
    } finally {
      closeSync(fd);
      for (const f of layerFd) if (f >= 0) closeSync(f);
      await fh.close();
    }
  } finally {
    await stack.close();
  }
}

function exportAvailable(): boolean {
  if (!existsSync(CLI)) return false;
  const r = spawnSync(process.execPath, [CLI, 'export', '--help'], { encoding: 'utf8' });
  return r.status === 0;
}

async function benchExport(g: GeneratedStack): Promise<void> {
  line('\n== export vs cat (whole processes, same disk, inputs in page cache; interleaved, medians) ==');
  if (!exportAvailable()) {
    line('export: `pagestack export` is not built yet (npm run build); skipped');
    return;
  }
  const catOut = join(g.root, 'cat.out');
  const out = join(g.root, 'export.out');
  /** cat of every layer's pages file into one file (fsynced when `sync`): seconds. */
  const catRun = async (sync: boolean): Promise<number> => {
    const t0 = performance.now();
    const fd = openSync(catOut, 'w');
    const c = await run('cat', g.pagesFiles, fd);
    if (sync) fsyncSync(fd);
    closeSync(fd);
    const t = (performance.now() - t0) / 1000;
    if (c.status !== 0)
      throw new Error(`cat failed (${c.signal ?? `status ${c.status}`}): ${c.stderr.trim()}`);
    return t;
  };
  let outBytes = 0;
  const exportRun = async (sync: boolean): Promise<number> => {
    const t0 = performance.now();
    const r = await run(process.execPath, [CLI, 'export', g.top, ...(sync ? ['--sync'] : []), '-o', out]);
    const t = (performance.now() - t0) / 1000;
    if (r.status !== 0)
      throw new Error(`export failed (status ${r.status}): ${(r.stderr || r.stdout).trim()}`);
    outBytes = statSync(out).size;
    return t;
  };
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const cats: number[] = [];
  const exps: number[] = [];
  for (let i = 0; i < 3; i++) {
    cats.push(await catRun(false));
    rmSync(catOut);
    exps.push(await exportRun(false));
    rmSync(out);
  }
  const catBytes = g.pagesFiles.reduce((a, f) => a + statSync(f).size, 0);
  const tc = median(cats);
  const te = median(exps);
  line(
    `cat of ${g.pagesFiles.length} pages files (${mb(catBytes)}) into one file: ${fmt(tc, 2)} s (${cats.map((x) => fmt(x, 2)).join(' ')})`,
  );
  line(
    `pagestack export (${mb(outBytes)} out, no fsync): ${fmt(te, 2)} s (${exps.map((x) => fmt(x, 2)).join(' ')}) = ${fmt(outBytes / te / MiB, 0)} MiB/s`,
  );
  line(
    `export speed / cat speed (cat time / export time): ${fmt(tc / te, 2)}x  (goal >= 1.2x)  [load ${loadavg()[0]!.toFixed(2)}]`,
  );
  // the durable path, once each: both fsynced
  const tcs = await catRun(true);
  rmSync(catOut);
  const tes = await exportRun(true);
  rmSync(out);
  line(
    `durable: cat + fsync ${fmt(tcs, 2)} s, export --sync ${fmt(tes, 2)} s: ${fmt(tcs / tes, 2)}x  [load ${loadavg()[0]!.toFixed(2)}]`,
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    await child(args[1]!, args[2]!, Number(args[3]));
    return;
  }
  let size = 4 * GiB;
  let layers = 8;
  let only = '';
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--layers') layers = Number(args[++i]);
    else if (a === '--only') only = args[++i]!;
    else size = parseSize(a);
  }
  const root = mkdtempSync(join(tmpdir(), 'pagestack-bench-stack-'));
  const cleanup = removeOnExit(root, () => running?.kill('SIGKILL'));
  try {
    line(`stack benchmark: ${layers} layers of a ${mb(size)} process in ${root}`);
    line(
      `machine: ${cpus().length} CPUs, load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(
          ' ',
        )} (other work running shows in every figure; the ratios are against baselines run alongside)`,
    );
    const t0 = performance.now();
    const g = await generateStack(root, { bytes: size, layers });
    const t1 = performance.now();
    const pagesBytes = g.presentPages.reduce((a, b) => a + b, 0) * PAGE;
    line(
      `generated in ${fmt((t1 - t0) / 1000, 1)} s: ${mb(pagesBytes)} of pages files; entries per layer (bottom first): ${g.entries.map((n) => fmt(n)).join(', ')}`,
    );
    line(
      `pages rewritten per upper layer: ${g.presentPages
        .slice(1)
        .map((n) => `${fmt((100 * n) / g.pages, 1)}%`)
        .join(', ')}`,
    );
    if (only === '' || only === 'resolve') await benchResolve(g);
    if (only === '' || only === 'reads') await benchReads(g);
    if (sink === 0.5) line('');
    if (only === '' || only === 'export') await benchExport(g);
  } finally {
    cleanup();
  }
}

main().catch((e) => {
  process.stderr.write(`bench/stack: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
