/** `pagestack diff A B [--pid N] [--json] [--bytes]`: page-level differences between two snapshots. */
import type { Command } from '@commander-js/extra-typings';
import { formatBytes, hex } from '../format.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import {
  type DiffResult,
  diffByVma,
  diffDiffers,
  diffRows,
  diffStacks,
  diffToJson,
  type ProcessDiff,
} from '../ops/diff.js';
import { openTarget } from '../source/open.js';
import type { Vma } from '../stack/process.js';
import { partitionPoint } from '../stack/search.js';
import type { Stack } from '../stack/stack.js';
import { vmaKind, vmaPerms } from '../stack/vma.js';
import { commas, table } from './format.js';
import { cliProgress, cliStreams } from './io.js';
import { parentOption, parsePid } from './options.js';

/** `rw-p heap` style description of a VMA. */
export function describeVma(v: Vma): string {
  const perms = vmaPerms(v.prot, v.flags);
  const kind = vmaKind(v.status);
  return `${hex(v.start)}-${hex(v.end)} ${perms} ${kind}`;
}

function pagesText(n: number): string {
  return `${commas(n)} page${n === 1 ? '' : 's'}`;
}

/** Groups of consecutive changed pages whose first difference is at the same offset in the page. */
function byteNotes(firsts: readonly number[], from: number, to: number, idx: { i: number }): string[] {
  const groups: string[] = [];
  let g: { s: number; e: number; off: number } | null = null;
  const flush = (): void => {
    if (!g) return;
    const n = (g.e - g.s) / PAGE_SIZE;
    groups.push(
      n === 1
        ? `${hex(g.s + g.off)}`
        : `${hex(g.s)}-${hex(g.e)}: at page offset ${hex(g.off)} in each of ${n} pages`,
    );
  };
  while (idx.i < firsts.length && firsts[idx.i]! < to) {
    const a = firsts[idx.i]!;
    idx.i++;
    if (a < from) continue;
    const page = a - (a % PAGE_SIZE);
    const off = a - page;
    if (g && g.e === page && g.off === off) g.e = page + PAGE_SIZE;
    else {
      flush();
      g = { s: page, e: page + PAGE_SIZE, off };
    }
  }
  flush();
  return groups;
}

/** The per-VMA table: one row per VMA with differences. */
function vmaTable(d: ProcessDiff): string[] {
  const rows: string[][] = [['vma', 'changed', 'added', 'removed', 'lazy', 'ranges']];
  for (const v of diffByVma(d)) {
    rows.push([
      v.vma ? describeVma(v.vma) : '(no vma)',
      commas(v.changed),
      commas(v.added),
      commas(v.removed),
      commas(v.lazy),
      commas(v.ranges),
    ]);
  }
  return table(rows, ['l', 'r', 'r', 'r', 'r', 'r'], '  ').split('\n');
}

export function formatProcessDiff(d: ProcessDiff, withBytes: boolean, ranges = true): string {
  const lines: string[] = [];
  const parts = [
    `${pagesText(d.changed.pages)} changed`,
    `${commas(d.added.pages)} added`,
    `${commas(d.removed.pages)} removed`,
    `${commas(d.equalPages)} equal`,
  ];
  if (d.lazy.pages) parts.push(`${commas(d.lazy.pages)} lazy (not compared)`);
  lines.push(`pid ${d.pid}: ${parts.join(', ')}`);
  const rows = diffRows(d).map((r) => ({
    ...r,
    what: r.kind,
    vma: r.vma ? describeVma(r.vma) : r.outsideVmas ? '(no vma)' : '',
  }));
  if (rows.length === 0) {
    lines.push('  no differences');
    return lines.join('\n');
  }
  lines.push(...vmaTable(d));
  if (!ranges) {
    lines.push(`  (${commas(rows.length)} range${rows.length === 1 ? '' : 's'}: --ranges lists them)`);
    return lines.join('\n');
  }
  lines.push('  ranges:');
  const cells: string[][] = [];
  const notes = new Map<number, string[]>();
  const idx = { i: 0 };
  for (const r of rows) {
    cells.push([r.what, `${hex(r.start)}-${hex(r.end)}`, pagesText(r.pages), r.vma ? `vma ${r.vma}` : '']);
    if (withBytes && r.what === 'changed' && d.firstDifferences) {
      // firstDifferences are in address order; rows of other kinds interleave, so search from the start of this row
      idx.i = lowerBound(d.firstDifferences, r.start);
      notes.set(cells.length - 1, byteNotes(d.firstDifferences, r.start, r.end, idx));
    }
  }
  const text = table(cells, ['l', 'l', 'r', 'l'], '  ').split('\n');
  text.forEach((t, k) => {
    lines.push(t);
    const n = notes.get(k);
    if (!n) return;
    const shown = n.slice(0, 16);
    lines.push(
      `      first difference: ${shown.join(', ')}${n.length > shown.length ? `, ... (${n.length - shown.length} more)` : ''}`,
    );
  });
  return lines.join('\n');
}

