/**
 * Synthetic pagemap images for the benchmark and tests: what CRIU 4.2 writes for a big process.
 */

/** Deterministic PRNG (mulberry32), so every run measures the same file. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function putVarint(out: Uint8Array, p: number, v: number): number {
  while (v >= 0x80) {
    out[p++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[p++] = v;
  return p;
}

/** A pagemap image as CRIU 4.2 writes it: head {pages_id 1}, then `n` entries. */
export function makePagemap(n: number, seed = 1): Uint8Array {
  const rand = rng(seed);
  const out = new Uint8Array(8 + 6 + n * 24);
  // common magic, PAGEMAP magic
  out.set([0x19, 0x43, 0x56, 0x54, 0x25, 0x40, 0x08, 0x56], 0);
  out.set([2, 0, 0, 0, 0x08, 0x01], 8); // pagemap_head { pages_id: 1 }
  let p = 14;
  let page = 0x55d0_0000_0; // first page number: a PIE binary's address / 4096
  for (let i = 0; i < n; i++) {
    if (i === n >> 1) page = 0x7f00_0000_0; // then mmap space
    const nr = rand() < 0.7 ? 1 : 1 + Math.floor(rand() * 255);
    const flags = rand() < 0.02 ? 4 : 6;
    const lenAt = p;
    p += 4;
    const s = p;
    out[p++] = 0x08; // 1: vaddr
    p = putVarint(out, p, page * 4096);
    out[p++] = 0x10; // 2: compat_nr_pages = 0
    out[p++] = 0x00;
    out[p++] = 0x20; // 4: flags
    out[p++] = flags;
    out[p++] = 0x28; // 5: nr_pages
    p = putVarint(out, p, nr);
    const len = p - s;
    out[lenAt] = len;
    out[lenAt + 1] = 0;
    out[lenAt + 2] = 0;
    out[lenAt + 3] = 0;
    page += nr + 1 + Math.floor(rand() * 8);
  }
  return out.slice(0, p);
}
