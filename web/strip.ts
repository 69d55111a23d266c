/**
 * The strip: a canvas drawing a window [from, to) of strip pages (a process's mapped ranges laid
 * end to end, gaps squeezed), from run-length bucket summaries the server makes for the window on
 * screen, one bucket per device pixel. Used by the map and the diff view alike.
 *
 * A pixel holding pages of one class is filled with its colour. A pixel holding pages of several
 * (at any zoom above one page per pixel) is filled with the colour of the class the source ranks
 * first (`rank`: on the map the one holding most of its pages, on the diff a change before equal
 * pages) and gets a dark band along its bottom, which the legend explains; the hover lists shares.
 */
import type { ClassInfo, RangeInfo, RunsInfo } from '../src/server/http/types.js';
import { partitionPoint } from '../src/stack/search.js';
import { classColour, MARK_COLOUR, MIXED_COLOUR } from './colours.js';
import { basename, hex, PAGE } from './format.js';
import { report, writeUrl } from './state.js';

export interface StripSource {
  total: number;
  ranges: RangeInfo[];
  classes: ClassInfo[];
  runs(from: number, to: number, buckets: number, signal: AbortSignal): Promise<RunsInfo>;
  /** Which class a mixed pixel shows: the highest rank, then the largest share. Default: share. */
  rank?: (cls: ClassInfo) => number;
}

/** One pixel's mix: [class id, share in 1/255ths] pairs, and pages per pixel. */
export interface PixelMix {
  mix: number[];
  pages: number;
}

export function rangeIndexAtPos(ranges: readonly RangeInfo[], pos: number): number {
  return partitionPoint(0, ranges.length, (i) => ranges[i]!.at + ranges[i]!.pages <= pos);
}

export function posOfAddress(ranges: readonly RangeInfo[], addr: number): number | null {
  for (const r of ranges) if (r.start <= addr && addr < r.end) return r.at + (addr - r.start) / PAGE;
  return null;
}

/**
 * The class a bucket of `mix` is drawn in, and whether it holds pages of several classes (gaps
 * aside: a pixel at a range's edge is not "mixed" for holding some of the gap beside it).
 */
export function pixelClass(
  mix: readonly number[],
  classes: readonly ClassInfo[],
  rank: (c: ClassInfo) => number,
): { cls: number; mixed: boolean } {
  let best = -1;
  let bestRank = Number.NEGATIVE_INFINITY;
  let bestShare = -1;
  let kinds = 0;
  for (let i = 0; i < mix.length; i += 2) {
    const c = classes[mix[i]!];
    if (!c || c.kind === 'gap') continue;
    kinds++;
    const r = rank(c);
    const share = mix[i + 1]!;
    if (r > bestRank || (r === bestRank && share > bestShare)) {
      best = mix[i]!;
      bestRank = r;
      bestShare = share;
    }
  }
  if (best < 0) return { cls: mix[0] ?? -1, mixed: false };
  return { cls: best, mixed: kinds > 1 };
}

