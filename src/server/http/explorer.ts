/**
 * The explorer's model: one open stack (plus extra directories to diff against) and, per
 * process, its maps laid out as a strip. Every answer comes from the library (summarizeStack,
 * processMaps, ProcessMemory reads, diffStacks); this file only shapes them for the page and
 * caches what is costly (a 4 GiB process resolves once, then every window of the strip is cheap).
 *
 * Layers are numbered from the bottom in everything the API answers and takes: 1 is the first
 * dump, N (the number of layers) the top. The library's Stack.layers runs the other way (index 0 is
 * the top); `layerNumber` / `layerIndex` convert at this boundary and nowhere else.
 */

import { type ChildProcess, fork } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ErrorCode, MemoryAccessError, PagestackError, RequestError } from '../../errors.js';
import { PAGE_SIZE } from '../../image/pagemap.js';
import { diffStacks, type PageRanges } from '../../ops/diff.js';
import { type MapsExtent, type ProcessMaps, processMaps } from '../../ops/maps.js';
import { compilePattern } from '../../ops/search.js';
import { summarizeStack } from '../../ops/summary.js';
import { openTarget } from '../../source/open.js';
import type { ProcessMemory } from '../../stack/process.js';
import { partitionPoint } from '../../stack/search.js';
import { openStack, type Stack } from '../../stack/stack.js';
import { replyOf, runSearch, type SearchJob, type SearchReply } from './search-worker.js';
import {
  buildStrip,
  type ClassRuns,
  classAt,
  classRuns,
  rangeAt,
  type Strip,
  stripPosition,
  summarize,
} from './strip.js';
import type {
  ClassInfo,
  ContainerSummary,
  DiffChange,
  DiffInfo,
  DiffPageInfo,
  MapInfo,
  PageInfo,
  PageState,
  RangeInfo,
  ReadInfo,
  ReadPiece,
  RunsInfo,
  SearchInfo,
  SearchMode,
  StackInfo,
} from './types.js';

/** Changed, added and removed ranges a diff lists at most (the counts cover all of them). */
export const MAX_DIFF_CHANGES = 2000;
/** Largest read the API answers (the page asks for a few pages at a time). */
export const MAX_READ = 64 * 1024;
export const MAX_BUCKETS = 8192;
/** Matches one search answers at most (the page lists and marks them; more say "truncated"). */
export const MAX_SEARCH_MATCHES = 1000;
export const DEFAULT_SEARCH_MATCHES = 200;
/** Longest pattern text the API takes, and bytes of context around each match. */
export const MAX_PATTERN = 4096;
const SEARCH_CONTEXT = 16;
/** Processes holding up to this many bytes are searched in the server's own process. */
export const SEARCH_IN_PROCESS_BYTES = 64 * 1024 * 1024;

interface ProcessModel {
  maps: ProcessMaps;
  mem: ProcessMemory;
  strip: Strip;
  classes: ClassInfo[];
  ranges: RangeInfo[];
  /** Every extent (VMAs' and outside ones), sorted by start. */
  extents: MapsExtent[];
}

interface DiffModel {
  info: DiffInfo;
  strip: Strip;
}

const DIFF_CLASSES = ['equal', 'changed', 'added', 'removed', 'lazy', 'neither', 'gap'] as const;
const DIFF_NAMES: Record<(typeof DIFF_CLASSES)[number], string> = {
  equal: 'equal',
  changed: 'changed',
  added: 'added (only in B)',
  removed: 'removed (only in A)',
  lazy: 'lazy (not compared)',
  neither: 'not dumped in either',
  gap: 'gap (unmapped)',
};

function rangeInfo(v: ProcessMaps['vmas'][number] | null, start: number, end: number, at: number): RangeInfo {
  const pages = (end - start) / PAGE_SIZE;
  return {
    start,
    end,
    at,
    pages,
    perms: v ? v.perms : '----',
    name: v ? v.name : '(pages outside every VMA)',
    dumped: v ? v.dumped : pages,
    lazy: v ? v.lazy : 0,
    notDumped: v ? v.notDumped : 0,
  };
}