function lowerBound(xs: readonly number[], v: number): number {
  return partitionPoint(0, xs.length, (i) => xs[i]! < v);
}

export function formatDiff(r: DiffResult, withBytes: boolean, ranges = true): string {
  const out: string[] = [`A: ${r.a}`, `B: ${r.b}`];
  for (const d of r.processes) out.push(formatProcessDiff(d, withBytes, ranges));
  if (r.processes.length === 0) out.push('no process is in both snapshots: nothing to compare');
  if (r.onlyInA.length) out.push(`processes only in A (not compared): ${r.onlyInA.join(', ')}`);
  if (r.onlyInB.length) out.push(`processes only in B (not compared): ${r.onlyInB.join(', ')}`);
  const s = r.stats;
  out.push(
    `compared ${pagesText(s.pagesCompared)} (read ${formatBytes(s.bytesRead)}); ${pagesText(s.pagesSameSource)} equal by source (same layer, file and offset: not read)`,
  );
  return `${out.join('\n')}\n`;
}

/** Indented JSON with each [start, end] pair on one line. */
function jsonText(doc: unknown): string {
  return JSON.stringify(doc, null, 2).replace(/\[\s+("0x[0-9a-f]+"),\s+("0x[0-9a-f]+")\s+\]/g, '[$1, $2]');
}

export function registerDiff(program: Command): void {
  program
    .command('diff')
    .description(
      'page-level differences between two snapshots (two layers of one stack, or two dumps): changed, added, removed and equal pages per process',
    )
    .argument('<a>', 'the older image directory or checkpoint archive')
    .argument('<b>', 'the newer image directory or checkpoint archive')
    .addOption(parentOption('--parent', 'A'))
    .addOption(parentOption('--parent-b', 'B'))
    .option('--pid <pid>', 'only this process (it must be in both)')
    .option(
      '--json',
      'print JSON: {"processes": [{"pid", "changed", "added", "removed", "equal_pages", ...}]}',
    )
    .option('--ranges', 'after the per-VMA summary, list every changed, added, removed and lazy range')
    .option('--bytes', 'with the ranges, show where each changed page first differs (implies --ranges)')
    .addHelpText(
      'after',
      '\nExit status (as diff(1)): 0 when the snapshots are equal, 1 when they differ (or on bad input), 2 on wrong arguments.',
    )
    .action(async (a, b, opts) => {
      const pid = parsePid(opts.pid);
      let sa: Stack | undefined;
      let sb: Stack | undefined;
      try {
        sa = await openTarget(a, { parent: opts.parent });
        sb = await openTarget(b, { parent: opts.parentB });
        const result = await diffStacks(sa, sb, { pid, bytes: opts.bytes === true, progress: cliProgress() });
        const bytes = opts.bytes === true;
        if (opts.json) cliStreams().stdout(`${jsonText(diffToJson(result))}\n`);
        else cliStreams().stdout(formatDiff(result, bytes, bytes || opts.ranges === true));
        if (diffDiffers(result)) process.exitCode = 1;
      } finally {
        await sa?.close();
        await sb?.close();
      }
    });
}
