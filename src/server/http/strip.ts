/**
 * The address-space strip the explorer draws: a process's mapped ranges laid end to end, each
 * gap between them squeezed to a fixed width, so that 20 MiB mapped across a 128 TiB address space
 * is readable. Positions on the strip are in pages ("strip pages"); the strip is cut into
 * segments, each a run of pages of one class (a layer, lazy, not dumped, a gap, or for a diff:
 * changed, added, ...).
 *
 * The browser never gets the segments themselves (a 4 GiB, 8-layer process has ~400k): it asks for
 * a window of the strip cut into B buckets (B = its canvas width in pixels) and gets, per bucket,
 * the share of each class, run-length encoded (neighbouring buckets with the same mix are one run).
 * A window of B buckets costs O(B + segments in the window), and the answer is at most B runs.
 */
import { PAGE_SIZE } from '../../image/pagemap.js';
import { partitionPoint } from '../../stack/search.js';

/** A mapped range of the address space as laid out on the strip. */
export interface StripRange {
  /** Addresses [start, end), page-aligned. */
  start: number;
  end: number;
  /** Strip page of `start`. */
  at: number;
  /** Index into the caller's list of ranges (e.g. VMAs), or -1. */
  ref: number;
}

/** Runs of pages of one class, in page numbers (address / 4096): columns, `count` long. */
export interface ClassRuns {
  start: Float64Array;
  end: Float64Array;
  cls: Int16Array;
  count: number;
}

/** Columns for `n` runs, to be filled and counted by the caller. */
export function classRuns(n: number): ClassRuns {
  return { start: new Float64Array(n), end: new Float64Array(n), cls: new Int16Array(n), count: 0 };
}

export interface Strip {
  ranges: StripRange[];
  /** Total strip pages (ranges plus gaps). */
  total: number;
  /** Width of a gap in strip pages. */
  gap: number;
  /** Segments in strip order: strip page of their start and end, and their class. */
  segStart: Float64Array;
  segEnd: Float64Array;
  segClass: Int16Array;
  segCount: number;
  classCount: number;
}

/** A bucket's mix: [class, share in 1/255ths] pairs, classes ascending, shares summing to ~255. */
export type Mix = number[];
/** `n` neighbouring buckets with the same mix. */
export interface BucketRun {
  n: number;
  mix: Mix;
}

/**
 * Lays out `ranges` (page-aligned [start, end) addresses, sorted, disjoint) and fills each with
 * `runs` (sorted by start, disjoint, inside the ranges); pages no run covers get `fill`, gaps
 * `gapClass`. A gap is as wide as 1/200 of the mapped pages (at least 1 page).
 */
export function buildStrip(
  ranges: readonly { start: number; end: number; ref: number }[],
  runs: ClassRuns,
  fill: number,
  gapClass: number,
  classCount: number,
): Strip {
  let mapped = 0;
  for (const r of ranges) mapped += (r.end - r.start) / PAGE_SIZE;
  const gap = Math.max(1, Math.ceil(mapped / 200));
  const laid: StripRange[] = [];
  // each run adds at most two segments (a filled hole before it and itself), each range one more
  // and a gap
  const cap = 2 * runs.count + 2 * ranges.length + 1;
  const segStart = new Float64Array(cap);
  const segEnd = new Float64Array(cap);
  const segClass = new Int16Array(cap);
  let n = 0;
  const push = (s: number, e: number, c: number): void => {
    if (e <= s) return;
    if (n > 0 && segClass[n - 1] === c && segEnd[n - 1] === s) segEnd[n - 1] = e;
    else {
      segStart[n] = s;
      segEnd[n] = e;
      segClass[n] = c;
      n++;
    }
  };
  let at = 0;
  let j = 0;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    if (i > 0 && ranges[i - 1]!.end !== r.start) {
      push(at, at + gap, gapClass);
      at += gap;
    }
    laid.push({ start: r.start, end: r.end, at, ref: r.ref });
    const p0 = r.start / PAGE_SIZE;
    const p1 = r.end / PAGE_SIZE;
    while (j < runs.count && runs.end[j]! <= p0) j++;
    let cur = p0;
    for (let k = j; k < runs.count && runs.start[k]! < p1; k++) {
      const s = Math.max(cur, runs.start[k]!);
      const e = Math.min(p1, runs.end[k]!);
      if (s > cur) push(at + (cur - p0), at + (s - p0), fill);
      if (e > s) push(at + (s - p0), at + (e - p0), runs.cls[k]!);
      cur = Math.max(cur, e);
    }
    push(at + (cur - p0), at + (p1 - p0), fill);
    at += p1 - p0;
  }
  return {
    ranges: laid,
    total: at,
    gap,
    segStart,
    segEnd,
    segClass,
    segCount: n,
    classCount,
  };
}

/** Index of the first segment ending after strip position `pos`. */
function firstSegment(s: Strip, pos: number): number {
  return partitionPoint(0, s.segCount, (i) => s.segEnd[i]! <= pos);
}

/**
 * The window [from, to) of the strip (strip pages, fractions allowed) cut into `buckets` equal
 * buckets, each with the share of every class it covers, run-length encoded.
 */
export function summarize(s: Strip, from: number, to: number, buckets: number): BucketRun[] {
  const w = (to - from) / buckets;
  const acc = new Float64Array(s.classCount);
  const runs: BucketRun[] = [];
  let key = '';
  let k = firstSegment(s, from);
  for (let b = 0; b < buckets; b++) {
    const b0 = from + b * w;
    const b1 = b === buckets - 1 ? to : from + (b + 1) * w;
    acc.fill(0);
    while (k < s.segCount && s.segEnd[k]! <= b0) k++;
    for (let i = k; i < s.segCount && s.segStart[i]! < b1; i++) {
      const c = Math.min(b1, s.segEnd[i]!) - Math.max(b0, s.segStart[i]!);
      if (c > 0) acc[s.segClass[i]!]! += c;
    }
    const mix: Mix = [];
    let covered = 0;
    for (let c = 0; c < s.classCount; c++) covered += acc[c]!;
    if (covered > 0) {
      for (let c = 0; c < s.classCount; c++) {
        const share = Math.round((acc[c]! / covered) * 255);
        if (share > 0) mix.push(c, share);
      }
    }
    const mk = mix.join(',');
    const last = runs[runs.length - 1];
    if (last && mk === key) last.n++;
    else {
      runs.push({ n: 1, mix });
      key = mk;
    }
  }
  return runs;
}

/** The range holding address `addr`, or undefined. */
export function rangeAt(s: Strip, addr: number): StripRange | undefined {
  const r = s.ranges[partitionPoint(0, s.ranges.length, (i) => s.ranges[i]!.end <= addr)];
  return r && r.start <= addr ? r : undefined;
}

/** The strip position of address `addr`, or null when no range holds it. */
export function stripPosition(s: Strip, addr: number): number | null {
  const r = rangeAt(s, addr);
  return r ? r.at + (addr - r.start) / PAGE_SIZE : null;
}

/** The class of the page at strip position `pos` (-1 beyond the strip). */
export function classAt(s: Strip, pos: number): number {
  const i = firstSegment(s, pos);
  return i < s.segCount && s.segStart[i]! <= pos ? s.segClass[i]! : -1;
}
