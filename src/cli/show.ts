/** `pagestack show DIR [--json]`: a stack at a glance: layers, processes, pages per layer. */
import type { Command } from '@commander-js/extra-typings';
import { formatBytes } from '../format.js';
import { type PagemapSummary, type StackSummary, summarizeStack } from '../ops/summary.js';
import { openTarget } from '../source/open.js';
import { commas, formatPages, layerLegend, table, toJson } from './format.js';
import { cliStreams } from './io.js';
import { parentOption, salvageOption } from './options.js';
import { printSalvage } from './salvage.js';

export function registerShow(program: Command): void {
  program
    .command('show')
    .description('show a stack of snapshots: layers, disk use, processes and where their pages are')
    .argument('<dir>', 'image directory or checkpoint archive (the top layer of a stack)')
    .addOption(parentOption())
    .option('--json', 'print the summary as JSON')
    .addOption(salvageOption())
    .action(async (dir, opts) => {
      const stack = await openTarget(dir, { parent: opts.parent, salvage: opts.salvage === true });
      try {
        const s = await summarizeStack(stack);
        cliStreams().stdout(opts.json ? `${toJson(s)}\n` : formatShow(s));
        printSalvage(stack);
      } finally {
        await stack.close();
      }
    });
}

function pagemapRows(m: PagemapSummary, layerNames: readonly string[]): string[][] {
  const rows: string[][] = [['layer', 'held', 'from below', 'lazy', 'read from here', '']];
  for (const l of m.perLayer) {
    rows.push([
      String(l.number),
      commas(l.held),
      commas(l.fromBelow),
      commas(l.lazy),
      commas(l.used),
      layerNames[l.layer] ?? '',
    ]);
  }
  return rows;
}

export function formatShow(s: StackSummary): string {
  const out: string[] = [];
  const names = s.layers.map((l) => l.name);
  out.push(`stack ${s.top}: ${s.layers.length} layer${s.layers.length === 1 ? '' : 's'}`);
  out.push('');
  out.push(`layers (${layerLegend(s.layers.length)}):`);
  const lrows: string[][] = [['#', 'directory', 'pages files', 'size', 'on disk', '']];
  for (const l of s.layers) {
    lrows.push([
      String(l.number),
      l.name,
      l.pagesFiles.length === 0 ? '-' : l.pagesFiles.map((p) => p.file).join(' '),
      formatBytes(l.size),
      l.allocated === null ? '?' : formatBytes(l.allocated),
      l.note ?? '',
    ]);
  }
  out.push(table(lrows, ['r', 'l', 'l', 'r', 'r'], '  '));
  out.push('');
  out.push('processes:');
  const prows: string[][] = [['pid', 'ppid', 'threads', 'comm', 'dumped', 'lazy']];
  for (const p of s.processes) {
    prows.push([
      String(p.pid),
      String(p.ppid),
      String(p.threads.length),
      p.comm ?? '?',
      p.memory ? commas(p.memory.dumpedPages) : '-',
      p.memory ? commas(p.memory.lazyPages) : '-',
    ]);
  }
  out.push(table(prows, ['r', 'r', 'r', 'l', 'r', 'r'], '  '));
  for (const p of s.processes) {
    out.push('');
    if (!p.memory) {
      out.push(`process ${p.pid}${p.comm ? ` (${p.comm})` : ''}: no pagemap-${p.pid}.img (no memory dumped)`);
      continue;
    }
    out.push(
      `process ${p.pid}${p.comm ? ` (${p.comm})` : ''}, ${p.memory.file}: ${formatPages(p.memory.dumpedPages)} dumped, ${commas(p.memory.lazyPages)} lazy`,
    );
    out.push(table(pagemapRows(p.memory, names), ['r', 'r', 'r', 'r', 'r'], '  '));
  }
  for (const m of s.shmem) {
    out.push('');
    out.push(
      `shared memory ${m.shmid}, ${m.file}${m.mappedBy.length ? ` (mapped by ${m.mappedBy.join(', ')})` : ''}: ${formatPages(m.dumpedPages)} dumped, ${commas(m.lazyPages)} lazy`,
    );
    out.push(table(pagemapRows(m, names), ['r', 'r', 'r', 'r', 'r'], '  '));
  }
  out.push('');
  const t = s.totals;
  out.push(
    `total: ${formatPages(t.dumpedPages)} dumped, ${commas(t.lazyPages)} lazy; pages files ${formatBytes(t.pagesFileBytes)}, on disk ${t.allocatedBytes === null ? '?' : formatBytes(t.allocatedBytes)}`,
  );
  const dedup = s.layers.filter((l) => l.deduplicated && l.index > 0);
  if (dedup.length > 0) {
    out.push(
      `note: layer${dedup.length === 1 ? '' : 's'} ${dedup.map((l) => l.number).join(', ')} deduplicated: valid only under ${dedup.length === 1 ? 'its' : 'their'} children`,
    );
  }
  return `${out.join('\n')}\n`;
}
