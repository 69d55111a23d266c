/**
 * Whole-command benchmark: `node --import tsx bench/commands.ts [--rounds N] [--size 1G] [--crit PATH]`
 * (`npm run build` first: it runs the built CLI, dist/cli/main.js, as users do).
 *
 * Users run `pagestack CMD` as a process, start-up included. Each row here runs the command as a
 * process and its baseline as a process, in pairs (A B, then B A, ...: load on a shared machine hits
 * both alike), N rounds, and prints the median wall time of each, the spread (min-max) and the
 * ratio in the direction of the goal (for speed rows, baseline time / pagestack time: > 1 is faster
 * than the baseline). Every child runs with PATH only (bench/env.ts: no CA bundle parsed at start).
 *
 * Rows (the data is generated in a temporary directory, removed at the end and on Ctrl-C):
 *   --version                 vs `node -e 0`                            goal: <= 1.3x node's time
 *   show SAMPLE               vs `node -e 0`                            goal: <= 1.3x node's time
 *   search (literal)          vs `grep -c -F` over the same bytes       goal: >= 0.8x grep's speed
 *   delta (10% changed)       vs `cat` of both pages files > /dev/null  goal: >= 0.5x cat's speed
 *   export (ELF, 4 layers)    vs `cat` of the layers' pages files > F   goal: >= 1.0x cat's speed
 *   export, 4 layers / 1 layer, with the copy_file_range addon vs without (PAGESTACK_COPY_RANGE=0)
 *   decode -o (1M entries)    vs crit 4.2 decode (only with --crit)     goal: >= 50x crit's speed
 * Random reads through a stack are an in-process figure (bench/stack.ts): there is no command.
 * Figures, not pass/fail; the machine's load average is printed before and after.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crit42 } from './crit42.js';
import { CLEAN_ENV } from './env.js';
import { generateStack, removeOnExit } from './gen.js';
import { makePagemap } from './pagemap-gen.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const SAMPLE = join(ROOT, 'test', 'fixtures', 'criu-4.2', 'series-stack', '3');

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const ROUNDS = Number(opt('--rounds') ?? 5);
const SIZE = parseSize(opt('--size') ?? '1G');
const CRIT = opt('--crit');

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * ({ '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase()] ?? 1);
}

interface Cmd {
  argv: string[];
  /** Runs through `sh -c` (redirections). */
  shell?: boolean;
  /** The environment (default: PATH only). */
  env?: NodeJS.ProcessEnv;
  /** Run after each timing (remove an output). */
  after?: () => void;
}

