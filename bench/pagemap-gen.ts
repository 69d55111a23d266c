/**
 * Synthetic pagemap images for the benchmark and tests: what CRIU 4.2 writes for a big process.
 */
import { EntryList, encodePagemap, rng } from './gen.js';

/** A pagemap image as CRIU 4.2 writes it: head {pages_id 1}, then `n` entries. */
export function makePagemap(n: number, seed = 1): Uint8Array {
  const rand = rng(seed);
  const e = new EntryList();
  let page = 0x55d0_0000_0; // first page number: a PIE binary's address / 4096
  for (let i = 0; i < n; i++) {
    if (i === n >> 1) page = 0x7f00_0000_0; // then mmap space
    const nr = rand() < 0.7 ? 1 : 1 + Math.floor(rand() * 255);
    const flags = rand() < 0.02 ? 4 : 6;
    e.push(page, nr, flags);
    page += nr + 1 + Math.floor(rand() * 8);
  }
  return encodePagemap(1, e).slice();
}
