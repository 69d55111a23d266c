/** Comparing what two snapshot stacks hold, through the library. */
import assert from 'node:assert/strict';
import { PAGE_SIZE } from '../../src/image/pagemap.js';
import { type DeltaResult, delta } from '../../src/ops/delta.js';
import { type SquashResult, squash } from '../../src/ops/squash.js';
import { openStackDir } from '../../src/source/open.js';
import { LAZY } from '../../src/stack/resolve.js';

/** Coverage of resolved extents: merged runs of [start page, end page, 'data' | 'lazy']. */
export function coverage(x: {
  count: number;
  start: Float64Array;
  end: Float64Array;
  layer: Int32Array;
}): [number, number, string][] {
  const out: [number, number, string][] = [];
  for (let i = 0; i < x.count; i++) {
    const kind = x.layer[i] === LAZY ? 'lazy' : 'data';
    const last = out[out.length - 1];
    if (last && last[1] === x.start[i] && last[2] === kind) last[1] = x.end[i]!;
    else out.push([x.start[i]!, x.end[i]!, kind]);
  }
  return out;
}

/**
 * The stacks of `a` and `b` hold the same memory: the same pagemap files, the same pages dumped
 * (lazy or with bytes), the same bytes (compared `chunkPages` pages at a time). Resolving and
 * reading every page also checks that `a`'s stack is complete (every PE_PARENT range resolves,
 * every pages file is long enough).
 */
export async function assertSameMemory(a: string, b: string, chunkPages = 256): Promise<void> {
  const sa = await openStackDir(a);
  const sb = await openStackDir(b);
  try {
    const pms = (s: typeof sa) => s.top.files.filter((f) => /^pagemap-.+\.img$/.test(f));
    assert.deepEqual(pms(sa), pms(sb), `${a}: pagemap files`);
    for (const pm of pms(sa)) {
      const ma = await sa.memory(pm);
      const mb = await sb.memory(pm);
      const ca = coverage(ma.extents);
      assert.deepEqual(ca, coverage(mb.extents), `${a}/${pm}: pages dumped`);
      for (const [s, e, kind] of ca) {
        if (kind !== 'data') continue;
        for (let p = s; p < e; p += chunkPages) {
          const n = Math.min(chunkPages, e - p);
          const x = Buffer.from(await ma.read(p * PAGE_SIZE, n * PAGE_SIZE));
          const y = Buffer.from(await mb.read(p * PAGE_SIZE, n * PAGE_SIZE));
          assert.ok(x.equals(y), `${a}/${pm}: bytes differ in pages ${p}..${p + n}`);
        }
      }
    }
  } finally {
    await sa.close();
    await sb.close();
  }
}

/** `delta` over image directories: opens both stacks (and closes them) around the op. */
export async function deltaDirs(opts: {
  parent: string;
  child: string;
  out: string;
  chunkBytes?: number;
  /** Go on when the two have no process in common. */
  force?: boolean;
}): Promise<DeltaResult> {
  const parent = await openStackDir(opts.parent);
  try {
    const child = await openStackDir(opts.child);
    try {
      return await delta(parent, child, { out: opts.out, chunkBytes: opts.chunkBytes, force: opts.force });
    } finally {
      await child.close();
    }
  } finally {
    await parent.close();
  }
}

/** `squash` over an image directory: opens the stack (and closes it) around the op. */
export async function squashDir(opts: {
  top: string;
  out: string;
  keepBelow?: string | number;
}): Promise<SquashResult> {
  const stack = await openStackDir(opts.top);
  try {
    return await squash(stack, { out: opts.out, keepBelow: opts.keepBelow });
  } finally {
    await stack.close();
  }
}