/** Wall seconds of one run; fails loudly when the command fails. */
function run(c: Cmd): number {
  const t0 = performance.now();
  const r = c.shell
    ? spawnSync('sh', ['-c', c.argv.join(' ')], {
        env: c.env ?? CLEAN_ENV,
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    : spawnSync(c.argv[0]!, c.argv.slice(1), {
        env: c.env ?? CLEAN_ENV,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
  const secs = (performance.now() - t0) / 1000;
  // grep -c and search exit 1 when nothing matches: the expected outcome here
  if (r.status !== 0 && !(r.status === 1 && (c.argv.includes('grep') || c.argv.includes('search')))) {
    throw new Error(`${c.argv.join(' ')}: exit ${r.status ?? r.signal}: ${String(r.stderr).trim()}`);
  }
  c.after?.();
  return secs;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};
const fmt = (s: number): string => (s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`);
const spread = (xs: number[]): string => `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}`;

interface Row {
  name: string;
  ours: number[];
  base: number[];
  baseName: string;
  /** 'time': ratio ours/base (start-up rows); 'speed': base/ours. */
  kind: 'time' | 'speed';
  goal: string;
}

function pair(
  name: string,
  ours: Cmd,
  baseName: string,
  base: Cmd,
  kind: Row['kind'],
  goal: string,
  rounds = ROUNDS,
): Row {
  run(ours); // warm the page cache and the file system's metadata for both
  run(base);
  const row: Row = { name, ours: [], base: [], baseName, kind, goal };
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      row.ours.push(run(ours));
      row.base.push(run(base));
    } else {
      row.base.push(run(base));
      row.ours.push(run(ours));
    }
  }
  const r = ratio(row);
  process.stdout.write(
    `  ${name}: pagestack ${fmt(median(row.ours))} (${spread(row.ours)}), ${baseName} ${fmt(median(row.base))} (${spread(row.base)}): ${r}\n`,
  );
  return row;
}

function ratio(r: Row): string {
  const o = median(r.ours);
  const b = median(r.base);
  return r.kind === 'time'
    ? `${(o / b).toFixed(2)}x ${r.baseName}'s time`
    : `${(b / o).toFixed(2)}x ${r.baseName}'s speed`;
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build first`);
  const load = (): string =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  process.stdout.write(
    `whole-command bench, ${date}, ${cpus().length} cores, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, node ${process.version}, ${ROUNDS} rounds, load ${load()}\n`,
  );
  const tmp = mkdtempSync(join(tmpdir(), 'pagestack-bench-commands-'));
  const cleanup = removeOnExit(tmp);
  const rows: Row[] = [];
  try {
    const node0: Cmd = { argv: [process.execPath, '-e', '0'] };
    rows.push(
      pair(
        'pagestack --version',
        { argv: [process.execPath, CLI, '--version'] },
        'node -e 0',
        node0,
        'time',
        '<= 1.3x',
      ),
    );
    rows.push(
      pair(
        'pagestack show SAMPLE',
        { argv: [process.execPath, CLI, 'show', SAMPLE] },
        'node -e 0',
        node0,
        'time',
        '<= 1.3x',
      ),
    );

    // a 4-layer stack of SIZE bytes, 10% of the pages rewritten per layer
    const stackRoot = join(tmp, 'stack');
    mkdirSync(stackRoot);
    const g = await generateStack(stackRoot, { bytes: SIZE, layers: 4, dirtyMin: 0.1, dirtyMax: 0.1 });
    // the same memory as one flat file for grep, and two full dumps (layer 2 and 3 squashed) for delta
    const flat = join(tmp, 'flat.bin');
    run({ argv: [process.execPath, CLI, 'export', g.top, '--format', 'raw', '-o', flat] });
    const full1 = join(tmp, 'full1');
    const full2 = join(tmp, 'full2');
    run({ argv: [process.execPath, CLI, 'squash', g.dirs[2]!, '-o', full1] });
    run({ argv: [process.execPath, CLI, 'squash', g.dirs[3]!, '-o', full2] });

    const needle = 'pagestack-needle-not-there';
    rows.push(
      pair(
        `search (${SIZE >> 20} MiB, 4 layers, literal)`,
        { argv: [process.execPath, CLI, 'search', g.top, needle] },
        'grep -c -F',
        { argv: ['grep', '-c', '-F', needle, flat] },
        'speed',
        '>= 0.8x',
      ),
    );
    const deltaOut = join(tmp, 'delta-out');
    rows.push(
      pair(
        `delta (${SIZE >> 20} MiB dumps, 10% changed)`,
        {
          argv: [process.execPath, CLI, 'delta', full1, full2, '-o', deltaOut],
          after: () => rmSync(deltaOut, { recursive: true, force: true }),
        },
        'cat both pages',
        {
          argv: ['cat', join(full1, 'pages-1.img'), join(full2, 'pages-1.img'), '>', '/dev/null'],
          shell: true,
        },
        'speed',
        '>= 0.5x',
      ),
    );
    const core = join(tmp, 'core.elf');
    const catOut = join(tmp, 'cat.out');
    rows.push(
      pair(
        `export (${SIZE >> 20} MiB, 4 layers)`,
        {
          argv: [process.execPath, CLI, 'export', g.top, '-o', core],
          after: () => rmSync(core, { force: true }),
        },
        'cat layers',
        {
          argv: ['cat', ...g.pagesFiles, '>', catOut],
          shell: true,
          after: () => rmSync(catOut, { force: true }),
        },
        'speed',
        '>= 1.0x',
      ),
    );
    // the same export without the copy_file_range addon (the JavaScript loop), and a one-layer
    // export (one 1 GiB piece: all of it through copy_file_range where the addon loaded)
    const loopEnv = { ...CLEAN_ENV, PAGESTACK_COPY_RANGE: '0' };
    rows.push(
      pair(
        `export (${SIZE >> 20} MiB, 4 layers), addon vs JS loop`,
        {
          argv: [process.execPath, CLI, 'export', g.top, '-o', core],
          after: () => rmSync(core, { force: true }),
        },
        'JS loop',
        {
          argv: [process.execPath, CLI, 'export', g.top, '-o', core],
          env: loopEnv,
          after: () => rmSync(core, { force: true }),
        },
        'speed',
        '-',
      ),
    );
    rows.push(
      pair(
        `export (${SIZE >> 20} MiB, 1 layer), addon vs JS loop`,
        {
          argv: [process.execPath, CLI, 'export', g.dirs[0]!, '-o', core],
          after: () => rmSync(core, { force: true }),
        },
        'JS loop',
        {
          argv: [process.execPath, CLI, 'export', g.dirs[0]!, '-o', core],
          env: loopEnv,
          after: () => rmSync(core, { force: true }),
        },
        'speed',
        '-',
      ),
    );

    if (CRIT) {
      const pm = join(tmp, 'pagemap-1.img');
      writeFileSync(pm, makePagemap(1_000_000));
      const crit = crit42(CRIT, join(tmp, 'crit42'));
      if (typeof crit === 'string') throw new Error(crit);
      const jsonOut = join(tmp, 'pm.json');
      rows.push(
        pair(
          'decode -o (1M-entry pagemap)',
          { argv: [process.execPath, CLI, 'decode', pm, '-o', jsonOut] },
          'crit 4.2',
          { argv: [crit.cmd, ...crit.pre, 'decode', '-i', pm, '-o', jsonOut], env: crit.env },
          'speed',
          '>= 50x',
          3,
        ),
      );
    }
  } finally {
    cleanup();
  }
  process.stdout.write(
    `\nload after: ${load()}\n\n| command | pagestack (median, spread) | baseline | ratio | goal |\n|---|---|---|---|---|\n`,
  );
  for (const r of rows) {
    process.stdout.write(
      `| ${r.name} | ${fmt(median(r.ours))} (${spread(r.ours)}) | ${r.baseName}: ${fmt(median(r.base))} (${spread(r.base)}) | ${ratio(r)} | ${r.goal} |\n`,
    );
  }
}

await main();
