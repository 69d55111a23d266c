/**
 * `criu dedup` for a stack of image directories: in every ancestor layer of the top, release the
 * pages that a newer layer rewrote, leaving holes.
 *
 * What is released (per pagemap file name F, per ancestor layer L >= 1): the PRESENT pages of
 * L's F at the addresses where some layer above L (0..L-1) has its own entry for F, PRESENT or
 * LAZY (a PE_PARENT entry above passes the address down, so it does not count). Those bytes can
 * never be reached from the top: resolving an address from the top stops at the first layer with
 * a non-PE_PARENT entry. This is what CRIU's cr-dedup.c does run from every layer down (CRIU's
 * one-shot `criu dedup` stops looking further down at an address where a layer has no entry; the
 * result here equals what `--auto-dedup` leaves after every dump of the chain).
 *
 * File sizes, offsets and pagemaps do not change; the released ranges read back as zeros, so an
 * ancestor is afterwards valid only under its children.
 *
 * Node cannot punch holes (no fallocate), so each pages file with something to release is
 * rewritten by the engine's atomic writer: a new sparse file beside it
 * (`.pages-N.img.pagestack-tmp-<pid>-<rand>`, src/engine/output.ts) gets the kept
 * ranges at their offsets (released ranges are skipped, never written), is truncated to the full
 * size and fsynced, then renamed over the old file and the directory is fsynced. A crash leaves
 * either the old or the new file, both of which read the same through the top; a leftover
 * temporary file of a dead process is removed by the next run.
 *
 * Branches: an ancestor with another child (a branch) must not be deduplicated for this top,
 * since that child may read pages this top rewrote. Dedup refuses (unless --force) when it knows
 * of one: a directory beside or inside the stack's layers whose parent is an ancestor. A branch
 * elsewhere on the disk cannot be found (criu dedup does not look at all), and recording children
 * in their parents would mean writing into every input layer. So each deduplicated layer gets a
 * `.pagestack-dedup` naming the child it was deduplicated under, and verify of a stack that
 * reaches it through any other child reports an error: the damage is never silent to verify.
 *
 * A second run frees nothing more: a file whose released ranges already read as zeros and whose
 * allocation is no more than its kept bytes (plus a little filesystem slack) is left alone.
 */

import { constants } from 'node:fs';
import { type FileHandle, lstat, open, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoText } from '../engine/fs.js';
import { DEDUP_MARKER } from '../engine/layer-writer.js';
import { AtomicFile, cleanStale } from '../engine/output.js';
import { OutputError, PagestackError, StackError } from '../errors.js';
import { hex } from '../format.js';
import { PAGE_SIZE, PE_LAZY, PE_PRESENT } from '../image/pagemap.js';
import { DirLayerSource } from '../source/dir.js';
import { SortedRanges } from '../stack/ranges.js';
import { entryOffsets, LAZY } from '../stack/resolve.js';
import type { Stack } from '../stack/stack.js';

/** Process and shmem pagemap file names (as CRIU's cr-dedup.c matches them). */
export const PAGEMAP_FILE_RE = /^pagemap-(?:shmem-)?\d+\.img$/;
const PAGES_FILE_RE = /^pages-\d+\.img$/;
/** Temporary files of the atomic writer (output.ts TMP_TAG) for a pages file: `.pages-N.img.pagestack-tmp-<pid>-...`. */
const TEMP_RE = /^\.(pages-\d+\.img)\.pagestack-tmp-\d+/;

export const DEDUP_CHUNK = 8 << 20;

/** One ancestor pages file and the byte ranges of it to release. */
export interface DedupFilePlan {
  /** Layer index (>= 1; 0 is the top). */
  readonly layer: number;
  /** The layer's directory. */
  readonly dir: string;
  /** `pages-<id>.img`. */
  readonly pagesFile: string;
  /** The pagemap naming this pages file. */
  readonly pagemap: string;
  /** Released byte ranges [start, end), sorted and merged, page-aligned. */
  readonly released: readonly (readonly [number, number])[];
  readonly releasedBytes: number;
  /** Bytes of PRESENT pages the pagemap puts in the file. */
  readonly presentBytes: number;
}

export interface DedupPlan {
  /** Layer directories, index 0 = top. */
  readonly dirs: readonly string[];
  /** Files with something to release, by layer then name. */
  readonly files: readonly DedupFilePlan[];
  readonly releasedBytes: number;
}

