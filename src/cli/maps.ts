/**
 * `pagestack maps DIR [--pid N] [--json]`: a process's VMAs as in /proc/PID/maps, each with its
 * dumped pages (and the layers holding them), lazy pages and pages not dumped.
 */
import type { Command } from '@commander-js/extra-typings';
import { hex } from '../format.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import { type ProcessMaps, processMaps } from '../ops/maps.js';
import { openTarget } from '../source/open.js';
import { commas, formatPages, table, toJson } from './format.js';
import { cliStreams } from './io.js';
import { parentOption, parsePid } from './options.js';

export function registerMaps(program: Command): void {
  program
    .command('maps')
    .description("a process's VMAs (as /proc/PID/maps) with dumped, lazy and missing pages per VMA")
    .argument('<dir>', 'image directory or checkpoint archive (the top layer of a stack)')
    .addOption(parentOption())
    .option('--pid <pid>', 'process (needed when the images hold several)')
    .option('--json', 'print as JSON, with every extent (run of pages and where its bytes are)')
    .action(async (dir, opts) => {
      const want = parsePid(opts.pid);
      const stack = await openTarget(dir, { parent: opts.parent });
      try {
        const pid = await stack.pickPid(want);
        const m = await processMaps(stack, pid);
        cliStreams().stdout(opts.json ? `${toJson(mapsJson(m))}\n` : formatMaps(m));
      } finally {
        await stack.close();
      }
    });
}

/** Addresses as hex strings (some are beyond 2^53), counts as numbers. */
export function mapsJson(m: ProcessMaps): unknown {
  const count = m.layerNames.length;
  const ext = (e: ProcessMaps['outside'][number]) => ({
    start: hex(e.start),
    end: hex(e.end),
    pages: (e.end - e.start) / PAGE_SIZE,
    layer: e.layer >= 0 ? e.layer : null,
    number: e.layer >= 0 ? count - e.layer : null,
    lazy: e.layer < 0,
    fileOffset: e.layer >= 0 ? e.fileOffset : null,
    pagemap: e.pagemap,
  });
  return {
    pid: m.pid,
    comm: m.comm,
    layers: m.layerNames,
    vmas: m.vmas.map((v) => ({
      start: hex(v.start),
      end: hex(v.end),
      perms: v.perms,
      offset: v.offset,
      name: v.name,
      shmem: v.shmem,
      privatePages: v.privatePages,
      pages: v.pages,
      dumped: v.dumped,
      lazy: v.lazy,
      notDumped: v.notDumped,
      layers: v.layers.map((l) => ({ ...l, number: count - l.layer })),
      extents: v.extents.map(ext),
    })),
    vsyscall: m.vsyscall,
    outside: m.outside.map(ext),
    totals: m.totals,
  };
}

export function formatMaps(m: ProcessMaps): string {
  const rows: string[][] = [
    ['start-end', 'perms', 'offset', 'pages', 'dumped', 'lazy', 'not dumped', 'layers', 'name'],
  ];
  const N = m.layerNames.length;
  for (const v of m.vmas) {
    rows.push([
      `${v.start.toString(16)}-${v.end.toString(16)}`,
      v.perms,
      v.offset.toString(16).padStart(8, '0'),
      commas(v.pages),
      commas(v.dumped),
      commas(v.lazy),
      commas(v.notDumped),
      v.layers.length === 0 ? '-' : v.layers.map((l) => `${N - l.layer}:${commas(l.pages)}`).join(','),
      v.shmem ? `${v.name} (${sharedSource(v, m.pid)})`.trim() : v.name,
    ]);
  }
  if (m.vsyscall) rows.push([m.vsyscall, '--xp', '00000000', '1', '0', '0', '1', '-', '[vsyscall]']);
  const out: string[] = [];
  out.push(`process ${m.pid}${m.comm ? ` (${m.comm})` : ''}: ${m.vmas.length} VMAs`);
  if (m.vmas.length === 0) out.push('  (no mm image: no VMAs; pagemap runs are listed below)');
  else out.push(table(rows, ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'l', 'l']));
  if (m.outside.length > 0) {
    out.push('');
    out.push(
      m.vmas.length === 0
        ? 'pagemap runs:'
        : `pages outside every private VMA (${commas(m.totals.outside)}; CRIU cannot restore these):`,
    );
    for (const e of m.outside) {
      out.push(
        `  ${e.start.toString(16)}-${e.end.toString(16)}  ${commas((e.end - e.start) / PAGE_SIZE)} pages  ${e.layer < 0 ? 'lazy' : `layer ${N - e.layer}, pages file byte ${commas(e.fileOffset)}`}`,
      );
    }
  }
  out.push('');
  const t = m.totals;
  out.push(
    `total: ${commas(t.pages)} pages mapped, ${formatPages(t.dumped)} dumped, ${commas(t.lazy)} lazy, ${commas(t.notDumped)} not dumped`,
  );
  if (m.layerNames.length > 1) {
    out.push(
      `layers (1 = the first dump): ${m.layerNames
        .map((n, i) => `${N - i} = ${n}`)
        .reverse()
        .join(', ')}`,
    );
  }
  return `${out.join('\n')}\n`;
}

/** Where a shared VMA's pages come from: its object, and the process's own copies over it. */
function sharedSource(v: ProcessMaps['vmas'][number], pid: number): string {
  if (v.privatePages === 0) return v.shmem!;
  return `${v.shmem}, ${commas(v.privatePages)} from pagemap-${pid}.img`;
}
