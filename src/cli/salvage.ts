/**
 * What `--salvage` found lost, printed on stderr at the end of show, read, search and export: one
 * line per damaged pages file with how many pages it lost and where (the first runs).
 */
import { formatBytes } from '../format.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import type { Stack } from '../stack/stack.js';
import { commas } from './format.js';
import { cliStreams } from './io.js';

const hex = (n: number): string => `0x${n.toString(16)}`;

/** The summary lines (none when nothing was lost). */
export function salvageLines(stack: Stack): string[] {
  const lines: string[] = [];
  let total = 0;
  for (const d of stack.damage) {
    total += d.lostPages;
    const runs = d.lost
      .slice(0, 4)
      .map(([a, n]) => `${hex(a)}-${hex(a + n * PAGE_SIZE)}`)
      .join(', ');
    lines.push(
      `salvage: ${commas(d.lostPages)} pages lost (${d.reason}): ${runs}${d.lost.length > 4 ? `, ... (${d.lost.length} runs)` : ''}`,
    );
  }
  if (stack.damage.length > 0) {
    lines.push(
      `salvage: ${commas(total)} pages (${formatBytes(total * PAGE_SIZE)}) lost in ${stack.damage.length} pages file${stack.damage.length === 1 ? '' : 's'}, unreadable where no newer layer holds them; everything else was read`,
    );
  }
  return lines;
}

export function printSalvage(stack: Stack): void {
  for (const l of salvageLines(stack)) cliStreams().stderr(`${l}\n`);
}