export interface DedupFileResult {
  readonly layer: number;
  readonly dir: string;
  readonly pagesFile: string;
  readonly size: number;
  readonly releasedBytes: number;
  /** st_blocks * 512 before and after. */
  readonly allocatedBefore: number;
  readonly allocatedAfter: number;
  /** The file was rewritten with holes (false on a dry run or when already done). */
  readonly rewritten: boolean;
  /** The released ranges already read as zeros and take no room: nothing to do. */
  readonly alreadyDone: boolean;
  /** The file had other hard links: they keep the old data, so the space is not freed. */
  readonly hardLinked: boolean;
}

export interface DedupLayerResult {
  readonly index: number;
  readonly dir: string;
  /** Sum of st_blocks * 512 over the layer's pages-*.img files. */
  readonly allocatedBefore: number;
  readonly allocatedAfter: number;
  readonly files: readonly DedupFileResult[];
}

export interface DedupResult {
  readonly top: string;
  /** Ancestors only (index >= 1), top-down. */
  readonly layers: readonly DedupLayerResult[];
  readonly releasedBytes: number;
  readonly freedBytes: number;
  readonly dryRun: boolean;
  /** Stale temporary files of killed runs that were removed. */
  readonly removedTemps: readonly string[];
  /** Other children of the ancestors found beside the stack (branches that dedup may break). */
  readonly branches: readonly { readonly child: string; readonly ancestor: string }[];
}

export type DedupStep = 'temp-written' | 'renamed';

export interface DedupOptions {
  /** Compute and report, change nothing. */
  dryRun?: boolean;
  /** Buffer size for copying kept ranges (default 8 MiB). */
  chunkSize?: number;
  /** Called after each file is handled. */
  onFile?: (r: DedupFileResult) => void;
  /**
   * Deduplicate even when another directory beside the stack's layers is also a child of one of
   * its ancestors (a branch): that branch may need pages this top rewrote, and would break.
   */
  force?: boolean;
  /** Test hook, awaited at each step of a file's rewrite (throw to simulate a crash). */
  hook?: (step: DedupStep, file: DedupFilePlan) => void | Promise<void>;
}

/** Union of two sorted interval lists. */
function union(a: SortedRanges, b: SortedRanges): SortedRanges {
  const out = new SortedRanges();
  let i = 0;
  let j = 0;
  while (i < a.count || j < b.count) {
    if (j >= b.count || (i < a.count && a.start[i]! <= b.start[j]!)) {
      out.push(a.start[i]!, a.end[i]!);
      i++;
    } else {
      out.push(b.start[j]!, b.end[j]!);
      j++;
    }
  }
  return out;
}

function layerDir(stack: Stack, index: number): string {
  const src = stack.layers[index]!.source;
  if (!(src instanceof DirLayerSource)) {
    throw new StackError(
      `${src.name}: dedup works on local image directories only`,
      'PAGESTACK_UNSUPPORTED_SOURCE',
      {
        layer: src.name,
      },
    );
  }
  return src.name;
}

/**
 * Works out what to release, without touching anything. Validates each pagemap's entries and
 * resolves every pagemap of the top through the stack (so a broken stack is refused), then checks
 * that no page reachable from the top lies in a released range.
 */