/** The mapped ranges of a process: its VMAs, and pagemap runs outside them (or without an mm). */
function mappedRanges(m: ProcessMaps): { start: number; end: number; ref: number }[] {
  const out = m.vmas.map((v, i) => ({ start: v.start, end: v.end, ref: i }));
  for (const e of m.outside) out.push({ start: e.start, end: e.end, ref: -1 });
  out.sort((a, b) => a.start - b.start);
  // outside runs may touch each other: merge those
  const merged: typeof out = [];
  for (const r of out) {
    const last = merged[merged.length - 1];
    if (last && last.ref === -1 && r.ref === -1 && last.end >= r.start) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r });
  }
  return merged;
}

/** Every extent of a process (VMAs' and outside ones), sorted by start. */
function allExtents(m: ProcessMaps): MapsExtent[] {
  const out: MapsExtent[] = [];
  for (const v of m.vmas) for (const e of v.extents) out.push(e);
  // VMAs are sorted and their extents too: only pages outside them need a sort
  if (m.outside.length > 0) {
    for (const e of m.outside) out.push(e);
    out.sort((a, b) => a.start - b.start);
  }
  return out;
}

function extentAt(xs: readonly MapsExtent[], addr: number): MapsExtent | undefined {
  const e = xs[partitionPoint(0, xs.length, (i) => xs[i]!.end <= addr)];
  return e && e.start <= addr ? e : undefined;
}

/** Sorted page ranges [start, end) of a list of range lists, the union. */
function unionRanges(lists: readonly (readonly [number, number])[][]): [number, number][] {
  const all = lists.flat().sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [s, e] of all) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

function intersect(a: readonly [number, number][], b: readonly [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const s = Math.max(a[i]![0], b[j]![0]);
    const e = Math.min(a[i]![1], b[j]![1]);
    if (s < e) out.push([s, e]);
    if (a[i]![1] < b[j]![1]) i++;
    else j++;
  }
  return out;
}

function pageRanges(p: PageRanges): [number, number][] {
  return p.start.map((s, i) => [s, p.end[i]!]);
}

/** Dumped (not lazy) pages of a process, as page ranges. */
function dumpedPages(m: ProcessMaps): [number, number][] {
  return unionRanges([
    allExtents(m)
      .filter((e) => e.layer >= 0)
      .map((e) => [e.start / PAGE_SIZE, e.end / PAGE_SIZE] as [number, number]),
  ]);
}

/**
 * Classes of pages by priority: each list paints over the ones after it. Lists are sorted,
 * disjoint page ranges; the result is sorted, disjoint class runs.
 */
function paint(lists: readonly { cls: number; ranges: readonly [number, number][] }[]): ClassRuns {
  const points = new Set<number>();
  for (const l of lists)
    for (const [s, e] of l.ranges) {
      points.add(s);
      points.add(e);
    }
  const xs = [...points].sort((a, b) => a - b);
  const idx = lists.map(() => 0);
  const runs = classRuns(Math.max(0, xs.length - 1));
  for (let p = 0; p + 1 < xs.length; p++) {
    const s = xs[p]!;
    const e = xs[p + 1]!;
    let cls = -1;
    for (let l = 0; l < lists.length; l++) {
      const r = lists[l]!.ranges;
      while (idx[l]! < r.length && r[idx[l]!]![1] <= s) idx[l]!++;
      const cur = r[idx[l]!];
      if (cls < 0 && cur && cur[0] <= s) cls = lists[l]!.cls;
    }
    if (cls < 0) continue;
    const k = runs.count - 1;
    if (k >= 0 && runs.cls[k] === cls && runs.end[k] === s) runs.end[k] = e;
    else {
      runs.start[runs.count] = s;
      runs.end[runs.count] = e;
      runs.cls[runs.count] = cls;
      runs.count++;
    }
  }
  return runs;
}