export class StripView {
  private src: StripSource | null = null;
  private from = 0;
  private to = 1;
  private pending: AbortController | null = null;
  private frame = 0;
  private last: { image: ImageBitmap | HTMLCanvasElement; from: number; to: number } | null = null;
  /** The runs of the last drawn frame, for the hover's "this pixel holds ...". */
  private lastRuns: RunsInfo | null = null;
  /** Strip positions to mark (search matches), drawn over the pages. */
  private marks: number[] = [];
  /** Time from setSource to the first drawn frame, ms (the page's own measure of map latency). */
  firstDraw: number | null = null;
  private started = 0;

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly axis: HTMLElement,
    private readonly onHover: (pos: number | null, range: RangeInfo | null, mix: PixelMix | null) => void,
    private readonly onPick: (addr: number) => void,
  ) {
    canvas.addEventListener('wheel', (e) => {
      e.preventDefault();
      this.zoomAt(e.deltaY < 0 ? 0.8 : 1.25, this.posAtX(e.offsetX));
    });
    let drag: { x: number; from: number; to: number; moved: boolean } | null = null;
    canvas.addEventListener('mousedown', (e) => {
      drag = { x: e.clientX, from: this.from, to: this.to, moved: false };
    });
    window.addEventListener('mouseup', () => {
      setTimeout(() => {
        drag = null;
      }, 0);
    });
    window.addEventListener('mousemove', (e) => {
      if (!drag || !(e.buttons & 1)) return;
      const dx = e.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      const per = (drag.to - drag.from) / canvas.clientWidth;
      this.setWindow(drag.from - dx * per, drag.to - dx * per);
    });
    canvas.addEventListener('mousemove', (e) => {
      const pos = this.posAtX(e.offsetX);
      canvas.dataset['hoverX'] = String(e.offsetX);
      this.onHover(pos, this.rangeAt(pos), this.mixAtX(e.offsetX));
    });
    canvas.addEventListener('mouseleave', () => this.onHover(null, null, null));
    canvas.addEventListener('click', (e) => {
      if (drag?.moved) return;
      const a = this.addressAt(this.posAtX(e.offsetX));
      if (a !== null) this.onPick(a);
    });
    canvas.addEventListener('keydown', (e) => {
      const span = this.to - this.from;
      const mid = (this.from + this.to) / 2;
      if (e.key === '+' || e.key === '=') this.zoomAt(0.5, mid);
      else if (e.key === '-' || e.key === '_') this.zoomAt(2, mid);
      else if (e.key === 'ArrowLeft') this.setWindow(this.from - span / 4, this.to - span / 4);
      else if (e.key === 'ArrowRight') this.setWindow(this.from + span / 4, this.to + span / 4);
      else if (e.key === '0') this.reset();
      else if (e.key === 'Enter') {
        const a = this.addressAt(mid);
        if (a !== null) this.onPick(a);
      } else return;
      e.preventDefault();
    });
    new ResizeObserver(() => {
      this.drawAxis();
      this.request();
    }).observe(canvas);
  }

  /** Marks these strip positions (sorted) on every frame from now on. */
  setMarks(marks: number[]): void {
    this.marks = marks;
    this.canvas.dataset['marks'] = String(marks.length);
    this.last = null;
    this.request();
  }

  window(): { from: number; to: number } | null {
    return this.src ? { from: this.from, to: this.to } : null;
  }

  setSource(src: StripSource, from?: number, to?: number): void {
    this.src = src;
    this.last = null;
    this.lastRuns = null;
    this.firstDraw = null;
    this.started = performance.now();
    if (from !== undefined && to !== undefined && to > from) this.setWindow(from, to);
    else this.reset();
  }

  reset(): void {
    if (this.src) this.setWindow(0, Math.max(1, this.src.total));
  }

  zoomAt(factor: number, pos: number): void {
    const span = Math.max(1, (this.to - this.from) * factor);
    const f = (pos - this.from) / (this.to - this.from);
    this.setWindow(pos - f * span, pos - f * span + span);
  }

  /** Zooms to [from, to) in strip pages, kept inside the strip and at least one page wide. */
  setWindow(from: number, to: number): void {
    if (!this.src) return;
    const total = Math.max(1, this.src.total);
    let span = Math.min(total, Math.max(1, to - from));
    if (!Number.isFinite(span)) span = total;
    let f = Math.max(0, Math.min(total - span, from));
    if (!Number.isFinite(f)) f = 0;
    this.from = f;
    this.to = f + span;
    this.canvas.dataset['from'] = String(this.from);
    this.canvas.dataset['to'] = String(this.to);
    this.drawAxis();
    this.request();
    writeUrl();
  }

  posAtX(x: number): number {
    return this.from + (x / Math.max(1, this.canvas.clientWidth)) * (this.to - this.from);
  }

  rangeAt(pos: number): RangeInfo | null {
    if (!this.src) return null;
    const r = this.src.ranges[rangeIndexAtPos(this.src.ranges, pos)];
    return r && r.at <= pos ? r : null;
  }

  addressAt(pos: number): number | null {
    const r = this.rangeAt(pos);
    return r ? r.start + Math.floor(pos - r.at) * PAGE : null;
  }

  /** The mix of the drawn pixel under CSS x, when the last frame is the window on screen. */
  mixAtX(x: number): PixelMix | null {
    const info = this.lastRuns;
    if (!info || info.from !== this.from || info.to !== this.to) return null;
    const bucket = Math.floor((x / Math.max(1, this.canvas.clientWidth)) * info.buckets);
    let b = 0;
    for (const run of info.runs) {
      if (bucket < b + run.n) return { mix: run.mix, pages: (info.to - info.from) / info.buckets };
      b += run.n;
    }
    return null;
  }

  /** One request per animation frame; a newer window aborts the older request. */
  private request(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.fetchAndDraw().catch(report);
    });
    this.drawStretched();
  }

  /** While a window loads, the last frame stretched to where it now lies. */
  private drawStretched(): void {
    const l = this.last;
    if (!l) return;
    const c = this.canvas;
    const ctx = c.getContext('2d')!;
    const span = this.to - this.from;
    const x0 = ((l.from - this.from) / span) * c.width;
    const x1 = ((l.to - this.from) / span) * c.width;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(l.image, x0, 0, x1 - x0, c.height);
  }

  private async fetchAndDraw(): Promise<void> {
    const src = this.src;
    if (!src) return;
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr));
    const h = Math.max(1, Math.round(c.clientHeight * dpr));
    this.pending?.abort();
    const ctl = new AbortController();
    this.pending = ctl;
    const from = this.from;
    const to = this.to;
    const info = await src.runs(from, to, Math.min(8192, w), ctl.signal);
    if (ctl.signal.aborted || src !== this.src) return;
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
    const ctx = c.getContext('2d')!;
    const colours = src.classes.map(classColour);
    const rank = src.rank ?? (() => 0);
    const bw = w / info.buckets;
    const band = Math.max(3, Math.round(h * 0.08));
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, h);
    let b = 0;
    let mixed = 0;
    let firstMixed = -1;
    const lazy = src.classes.find((k) => k.kind === 'lazy');
    for (const run of info.runs) {
      const x0 = Math.round(b * bw);
      const x1 = Math.round((b + run.n) * bw);
      const p = pixelClass(run.mix, src.classes, rank);
      if (p.cls >= 0) {
        ctx.fillStyle = colours[p.cls]!;
        ctx.fillRect(x0, 0, x1 - x0, h);
      }
      if (p.mixed) {
        // pages of several classes in this pixel: the marker the legend explains
        ctx.fillStyle = MIXED_COLOUR;
        ctx.fillRect(x0, h - band, x1 - x0, band);
        mixed += run.n;
        if (firstMixed < 0) firstMixed = b;
      }
      b += run.n;
    }
    // lazy pages: hatched on top of their colour, so they read as "not here" at a glance
    if (lazy) this.hatch(ctx, info, bw, lazy.id, h - band);
    // VMA boundaries and gaps
    ctx.fillStyle = '#24292f';
    const span = to - from;
    for (const r of src.ranges) {
      for (const q of [r.at, r.at + r.pages]) {
        if (q <= from || q >= to) continue;
        ctx.fillRect(Math.round(((q - from) / span) * w), 0, Math.max(1, Math.round(dpr)), h);
      }
    }
    this.drawMarks(ctx, from, to, w, h, dpr);
    const copy = document.createElement('canvas');
    copy.width = w;
    copy.height = h;
    copy.getContext('2d')!.drawImage(c, 0, 0);
    this.last = { image: copy, from, to };
    this.lastRuns = info;
    if (this.firstDraw === null) {
      this.firstDraw = performance.now() - this.started;
      c.dataset['firstDrawMs'] = this.firstDraw.toFixed(1);
    }
    c.dataset['mixed'] = String(mixed);
    // the first mixed bucket, for tests: its left edge in CSS pixels
    c.dataset['firstMixed'] = String(firstMixed < 0 ? -1 : (firstMixed * bw) / dpr);
    c.dataset['drawn'] = `${from}:${to}`;
  }

  /** Search matches: a triangle over the top of the strip and a line into it, at each match. */
  private drawMarks(
    ctx: CanvasRenderingContext2D,
    from: number,
    to: number,
    w: number,
    h: number,
    dpr: number,
  ): void {
    const span = to - from;
    const half = Math.round(5 * dpr);
    const tall = Math.round(h * 0.3);
    let lastX = -1;
    const first = partitionPoint(0, this.marks.length, (i) => this.marks[i]! < from);
    ctx.fillStyle = MARK_COLOUR;
    ctx.strokeStyle = '#000';
    ctx.lineWidth = Math.max(1, dpr);
    for (let i = first; i < this.marks.length && this.marks[i]! < to; i++) {
      const x = Math.floor(((this.marks[i]! - from) / span) * w);
      if (x === lastX) continue;
      lastX = x;
      ctx.beginPath();
      ctx.moveTo(x - half, 0);
      ctx.lineTo(x + half + 1, 0);
      ctx.lineTo(x + 0.5, tall);
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
      ctx.fillRect(x - Math.round(dpr) + 1, 0, Math.max(2, Math.round(2 * dpr)), Math.round(h * 0.55));
    }
  }

  private hatch(ctx: CanvasRenderingContext2D, info: RunsInfo, bw: number, lazy: number, h: number): void {
    let b = 0;
    ctx.strokeStyle = '#00000055';
    for (const run of info.runs) {
      const k = run.mix.indexOf(lazy);
      if (k >= 0 && k % 2 === 0) {
        const x0 = Math.round(b * bw);
        const x1 = Math.round((b + run.n) * bw);
        ctx.save();
        ctx.beginPath();
        ctx.rect(x0, 0, x1 - x0, h);
        ctx.clip();
        ctx.beginPath();
        for (let x = x0 - h; x < x1; x += 8) {
          ctx.moveTo(x, h);
          ctx.lineTo(x + h, 0);
        }
        ctx.stroke();
        ctx.restore();
      }
      b += run.n;
    }
  }

  /**
   * Address labels under the strip at range starts: each is measured and kept only where it
   * does not run into the one before; one that would pass the right edge ends at its address.
   */
  private drawAxis(): void {
    const src = this.src;
    this.axis.replaceChildren();
    if (!src) return;
    const span = this.to - this.from;
    const width = this.axis.clientWidth || this.canvas.clientWidth;
    let lastEnd = Number.NEGATIVE_INFINITY;
    const first = rangeIndexAtPos(src.ranges, this.from);
    for (let i = first; i < src.ranges.length; i++) {
      const r = src.ranges[i]!;
      if (r.at >= this.to) break;
      const p = Math.max(r.at, this.from);
      const x = ((p - this.from) / span) * width;
      if (x < lastEnd + 8) continue;
      const a = r.start + Math.floor(p - r.at) * PAGE;
      const label = document.createElement('span');
      label.textContent = `${hex(a)}${r.name ? ` ${basename(r.name)}` : ''}`;
      label.title = `${hex(a)} ${r.name || '(anonymous)'}`;
      label.style.left = `${x}px`;
      this.axis.append(label);
      const w = label.offsetWidth;
      if (x + w > width) {
        // it would pass the right edge: it ends at its address instead (its mark on its right),
        // if that leaves room after the one before
        if (x - w < lastEnd + 8) {
          label.remove();
          continue;
        }
        label.style.left = `${x - w}px`;
        label.classList.add('end');
        lastEnd = x;
      } else lastEnd = x + w;
    }
  }
}