export async function planDedup(stack: Stack): Promise<DedupPlan> {
  const dirs = stack.layers.map((l) => layerDir(stack, l.index));
  const names = new Set<string>();
  for (const l of stack.layers) for (const f of l.files) if (PAGEMAP_FILE_RE.test(f)) names.add(f);
  // key `${layer}\0${pagesFile}` -> plan
  const byFile = new Map<string, { plan: DedupFilePlan; ranges: SortedRanges }>();
  const plans: {
    layer: number;
    pagesFile: string;
    pagemap: string;
    ranges: SortedRanges;
    present: number;
  }[] = [];
  for (const file of [...names].sort()) {
    let covered = new SortedRanges();
    for (let L = 0; L < stack.layers.length; L++) {
      const cols = await stack.pagemapColumns(file, L);
      if (!cols) continue;
      const offs = entryOffsets(cols, stack.layers[L]!.source.name, file);
      const mine = new SortedRanges();
      const released = new SortedRanges();
      let present = 0;
      let c = 0; // covered cursor (entries are sorted, so it only moves forward)
      for (let i = 0; i < cols.count; i++) {
        const s = cols.vpage[i]!;
        const n = cols.nrPages[i]!;
        const f = cols.flags[i]!;
        if (n === 0 || !(f & (PE_PRESENT | PE_LAZY))) continue;
        mine.push(s, s + n);
        if (!(f & PE_PRESENT)) continue;
        present += n * PAGE_SIZE;
        if (L === 0) continue;
        const e = s + n;
        while (c < covered.count && covered.end[c]! <= s) c++;
        for (let k = c; k < covered.count && covered.start[k]! < e; k++) {
          const rs = Math.max(s, covered.start[k]!);
          const re = Math.min(e, covered.end[k]!);
          released.push(offs[i]! + (rs - s) * PAGE_SIZE, offs[i]! + (re - s) * PAGE_SIZE);
        }
      }
      if (L > 0) {
        const pagesFile = `pages-${cols.pagesId}.img`;
        if (plans.some((p) => p.layer === L && p.pagesFile === pagesFile)) {
          throw new StackError(
            `${dirs[L]}/${file}: names ${pagesFile}, which another pagemap of that layer also names; refusing to dedup`,
          );
        }
        plans.push({ layer: L, pagesFile, pagemap: file, ranges: released, present });
      }
      covered = union(covered, mine);
    }
  }
  const files: DedupFilePlan[] = [];
  for (const p of plans) {
    if (p.ranges.count === 0) continue;
    let bytes = 0;
    const released: [number, number][] = [];
    for (let k = 0; k < p.ranges.count; k++) {
      released.push([p.ranges.start[k]!, p.ranges.end[k]!]);
      bytes += p.ranges.end[k]! - p.ranges.start[k]!;
    }
    const plan: DedupFilePlan = {
      layer: p.layer,
      dir: dirs[p.layer]!,
      pagesFile: p.pagesFile,
      pagemap: p.pagemap,
      released,
      releasedBytes: bytes,
      presentBytes: p.present,
    };
    files.push(plan);
    byFile.set(`${p.layer}\0${p.pagesFile}`, { plan, ranges: p.ranges });
  }
  files.sort((x, y) => x.layer - y.layer || (x.pagesFile < y.pagesFile ? -1 : 1));

  // Safety: nothing the top can reach may be released.
  for (const file of [...names].sort()) {
    if (!stack.top.files.includes(file)) continue;
    const r = await stack.resolve(file);
    const x = r.extents;
    for (let i = 0; i < x.count; i++) {
      const L = x.layer[i]!;
      if (L === LAZY || L === 0) continue;
      const cols = await stack.pagemapColumns(file, L);
      const entry = byFile.get(`${L}\0pages-${cols!.pagesId}.img`);
      if (!entry) continue;
      const s = x.offset[i]!;
      const e = s + (x.end[i]! - x.start[i]!) * PAGE_SIZE;
      const rs = entry.ranges;
      for (let k = 0; k < rs.count; k++) {
        if (rs.start[k]! < e && s < rs.end[k]!) {
          throw new StackError(
            `internal error: ${dirs[L]}/pages-${cols!.pagesId}.img: offset ${Math.max(s, rs.start[k]!)} (the page of ${hex(x.start[i]! * PAGE_SIZE)} in ${file}) is reachable from the top but was planned for release`,
            'PAGESTACK_ERROR',
          );
        }
      }
    }
  }
  return { dirs, files, releasedBytes: files.reduce((a, f) => a + f.releasedBytes, 0) };
}

async function allocatedOf(dir: string, files: readonly string[]): Promise<number> {
  let total = 0;
  for (const f of files) {
    try {
      total += (await stat(join(dir, f))).blocks * 512;
    } catch {
      // vanished: counts as nothing
    }
  }
  return total;
}

async function pagesFilesOf(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => PAGES_FILE_RE.test(f)).sort();
}

/** Removes temporary files left in `dir` by killed runs (of dedup or of any other writer). */
async function removeStaleTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const targets = new Set<string>();
  for (const f of await readdir(dir)) {
    const m = TEMP_RE.exec(f);
    if (m) targets.add(m[1]!);
  }
  for (const t of [...targets].sort()) {
    for (const n of await cleanStale(join(dir, t))) removed.push(join(dir, n));
  }
  return removed;
}

async function readFully(
  fh: FileHandle,
  buf: Uint8Array,
  len: number,
  pos: number,
  what: string,
): Promise<void> {
  let done = 0;
  while (done < len) {
    const { bytesRead } = await fh.read(buf, done, len - done, pos + done);
    if (bytesRead === 0)
      throw new StackError(
        `${what}: offset ${pos + done}: unexpected end of file`,
        'PAGESTACK_PAGES_FILE_SHORT',
        { file: what, offset: pos + done },
      );
    done += bytesRead;
  }
}