/**
 * The last part of a path, as the page names a layer's directory; with its parent when it is a
 * bare number (dumps are often named 1, 2, 3: "series-stack/3" says more than "3").
 */
export function baseName(p: string): string {
  const parts = p.replace(/\/+$/, '').split('/');
  const last = parts.pop() || p;
  const parent = parts.pop();
  return /^\d+$/.test(last) && parent ? `${parent}/${last}` : last;
}

/**
 * The changed, added and removed ranges of a diff, sorted by address, merged where one kind
 * continues, at most `max` (in address order): what the page lists under the diff's strip.
 */
export function diffChanges(
  kinds: readonly { kind: DiffChange['kind']; ranges: readonly [number, number][] }[],
  vmaName: (addr: number) => string,
  max: number,
): { changes: DiffChange[]; total: number } {
  const all: { kind: DiffChange['kind']; s: number; e: number }[] = [];
  for (const k of kinds) for (const [s, e] of k.ranges) all.push({ kind: k.kind, s, e });
  all.sort((x, y) => x.s - y.s);
  const merged: typeof all = [];
  for (const r of all) {
    const last = merged[merged.length - 1];
    if (last && last.kind === r.kind && last.e === r.s) last.e = r.e;
    else merged.push({ ...r });
  }
  const changes = merged.slice(0, max).map((r) => ({
    start: r.s * PAGE_SIZE,
    end: r.e * PAGE_SIZE,
    kind: r.kind,
    pages: r.e - r.s,
    vma: vmaName(r.s * PAGE_SIZE),
  }));
  return { changes, total: merged.length };
}

function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/**
 * A process running search-worker.ts (its .js from dist/; from the sources, under the same
 * `--import tsx` as this one: worker threads of Node 20 do not get the loader), fed its job over
 * IPC. A process rather than a thread for that reason alone; it is ended by its pid.
 */
