/**
 * copy_file_range(2) for the copy loop (copy.ts), from the optional addon native/copy-range.c.
 *
 * The addon is built at install (native/install.mjs); where it was not (no compiler, not Linux)
 * or does not load, `copyRange()` is null and the copy loop reads and writes in JavaScript. It is
 * looked for once, on the first export that could use it, never at start-up. Setting
 * PAGESTACK_COPY_RANGE=0 turns it off (tests run both paths; benchmarks compare them).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Copies `length` bytes from `fdIn` at `offIn` to `fdOut` at `offOut` in the kernel. Returns the
 * bytes copied (fewer than `length`: the input ended, or the kernel stopped part way and the
 * caller copies the rest), or -1: nothing copied, the kernel does not copy between these files
 * (EXDEV, ENOSYS, EINVAL, ...). Other errors throw (errno errors: `code`, `errno`, `syscall`).
 */
export type CopyFileRange = (
  fdIn: number,
  offIn: number,
  fdOut: number,
  offOut: number,
  length: number,
) => number;

const ADDON = join('native', 'build', 'Release', 'copy_range.node');
let loaded: CopyFileRange | null | undefined;

/** Where the addon is: the package root is 2 (src/engine, dist/engine) or 3 (dist/cli/chunks) levels up. */
function findAddon(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = join(dir, ADDON);
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/** The addon's copyFileRange, or null (not built, not loadable, or turned off). */
export function copyRange(): CopyFileRange | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.env.PAGESTACK_COPY_RANGE === '0' || process.platform !== 'linux') return null;
  const path = findAddon();
  if (!path) return null;
  try {
    const m = createRequire(import.meta.url)(path) as { copyFileRange?: unknown };
    if (typeof m.copyFileRange === 'function') loaded = m.copyFileRange as CopyFileRange;
  } catch {
    // built for another Node, or a broken build: the JavaScript loop copies
  }
  return loaded;
}

/** Forgets the loaded addon so the next `copyRange()` looks again (tests switch paths). */
export function resetCopyRange(): void {
  loaded = undefined;
}