function isZero(b: Uint8Array, len: number): boolean {
  // compare 8 bytes at a time where aligned
  const words = len >>> 3;
  if ((b.byteOffset & 7) === 0) {
    const w = new BigUint64Array(b.buffer, b.byteOffset, words);
    for (let i = 0; i < words; i++) if (w[i] !== 0n) return false;
  } else {
    for (let i = 0; i < words << 3; i++) if (b[i] !== 0) return false;
  }
  for (let i = words << 3; i < len; i++) if (b[i] !== 0) return false;
  return true;
}

async function rangesAreZero(
  fh: FileHandle,
  ranges: readonly (readonly [number, number])[],
  buf: Uint8Array,
  what: string,
): Promise<boolean> {
  for (const [s, e] of ranges) {
    for (let p = s; p < e; p += buf.length) {
      const n = Math.min(buf.length, e - p);
      await readFully(fh, buf, n, p, what);
      if (!isZero(buf, n)) return false;
    }
  }
  return true;
}

/** Rewrites one pages file with its released ranges left as holes. */
async function dedupFile(plan: DedupFilePlan, opts: DedupOptions, buf: Uint8Array): Promise<DedupFileResult> {
  const path = join(plan.dir, plan.pagesFile);
  let src: FileHandle;
  try {
    src = await open(path, constants.O_RDONLY);
  } catch (e) {
    throw new StackError(
      `${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message}, but ${plan.pagemap} has ${plan.presentBytes / PAGE_SIZE} pages in it`,
      'PAGESTACK_DEDUP_DAMAGED',
      { file: path },
    );
  }
  try {
    const st = await src.stat();
    if (!st.isFile())
      throw new StackError(`${path}: not a regular file`, 'PAGESTACK_DEDUP_DAMAGED', { file: path });
    if (st.size < plan.presentBytes) {
      throw new StackError(
        `${path}: ${st.size} bytes, but ${plan.pagemap} needs ${plan.presentBytes}; refusing to dedup a damaged layer`,
        'PAGESTACK_DEDUP_DAMAGED',
        { file: path },
      );
    }
    const before = st.blocks * 512;
    const base = {
      layer: plan.layer,
      dir: plan.dir,
      pagesFile: plan.pagesFile,
      size: st.size,
      releasedBytes: plan.releasedBytes,
      allocatedBefore: before,
      hardLinked: st.nlink > 1,
    };
    const kept = st.size - plan.releasedBytes;
    const slack = 64 * 1024 + PAGE_SIZE * Math.ceil(plan.released.length / 256);
    if (before <= kept + slack && (await rangesAreZero(src, plan.released, buf, path))) {
      return { ...base, allocatedAfter: before, rewritten: false, alreadyDone: true };
    }
    if (opts.dryRun) return { ...base, allocatedAfter: before, rewritten: false, alreadyDone: false };
    const mode = st.mode & 0o7777;
    const dst = await AtomicFile.create(path, { mode });
    try {
      let pos = 0;
      const copy = async (end: number): Promise<void> => {
        while (pos < end) {
          const n = Math.min(buf.length, end - pos);
          await readFully(src, buf, n, pos, path);
          await dst.write(buf, n, pos);
          pos += n;
        }
      };
      for (const [s, e] of plan.released) {
        await copy(s);
        pos = e;
      }
      await copy(st.size);
      await dst.fh.truncate(st.size);
      await dst.fh.chmod(mode);
      try {
        await dst.fh.chown(st.uid, st.gid);
      } catch {
        // not ours to give away: keep our ownership
      }
    } catch (e) {
      await dst.abort();
      if (e instanceof PagestackError) throw e;
      // a bare errno error (ENOSPC on a full disk) names no file: say which, and that nothing changed
      throw new OutputError(
        `${path}: writing its deduplicated copy ${basename(dst.tmp)}: ${errnoText(e)}; ${plan.pagesFile} is unchanged`,
        'PAGESTACK_OUTPUT',
        { file: path },
      );
    }
    await dst.commit(() => opts.hook?.('temp-written', plan));
    await opts.hook?.('renamed', plan);
    const after = (await stat(path)).blocks * 512;
    return { ...base, allocatedAfter: after, rewritten: true, alreadyDone: false };
  } finally {
    await src.close();
  }
}

/**
 * Directories beside the stack's layers (in the directories that hold them, and inside them)
 * whose parent link leads to one of the ancestors, but which are not in the stack.
 */