function searchProcess(): ChildProcess {
  const here = fileURLToPath(import.meta.url);
  const file = fileURLToPath(new URL(`./search-worker${extname(here)}`, import.meta.url));
  const execArgv: string[] = [];
  if (extname(here) === '.ts') {
    const a = process.execArgv;
    for (let i = 0; i < a.length; i++) {
      if (a[i] === '--import' && a[i + 1] !== undefined) execArgv.push(a[i]!, a[++i]!);
      else if (a[i]!.startsWith('--import=')) execArgv.push(a[i]!);
    }
  }
  return fork(file, [], { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

export class Explorer {
  private readonly models = new Map<number, Promise<ProcessModel>>();
  private readonly layerStacks = new Map<string, Promise<Stack>>();
  private readonly diffs = new Map<string, Promise<DiffModel>>();
  private readonly mapsOf = new Map<string, Promise<ProcessMaps>>();
  private summary: Promise<StackInfo> | null = null;
  private prepareTimer: ReturnType<typeof setTimeout> | null = null;

  private searching: { cancel: (why: Error) => void } | null = null;

  private constructor(
    /** The target as given (the search worker opens it again). */
    readonly target: string,
    readonly stack: Stack,
    /** Extra directories to diff against, as given. */
    readonly others: readonly string[],
  ) {}

  static async open(target: string, others: readonly string[] = []): Promise<Explorer> {
    return new Explorer(target, await openTarget(target), others);
  }

  async close(): Promise<void> {
    if (this.prepareTimer) clearTimeout(this.prepareTimer);
    this.searching?.cancel(new RequestError('the explorer is closing'));
    const stacks = [...this.layerStacks.values()];
    this.layerStacks.clear();
    for (const p of stacks) await (await p.catch(() => null))?.close();
    await this.stack.close();
  }

  /**
   * Does the costly work the page will ask for: resolves the stack and lays out the strip of each
   * process (for big stacks, seconds). `pagestack ui` runs it after printing the URL; requests
   * made meanwhile wait on the same promises.
   */
  async prepare(): Promise<void> {
    // in the order the page asks: the stack's summary, then each process's strip
    await this.stackInfo();
    for (const p of await this.stack.processes()) await this.model(p.pid).catch(() => undefined);
  }

  /**
   * prepare() in the background (what `pagestack ui` does once the URL is printed), after
   * `delayMs`: a page opened at once gets its own files first (resolving holds the event loop for
   * long stretches), and its first API request starts the same work itself; a page opened later
   * finds it done. The page gets errors through the API; `onError` hears of the stack's (bad
   * images found while resolving) too.
   */
  prepareInBackground(delayMs = 1000, onError?: (err: unknown) => void): void {
    if (this.prepareTimer) return;
    this.prepareTimer = setTimeout(() => {
      this.prepare().catch((e: unknown) => onError?.(e));
    }, delayMs);
    this.prepareTimer.unref();
  }

  /** A layer's number (1 = the bottom, N = the top) from the library's index (0 = the top). */
  layerNumber(index: number): number {
    return this.stack.layers.length - index;
  }

  /** The library's index of layer number `n` (1 = the bottom), or undefined when there is none. */
  layerIndex(n: number): number | undefined {
    const L = this.stack.layers.length;
    return Number.isInteger(n) && n >= 1 && n <= L ? L - n : undefined;
  }

  /** "layer N (name)", the page's and the messages' name of a layer. */
  layerLabel(index: number): string {
    return `layer ${this.layerNumber(index)} (${baseName(this.stack.layers[index]!.source.name)})`;
  }

  /**
   * What the archive the stack's top comes from says of its container (inspect's report, only
   * for an archive: the archive readers load then and only then).
   */
  private async container(): Promise<ContainerSummary | null> {
    const { ArchiveLayerSource } = await import('../../source/archive/index.js');
    const src = this.stack.top.source;
    if (!(src instanceof ArchiveLayerSource)) return null;
    const { inspectStack } = await import('../../ops/inspect.js');
    const r = await inspectStack(this.stack, this.target, { archive: src.archive, maxArgBytes: 0 });
    const c = r.container;
    return {
      archive: src.archive.path,
      format: src.archive.format,
      engine: r.engine,
      name: c?.name ?? null,
      id: c?.id ?? null,
      image: c?.image ?? null,
      runtime: c?.runtime ?? null,
      created: c?.created ?? null,
      checkpointed: c?.checkpointed ?? null,
      command: c?.command ?? null,
    };
  }

  /** The stack's summary, computed once (the images do not change under a running explorer). */
  stackInfo(): Promise<StackInfo> {
    if (!this.summary) {
      const p = this.buildStackInfo();
      this.summary = p;
      p.catch(() => {
        if (this.summary === p) this.summary = null;
      });
    }
    return this.summary;
  }

  private async buildStackInfo(): Promise<StackInfo> {
    const [s, container] = await Promise.all([summarizeStack(this.stack), this.container()]);
    const per = s.layers.map(() => ({ held: 0, fromBelow: 0, used: 0 }));
    const pagemaps = [...s.processes.map((p) => p.memory), ...s.shmem];
    for (const m of pagemaps) {
      for (const l of m?.perLayer ?? []) {
        const c = per[l.layer];
        if (!c) continue;
        c.held += l.held;
        c.fromBelow += l.fromBelow;
        c.used += l.used;
      }
    }
    return {
      top: s.top,
      layers: s.layers.map((l, i) => ({
        index: l.index,
        number: this.layerNumber(l.index),
        label: this.layerLabel(l.index),
        dir: baseName(l.name),
        name: l.name,
        size: l.size,
        allocated: l.allocated,
        deduplicated: l.deduplicated,
        note: l.note,
        ...per[i]!,
      })),
      processes: s.processes.map((p) => ({
        pid: p.pid,
        ppid: p.ppid,
        comm: p.comm,
        threads: p.threads,
        dumpedPages: p.memory?.dumpedPages ?? 0,
        lazyPages: p.memory?.lazyPages ?? 0,
      })),
      others: this.others.map((name, i) => ({ id: `d${i}`, name, label: `${name} (--with)` })),
      totals: s.totals,
      container,
    };
  }

  private model(pid: number): Promise<ProcessModel> {
    let p = this.models.get(pid);
    if (!p) {
      p = this.buildModel(pid);
      this.models.set(pid, p);
      p.catch(() => this.models.delete(pid));
    }
    return p;
  }

  private async buildModel(pid: number): Promise<ProcessModel> {
    await this.stack.pickPid(pid);
    const maps = await processMaps(this.stack, pid);
    const mem = await this.stack.process(pid);
    const L = this.stack.layers.length;
    const classes: ClassInfo[] = [];
    for (let l = 0; l < L; l++) {
      classes.push({ id: l, name: this.layerLabel(l), kind: 'layer', layer: this.layerNumber(l) });
    }
    const LAZY = L;
    const NOT_DUMPED = L + 1;
    const GAP = L + 2;
    classes.push({ id: LAZY, name: 'lazy', kind: 'lazy', layer: null });
    classes.push({ id: NOT_DUMPED, name: 'not dumped', kind: 'not-dumped', layer: null });
    classes.push({ id: GAP, name: 'gap (unmapped)', kind: 'gap', layer: null });
    const extents = allExtents(maps);
    const runs = classRuns(extents.length);
    for (const e of extents) {
      runs.start[runs.count] = e.start / PAGE_SIZE;
      runs.end[runs.count] = e.end / PAGE_SIZE;
      runs.cls[runs.count] = e.layer >= 0 ? e.layer : LAZY;
      runs.count++;
    }
    const strip = buildStrip(mappedRanges(maps), runs, NOT_DUMPED, GAP, classes.length);
    const ranges = strip.ranges.map((r) =>
      rangeInfo(r.ref >= 0 ? maps.vmas[r.ref]! : null, r.start, r.end, r.at),
    );
    return { maps, mem, strip, classes, ranges, extents };
  }

  async mapInfo(pid: number): Promise<MapInfo> {
    const m = await this.model(pid);
    return {
      pid,
      comm: m.maps.comm,
      classes: m.classes,
      total: m.strip.total,
      gap: m.strip.gap,
      ranges: m.ranges,
      vsyscall: m.maps.vsyscall,
      totals: m.maps.totals,
    };
  }

  async runs(pid: number, from: number, to: number, buckets: number): Promise<RunsInfo> {
    return window((await this.model(pid)).strip, from, to, buckets);
  }

  private state(m: ProcessModel, addr: number): { state: PageState; extent: MapsExtent | undefined } {
    const extent = extentAt(m.extents, addr);
    if (extent) return { state: extent.layer >= 0 ? 'dumped' : 'lazy', extent };
    const mapped = m.maps.vmas.length === 0 ? false : m.mem.vmaAt(addr) !== undefined;
    return { state: mapped ? 'not-dumped' : 'unmapped', extent };
  }

  async pageInfo(pid: number, addr: number): Promise<PageInfo> {
    const m = await this.model(pid);
    const page = addr - (addr % PAGE_SIZE);
    const { state, extent } = this.state(m, addr);
    const layer = extent && extent.layer >= 0 ? extent.layer : null;
    const r = rangeAt(m.strip, addr);
    return {
      addr,
      page,
      state,
      layer: layer === null ? null : this.layerNumber(layer),
      layerName: layer === null ? null : this.stack.layers[layer]!.source.name,
      fileOffset: extent && layer !== null ? extent.fileOffset + (page - extent.start) : null,
      vma: r ? m.ranges[m.strip.ranges.indexOf(r)]! : null,
    };
  }

  /**
   * `len` bytes at `addr`, one piece per page: its bytes and the layer they come from, or why the
   * library refuses to read it (not dumped, lazy, unmapped) in its own words.
   */
  async read(pid: number, addr: number, len: number): Promise<ReadInfo> {
    if (len > MAX_READ) throw new RequestError(`len ${len}: at most ${MAX_READ} bytes per request`);
    if (addr + len > Number.MAX_SAFE_INTEGER) {
      throw new RequestError(`address 0x${addr.toString(16)} + ${len} is beyond 2^53`);
    }
    const m = await this.model(pid);
    const pieces: ReadPiece[] = [];
    let cur = addr;
    const end = addr + len;
    while (cur < end) {
      const stop = Math.min(end, cur - (cur % PAGE_SIZE) + PAGE_SIZE);
      const { state, extent } = this.state(m, cur);
      const layer = extent && extent.layer >= 0 ? extent.layer : null;
      const piece: ReadPiece = {
        addr: cur,
        len: stop - cur,
        state,
        layer: layer === null ? null : this.layerNumber(layer),
        layerName: layer === null ? null : this.stack.layers[layer]!.source.name,
        data: null,
        refusal: null,
      };
      try {
        piece.data = toBase64(await m.mem.read(cur, stop - cur));
      } catch (e) {
        if (!(e instanceof MemoryAccessError)) throw e;
        piece.state = e.reason;
        piece.refusal = e.message;
      }
      pieces.push(piece);
      cur = stop;
    }
    const r = rangeAt(m.strip, addr);
    return { addr, len, pieces, vma: r ? m.ranges[m.strip.ranges.indexOf(r)]! : null };
  }

  /**
   * A stack by id: a layer number of the explorer's stack ("1" = the bottom: the stack of that
   * layer and those below it) or "dN", the Nth directory given with --with (from d0).
   */
  private stackById(id: string): Promise<Stack> {
    let p = this.layerStacks.get(id);
    if (p) return p;
    const d = /^d(\d+)$/.exec(id);
    if (d) {
      const dir = this.others[Number(d[1])];
      if (dir === undefined) throw new RequestError(`no directory '${id}': ${this.others.length} given`);
      p = openTarget(dir);
    } else if (/^\d+$/.test(id)) {
      const index = this.layerIndex(Number(id));
      if (index === undefined) {
        throw new RequestError(
          `no layer ${id}: the stack has layers 1 (the bottom) to ${this.stack.layers.length} (the top)`,
        );
      }
      p = index === 0 ? Promise.resolve(this.stack) : openStack(this.stack.layers[index]!.source);
    } else {
      throw new RequestError(`'${id}': expected a layer number (1 = the bottom) or dN (a --with directory)`);
    }
    this.layerStacks.set(id, p);
    p.catch(() => this.layerStacks.delete(id));
    return p;
  }

  private stackName(id: string): string {
    const d = /^d(\d+)$/.exec(id);
    return d ? `${this.others[Number(d[1])]!} (--with)` : this.layerLabel(this.layerIndex(Number(id))!);
  }

  private mapsFor(id: string, stack: Stack, pid: number): Promise<ProcessMaps> {
    const key = `${id}\0${pid}`;
    let p = this.mapsOf.get(key);
    if (!p) {
      p = processMaps(stack, pid);
      this.mapsOf.set(key, p);
      p.catch(() => this.mapsOf.delete(key));
    }
    return p;
  }

  private diffModel(pid: number, a: string, b: string): Promise<DiffModel> {
    const key = `${pid}\0${a}\0${b}`;
    let p = this.diffs.get(key);
    if (!p) {
      p = this.buildDiff(pid, a, b);
      this.diffs.set(key, p);
      p.catch(() => this.diffs.delete(key));
    }
    return p;
  }

  private async buildDiff(pid: number, a: string, b: string): Promise<DiffModel> {
    const [sa, sb] = await Promise.all([this.stackById(a), this.stackById(b)]);
    const result = await diffStacks(sa, sb, { pid });
    const d = result.processes[0]!;
    const [ma, mb] = await Promise.all([this.mapsFor(a, sa, pid), this.mapsFor(b, sb, pid)]);
    const C = Object.fromEntries(DIFF_CLASSES.map((k, i) => [k, i])) as Record<
      (typeof DIFF_CLASSES)[number],
      number
    >;
    const both = intersect(dumpedPages(ma), dumpedPages(mb));
    const runs = paint([
      { cls: C.changed, ranges: pageRanges(d.changed) },
      { cls: C.added, ranges: pageRanges(d.added) },
      { cls: C.removed, ranges: pageRanges(d.removed) },
      { cls: C.lazy, ranges: pageRanges(d.lazy) },
      { cls: C.equal, ranges: both },
    ]);
    // the layout: the union of both sides' mapped ranges
    const union = unionRanges([
      mappedRanges(ma).map((r) => [r.start, r.end] as [number, number]),
      mappedRanges(mb).map((r) => [r.start, r.end] as [number, number]),
    ]);
    const strip = buildStrip(
      union.map(([s, e], i) => ({ start: s, end: e, ref: i })),
      runs,
      C.neither,
      C.gap,
      DIFF_CLASSES.length,
    );
    const vmaOf = (addr: number): ProcessMaps['vmas'][number] | null =>
      mb.vmas.find((v) => v.start <= addr && addr < v.end) ??
      ma.vmas.find((v) => v.start <= addr && addr < v.end) ??
      null;
    const ranges = strip.ranges.map((r) => {
      const info = rangeInfo(vmaOf(r.start), r.start, r.end, r.at);
      return { ...info, pages: (r.end - r.start) / PAGE_SIZE };
    });
    const vmaName = (addr: number): string => {
      const v = vmaOf(addr);
      return v ? `${v.perms} ${v.name || '(anonymous)'}` : '(outside every VMA)';
    };
    const listed = diffChanges(
      [
        { kind: 'changed', ranges: pageRanges(d.changed) },
        { kind: 'added', ranges: pageRanges(d.added) },
        { kind: 'removed', ranges: pageRanges(d.removed) },
      ],
      vmaName,
      MAX_DIFF_CHANGES,
    );
    const info: DiffInfo = {
      pid,
      a: this.stackName(a),
      b: this.stackName(b),
      counts: {
        changed: d.changed.pages,
        added: d.added.pages,
        removed: d.removed.pages,
        equal: d.equalPages,
        lazy: d.lazy.pages,
      },
      classes: DIFF_CLASSES.map((k, i) => ({ id: i, name: DIFF_NAMES[k], kind: k, layer: null })),
      total: strip.total,
      gap: strip.gap,
      ranges,
      changes: listed.changes,
      changesTotal: listed.total,
    };
    return { info, strip };
  }

  /** What the diff of `a` and `b` says of the page at `addr` (the diff map's hover). */
  async diffAt(pid: number, a: string, b: string, addr: number): Promise<DiffPageInfo> {
    await this.stack.pickPid(pid);
    const d = await this.diffModel(pid, a, b);
    const page = addr - (addr % PAGE_SIZE);
    const pos = stripPosition(d.strip, page);
    const cls = pos === null ? -1 : classAt(d.strip, pos);
    const c = d.info.classes[cls];
    const r = rangeAt(d.strip, addr);
    const kind = c && c.kind !== 'gap' ? (c.kind as DiffPageInfo['kind']) : 'unmapped';
    return {
      addr,
      page,
      kind,
      name: c && kind !== 'unmapped' ? c.name : 'unmapped in both',
      vma: r ? d.info.ranges[d.strip.ranges.indexOf(r)]! : null,
    };
  }

  /**
   * `pagestack search` in one process (src/ops/search.ts, its own chunked, bounded reads), stopped
   * after `max` matches, in a process of its own (search-worker.ts) so the server answers the page
   * meanwhile. A newer search, or `signal` (the page went away), ends it. Shared memory matches
   * come once per mapping in this process.
   */
  async search(
    pid: number,
    text: string,
    mode: SearchMode,
    utf16: boolean,
    max: number,
    signal?: AbortSignal,
  ): Promise<SearchInfo> {
    if (text.length > MAX_PATTERN) {
      throw new RequestError(`pattern of ${text.length} characters: at most ${MAX_PATTERN}`);
    }
    if (!Number.isInteger(max) || max < 1 || max > MAX_SEARCH_MATCHES) {
      throw new RequestError(`max ${max}: expected 1 to ${MAX_SEARCH_MATCHES} matches`);
    }
    // a bad pattern or pid fails here, before any reading
    compilePattern(text, { hex: mode === 'hex', regex: mode === 'regex', utf16 });
    await this.stack.pickPid(pid);
    this.searching?.cancel(new RequestError('search ended: a newer search replaced it'));
    const t0 = performance.now();
    const job: SearchJob = { target: this.target, pid, text, mode, utf16, max, context: SEARCH_CONTEXT };
    // a small process is searched here and now (tens of ms; a new process costs more than that);
    // a regular expression never is: it may take its whole deadline (ops/search.ts
    // REGEX_DEADLINE_MS) per chunk, and the server must answer meanwhile
    const held = (await this.model(pid)).maps.totals.dumped * PAGE_SIZE;
    const reply =
      held <= SEARCH_IN_PROCESS_BYTES && mode !== 'regex'
        ? await runSearch(job, this.stack).catch(replyOf)
        : await this.searchElsewhere(job, signal);
    if (!reply.ok) {
      const code = (reply.error.code ?? 'PAGESTACK_ERROR') as ErrorCode;
      const e = new PagestackError(reply.error.message, code, { ...reply.error.data });
      e.name = reply.error.name;
      throw e;
    }
    return {
      pid,
      pattern: text,
      mode,
      utf16,
      matches: reply.matches.map((h) => ({ ...h, layer: this.layerNumber(h.layer) })),
      truncated: reply.truncated,
      limit: max,
      bytesSearched: reply.bytesSearched,
      ms: Math.round(performance.now() - t0),
    };
  }

  /** A search in a process of its own (searchProcess), ended by a newer one or by `signal`. */
  private searchElsewhere(job: SearchJob, signal?: AbortSignal): Promise<SearchReply> {
    const child = searchProcess();
    const end = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    return new Promise<SearchReply>((resolve, reject) => {
      const cancel = (why: Error): void => {
        end();
        reject(why);
      };
      const mine = { cancel };
      this.searching = mine;
      const onAbort = (): void => cancel(new RequestError('search ended: the page went away'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        if (this.searching === mine) this.searching = null;
      };
      child.once('message', (r) => {
        done();
        resolve(r as SearchReply);
        end();
      });
      child.once('error', (e) => {
        done();
        end();
        reject(e);
      });
      child.once('exit', (code, sig) => {
        done();
        reject(new Error(`the search process exited (${sig ?? code}) without an answer`));
      });
      child.send(job);
    });
  }

  async diff(pid: number, a: string, b: string): Promise<DiffInfo> {
    await this.stack.pickPid(pid);
    return (await this.diffModel(pid, a, b)).info;
  }

  async diffRuns(
    pid: number,
    a: string,
    b: string,
    from: number,
    to: number,
    buckets: number,
  ): Promise<RunsInfo> {
    await this.stack.pickPid(pid);
    return window((await this.diffModel(pid, a, b)).strip, from, to, buckets);
  }
}

function window(strip: Strip, from: number, to: number, buckets: number): RunsInfo {
  if (!(to > from)) throw new RequestError(`empty window: from ${from} to ${to}`);
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > MAX_BUCKETS) {
    throw new RequestError(`buckets ${buckets}: expected 1 to ${MAX_BUCKETS}`);
  }
  return { from, to, buckets, runs: summarize(strip, from, to, buckets) };
}
