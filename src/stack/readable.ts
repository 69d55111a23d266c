/**
 * Whether a range of a process's memory can be read, found before any byte is: `pagestack read`
 * checks the whole range first, so a bad range fails before any output.
 */
import { MemoryAccessError } from '../errors.js';
import { hex } from '../format.js';
import type { PagemapMemory } from './memory.js';
import type { ProcessMemory } from './process.js';

/** The first address of [addr, addr+len) that `m` cannot read, or null (plans, reads nothing). */
function probe(m: PagemapMemory, a: number, n: number): number | null {
  try {
    m.planRead(a, n, {}, [], 0);
    return null;
  } catch (e) {
    if (e instanceof MemoryAccessError) return e.address;
    throw e;
  }
}

/**
 * The first address of [addr, addr+len) that cannot be read, or null. Walks the VMAs and the
 * resolved extents only (no bytes are read).
 */
export function firstUnreadable(mem: ProcessMemory, addr: number, len: number): number | null {
  const end = addr + len;
  if (len === 0) return null;
  if (mem.vmas.length === 0) return probe(mem.private, addr, len);
  let cur = addr;
  while (cur < end) {
    const v = mem.vmaAt(cur);
    if (!v) return cur;
    const stop = Math.min(end, v.end);
    for (const src of mem.sources(v, cur, stop)) {
      const bad = probe(src.mem, src.start - src.shift, src.end - src.start);
      if (bad !== null) return bad + src.shift;
    }
    cur = stop;
  }
  return null;
}

/**
 * Throws the MemoryAccessError of the first unreadable address of [addr, addr+len), its message
 * prefixed with `where` (the stack's name), naming why (not dumped, lazy, unmapped).
 */
export async function assertReadable(
  mem: ProcessMemory,
  addr: number,
  len: number,
  where: string,
): Promise<void> {
  const bad = firstUnreadable(mem, addr, len);
  if (bad === null) return;
  try {
    await mem.read(bad, 1);
  } catch (e) {
    if (e instanceof MemoryAccessError) {
      throw new MemoryAccessError(e.reason, e.address, `${where}: ${e.message}`, { ...e.data, layer: where });
    }
    throw e;
  }
  throw new MemoryAccessError('not-dumped', bad, `${where}: ${hex(bad)}: cannot be read`, { layer: where });
}