async function otherChildren(stack: Stack): Promise<{ child: string; ancestor: string }[]> {
  const inStack = new Set(stack.layers.map((l) => l.source.id));
  const ancestors = new Map(stack.layers.slice(1).map((l) => [l.source.id, l.source.name]));
  const places = new Set<string>();
  for (const l of stack.layers) {
    places.add(dirname(l.source.name));
    places.add(l.source.name);
  }
  const found: { child: string; ancestor: string }[] = [];
  const seen = new Set<string>();
  const check = async (dir: string): Promise<void> => {
    try {
      const st = await lstat(join(dir, 'parent'));
      if (!st.isSymbolicLink() && !st.isFile()) return;
      const src = await DirLayerSource.open(dir);
      if (inStack.has(src.id) || seen.has(src.id)) return;
      const parent = await src.parent();
      const anc = parent ? ancestors.get(parent.id) : undefined;
      if (anc !== undefined) {
        seen.add(src.id);
        found.push({ child: dir, ancestor: anc });
      }
    } catch {
      // not an image directory, or a broken link: not our concern
    }
  };
  for (const place of places) {
    let names: string[];
    try {
      names = await readdir(place);
    } catch {
      continue;
    }
    for (const n of names.sort()) await check(join(place, n));
  }
  return found;
}

/**
 * Deduplicates the ancestors of the stack's top layer (which must be a local directory stack).
 * The stack's cached pages files see the old data afterwards: open it again to read.
 */
export async function dedupStack(stack: Stack, opts: DedupOptions = {}): Promise<DedupResult> {
  const plan = await planDedup(stack);
  for (const f of plan.files) {
    const path = join(f.dir, f.pagesFile);
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(path);
    } catch {
      throw new StackError(
        `${path}: missing, but ${f.dir}/${f.pagemap} has ${f.presentBytes / PAGE_SIZE} pages in it`,
        'PAGESTACK_DEDUP_DAMAGED',
        { file: path },
      );
    }
    if (!st.isFile()) {
      throw new StackError(
        `${path}: ${st.isSymbolicLink() ? 'a symlink' : 'not a regular file'}; dedup replaces pages files and will not replace ${st.isSymbolicLink() ? 'a link' : 'it'}`,
        'PAGESTACK_DEDUP_DAMAGED',
        { file: path },
      );
    }
  }
  const branches = plan.files.length > 0 ? await otherChildren(stack) : [];
  if (branches.length > 0 && !opts.force && !opts.dryRun) {
    const b = branches[0]!;
    throw new StackError(
      `${b.child}: is also a child of ${b.ancestor} (a branch beside this stack); deduplicating for ${plan.dirs[0]} could release pages it needs`,
      'PAGESTACK_DEDUP_BRANCH',
      { file: b.child, layer: b.ancestor },
    );
  }
  const removedTemps: string[] = [];
  if (!opts.dryRun) {
    for (let L = 1; L < plan.dirs.length; L++) removedTemps.push(...(await removeStaleTemps(plan.dirs[L]!)));
  }
  const buf = new Uint8Array(opts.chunkSize ?? DEDUP_CHUNK);
  const layers: DedupLayerResult[] = [];
  let freed = 0;
  for (let L = 1; L < plan.dirs.length; L++) {
    const dir = plan.dirs[L]!;
    const pagesFiles = await pagesFilesOf(dir);
    const allocatedBefore = await allocatedOf(dir, pagesFiles);
    const files: DedupFileResult[] = [];
    for (const f of plan.files) {
      if (f.layer !== L) continue;
      const r = await dedupFile(f, opts, buf);
      files.push(r);
      opts.onFile?.(r);
    }
    if (!opts.dryRun && files.some((f) => f.rewritten || f.alreadyDone)) {
      // verify of another child of this layer reads this to tell it the pages it needs are gone
      const marker = join(dir, DEDUP_MARKER);
      await writeFile(marker, `${stack.layers[L - 1]!.source.id}\n`).catch((e: unknown) => {
        throw new OutputError(`${marker}: ${errnoText(e)}`, 'PAGESTACK_OUTPUT', { file: marker });
      });
    }
    const allocatedAfter = opts.dryRun ? allocatedBefore : await allocatedOf(dir, pagesFiles);
    freed += allocatedBefore - allocatedAfter;
    layers.push({ index: L, dir, allocatedBefore, allocatedAfter, files });
  }
  return {
    top: plan.dirs[0]!,
    layers,
    releasedBytes: plan.releasedBytes,
    freedBytes: freed,
    dryRun: opts.dryRun === true,
    removedTemps,
    branches,
  };
}
