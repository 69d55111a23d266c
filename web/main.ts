/**
 * The explorer page. Everything it shows comes from the server's JSON API
 * (src/server/http/types.ts); the page only lays it out: the strip is drawn from run-length
 * bucket summaries the server makes for the window on screen (one bucket per canvas pixel), so
 * zooming into a 4 GiB process costs one small request per frame, never its 400k extents.
 *
 * State lives in the URL (?pid=&view=map|hex|diff&addr=&from=&to=&a=&b=) so a view can be
 * linked, reloaded and tested.
 */
import type {
  ClassInfo,
  DiffInfo,
  DiffPageInfo,
  ErrorInfo,
  MapInfo,
  PageInfo,
  RangeInfo,
  ReadInfo,
  RunsInfo,
  SearchHit,
  SearchInfo,
  SearchMode,
  StackInfo,
} from '../src/server/http/types.js';
import { partitionPoint } from '../src/stack/search.js';

const PAGE = 4096;
/** Pages the hex view loads first, then per step as it scrolls, and keeps at most. */
const HEX_PAGES = 4;
const HEX_STEP = 4;
const HEX_KEEP = 48;

const $ = <T extends HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`no #${id}`);
  return e as T;
};

class ApiFailure extends Error {
  constructor(
    readonly info: ErrorInfo['error'],
    readonly status: number,
  ) {
    super(info.message);
  }
}

async function api<T>(
  path: string,
  params: Record<string, string | number>,
  signal?: AbortSignal,
): Promise<T> {
  const q = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  const res = await fetch(`./api/${path}?${q}`, signal ? { signal } : {});
  const body = (await res.json()) as T | ErrorInfo;
  if (!res.ok) throw new ApiFailure((body as ErrorInfo).error, res.status);
  return body as T;
}

// ---------------------------------------------------------------------------------------------
// colours

const LAYER_COLOURS = [
  '#1f6fd1',
  '#e8590c',
  '#2f9e44',
  '#c92a2a',
  '#7048e8',
  '#8d5524',
  '#d6336c',
  '#0c8599',
  '#94a111',
  '#495057',
];

function layerColour(l: number): string {
  if (l < LAYER_COLOURS.length) return LAYER_COLOURS[l]!;
  return `hsl(${(l * 137) % 360} 60% 45%)`;
}

const KIND_COLOURS: Record<string, string> = {
  lazy: '#f2c200',
  'not-dumped': '#ced4da',
  gap: '#ffffff',
  equal: '#a5d8ff',
  changed: '#e03131',
  added: '#2f9e44',
  removed: '#9c36b5',
  neither: '#e9ecef',
};

/** Search matches on the map (no layer or diff class uses it). */
const MARK_COLOUR = '#ff00d4';

function classColour(c: ClassInfo): string {
  return c.kind === 'layer' && c.layer !== null ? layerColour(c.layer) : (KIND_COLOURS[c.kind] ?? '#000');
}

// ---------------------------------------------------------------------------------------------
// formatting

const hex = (n: number): string => `0x${n.toString(16)}`;
const commas = (n: number): string => n.toLocaleString('en-US');
function size(n: number | null): string {
  if (n === null) return '?';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`;
}
const basename = (p: string): string => p.replace(/\/+$/, '').split('/').pop() ?? p;

/** `xxd` rows as `pagestack read` prints them: "ADDR: 0011 2233 ...  ascii". */
export function xxdRows(bytes: Uint8Array, addr: number, width: number): string[] {
  const rows: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    let h = '';
    let a = '';
    for (let i = 0; i < 16; i++) {
      if (off + i < bytes.length) {
        const b = bytes[off + i]!;
        h += b.toString(16).padStart(2, '0');
        a += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else h += '  ';
      if (i % 2 === 1 && i < 15) h += ' ';
    }
    rows.push(`${(addr + off).toString(16).padStart(width, '0')}: ${h}  ${a}`);
  }
  return rows;
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** An address typed or in the URL: hex (0x...) or decimal. Throws a clear message otherwise. */
function parseAddress(text: string): number {
  const t = text.trim().replace(/_/g, '');
  if (/^0x[0-9a-f]+$/i.test(t) || /^[0-9]+$/.test(t)) {
    const v = Number(t);
    if (v <= Number.MAX_SAFE_INTEGER) return v;
    throw new Error(`address '${text}' is beyond 2^53, which pagestack cannot address`);
  }
  throw new Error(`address '${text}': expected a number in hex (0x...) or decimal`);
}

// ---------------------------------------------------------------------------------------------
// state

type View = 'map' | 'hex' | 'diff';

interface StripSource {
  total: number;
  ranges: RangeInfo[];
  classes: ClassInfo[];
  runs(from: number, to: number, buckets: number, signal: AbortSignal): Promise<RunsInfo>;
}

const state = {
  stack: null as StackInfo | null,
  pid: 0,
  view: 'map' as View,
  map: null as MapInfo | null,
  addr: null as number | null,
  diffA: '',
  diffB: '',
  diff: null as DiffInfo | null,
  search: null as SearchInfo | null,
};

function showError(message: string | null): void {
  const box = $('error');
  box.hidden = message === null;
  box.textContent = message ?? '';
}

function report(e: unknown): void {
  if (e instanceof DOMException && e.name === 'AbortError') return;
  if (e instanceof ApiFailure)
    showError(`${e.info.message} (${e.info.class}${e.info.code ? ` ${e.info.code}` : ''}, HTTP ${e.status})`);
  else showError(e instanceof Error ? e.message : String(e));
}

function writeUrl(): void {
  const q = new URLSearchParams();
  q.set('pid', String(state.pid));
  q.set('view', state.view);
  if (state.addr !== null) q.set('addr', hex(state.addr));
  const w = state.view === 'diff' ? diffStrip.window() : state.view === 'map' ? mapStrip.window() : null;
  if (w) {
    q.set('from', String(Math.round(w.from * 1000) / 1000));
    q.set('to', String(Math.round(w.to * 1000) / 1000));
  }
  if (state.diffA) q.set('a', state.diffA);
  if (state.diffB) q.set('b', state.diffB);
  if (state.search) {
    q.set('q', state.search.pattern);
    q.set('mode', state.search.mode);
    if (state.search.utf16) q.set('utf16', '1');
  }
  history.replaceState(null, '', `?${q}`);
}

// ---------------------------------------------------------------------------------------------
// the strip: a canvas drawing a window [from, to) of strip pages

function rangeIndexAtPos(ranges: readonly RangeInfo[], pos: number): number {
  return partitionPoint(0, ranges.length, (i) => ranges[i]!.at + ranges[i]!.pages <= pos);
}

function posOfAddress(ranges: readonly RangeInfo[], addr: number): number | null {
  for (const r of ranges) if (r.start <= addr && addr < r.end) return r.at + (addr - r.start) / PAGE;
  return null;
}

class StripView {
  private src: StripSource | null = null;
  private from = 0;
  private to = 1;
  private pending: AbortController | null = null;
  private frame = 0;
  private last: { image: ImageBitmap | HTMLCanvasElement; from: number; to: number } | null = null;
  /** Strip positions to mark (search matches), drawn over the pages. */
  private marks: number[] = [];
  /** Time from setSource to the first drawn frame, ms (the page's own measure of map latency). */
  firstDraw: number | null = null;
  private started = 0;

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly axis: HTMLElement,
    private readonly onHover: (pos: number | null, range: RangeInfo | null) => void,
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
      this.onHover(pos, this.rangeAt(pos));
    });
    canvas.addEventListener('mouseleave', () => this.onHover(null, null));
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
    new ResizeObserver(() => this.request()).observe(canvas);
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
    const bw = w / info.buckets;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, h);
    let b = 0;
    const lazy = src.classes.find((k) => k.kind === 'lazy');
    for (const run of info.runs) {
      const x0 = Math.round(b * bw);
      const x1 = Math.round((b + run.n) * bw);
      if (run.mix.length === 2) {
        ctx.fillStyle = colours[run.mix[0]!]!;
        ctx.fillRect(x0, 0, x1 - x0, h);
      } else if (run.mix.length > 2) {
        // a bucket of several classes: stacked bars, shares as heights
        let y = 0;
        for (let i = 0; i < run.mix.length; i += 2) {
          const hh = i + 2 >= run.mix.length ? h - y : Math.round((run.mix[i + 1]! / 255) * h);
          ctx.fillStyle = colours[run.mix[i]!]!;
          ctx.fillRect(x0, y, x1 - x0, hh);
          y += hh;
        }
      }
      b += run.n;
    }
    // lazy pages: hatched on top of their colour, so they read as "not here" at a glance
    if (lazy) this.hatch(ctx, info, bw, lazy.id, h);
    // VMA boundaries and gaps
    ctx.fillStyle = '#24292f';
    const span = to - from;
    for (const r of src.ranges) {
      for (const p of [r.at, r.at + r.pages]) {
        if (p <= from || p >= to) continue;
        ctx.fillRect(Math.round(((p - from) / span) * w), 0, Math.max(1, Math.round(dpr)), h);
      }
    }
    this.drawMarks(ctx, from, to, w, h, dpr);
    const copy = document.createElement('canvas');
    copy.width = w;
    copy.height = h;
    copy.getContext('2d')!.drawImage(c, 0, 0);
    this.last = { image: copy, from, to };
    if (this.firstDraw === null) {
      this.firstDraw = performance.now() - this.started;
      c.dataset['firstDrawMs'] = this.firstDraw.toFixed(1);
    }
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

  private drawAxis(): void {
    const src = this.src;
    this.axis.replaceChildren();
    if (!src) return;
    const span = this.to - this.from;
    const width = this.canvas.clientWidth;
    let lastX = -1e9;
    const first = rangeIndexAtPos(src.ranges, this.from);
    for (let i = first; i < src.ranges.length; i++) {
      const r = src.ranges[i]!;
      if (r.at >= this.to) break;
      const p = Math.max(r.at, this.from);
      const x = ((p - this.from) / span) * width;
      if (x - lastX < 110) continue;
      const a = r.start + Math.floor(p - r.at) * PAGE;
      const label = document.createElement('span');
      label.style.left = `${x}px`;
      label.textContent = `${hex(a)}${r.name ? ` ${basename(r.name)}` : ''}`;
      this.axis.append(label);
      lastX = x;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// views

function hoverText(pos: number | null, r: RangeInfo | null, src: StripSource | null): string | null {
  if (pos === null || !src) return null;
  if (!r) {
    const i = rangeIndexAtPos(src.ranges, pos);
    const prev = src.ranges[i - 1];
    const next = src.ranges[i];
    return `gap (unmapped)${prev && next ? `: ${hex(prev.end)}-${hex(next.start)}, ${size(next.start - prev.end)}` : ''}`;
  }
  return null;
}

let hoverSeq = 0;
const mapStrip = new StripView(
  $('map') as HTMLCanvasElement,
  $('map-axis'),
  (pos, r) => {
    const box = $('map-hover');
    const gap = hoverText(pos, r, mapSource());
    if (pos === null) return;
    if (gap !== null || !r) {
      box.textContent = gap ?? '';
      return;
    }
    const addr = r.start + Math.floor(pos - r.at) * PAGE;
    const seq = ++hoverSeq;
    api<PageInfo>('at', { pid: state.pid, addr })
      .then((p) => {
        if (seq !== hoverSeq) return;
        const where =
          p.state === 'dumped'
            ? `layer ${p.layer} (${p.layerName}) at pages-file offset ${p.fileOffset}`
            : p.state === 'lazy'
              ? 'lazy (the page server holds it)'
              : 'not dumped';
        box.textContent =
          `page ${hex(p.page)}: ${where}\n` +
          `VMA ${hex(r.start)}-${hex(r.end)} ${r.perms} ${r.name || '(anonymous)'}: ` +
          `${commas(r.pages)} pages, ${commas(r.dumped)} dumped, ${commas(r.lazy)} lazy, ${commas(r.notDumped)} not dumped`;
      })
      .catch(report);
  },
  (addr) => openHex(addr),
);

function mapSource(): StripSource | null {
  const m = state.map;
  if (!m) return null;
  return {
    total: m.total,
    ranges: m.ranges,
    classes: m.classes,
    runs: (from, to, buckets, signal) => api<RunsInfo>('runs', { pid: state.pid, from, to, buckets }, signal),
  };
}

const diffStrip = new StripView(
  $('diffmap') as HTMLCanvasElement,
  $('diff-axis'),
  (pos, r) => {
    const d = state.diff;
    if (pos === null || !d) return;
    const box = $('diff-hover');
    const gap = hoverText(pos, r, diffSource());
    if (gap !== null || !r) {
      box.textContent = gap ?? '';
      return;
    }
    const addr = r.start + Math.floor(pos - r.at) * PAGE;
    const seq = ++hoverSeq;
    api<DiffPageInfo>('diffat', { pid: state.pid, a: state.diffA, b: state.diffB, addr })
      .then((p) => {
        if (seq !== hoverSeq) return;
        box.dataset['kind'] = p.kind;
        box.textContent =
          `page ${hex(p.page)}: ${p.name} (A ${d.a}, B ${d.b})\n` +
          `in ${hex(r.start)}-${hex(r.end)} ${r.perms} ${r.name || '(anonymous)'}`;
      })
      .catch(report);
  },
  (addr) => openHex(addr),
);

function diffSource(): StripSource | null {
  const d = state.diff;
  if (!d) return null;
  return {
    total: d.total,
    ranges: d.ranges,
    classes: d.classes,
    runs: (from, to, buckets, signal) =>
      api<RunsInfo>(
        'diffruns',
        { pid: state.pid, a: state.diffA, b: state.diffB, from, to, buckets },
        signal,
      ),
  };
}

function legend(box: HTMLElement, classes: readonly ClassInfo[], names: (c: ClassInfo) => string): void {
  box.replaceChildren(
    ...classes.map((c) => {
      const s = document.createElement('span');
      s.dataset['classId'] = String(c.id);
      s.dataset['kind'] = c.kind;
      s.dataset['colour'] = classColour(c);
      if (c.layer !== null) s.dataset['layer'] = String(c.layer);
      const sw = document.createElement('i');
      sw.className = 'swatch';
      sw.style.background = classColour(c);
      s.append(sw, ` ${names(c)}`);
      return s;
    }),
  );
}

function layerName(l: number): string {
  const layer = state.stack?.layers[l];
  return layer ? `layer ${l}: ${basename(layer.name)}` : `layer ${l}`;
}

function renderStack(s: StackInfo): void {
  $('top').textContent = s.top;
  const t = $('layers') as HTMLTableElement;
  t.replaceChildren();
  const head = t.createTHead().insertRow();
  for (const h of ['', 'layer', 'size', 'disk', 'holds', 'below']) {
    const th = document.createElement('th');
    th.textContent = h;
    if (h === 'holds') th.title = 'pages held in its own pages files';
    if (h === 'below') th.title = 'pages taken from the layer below (PE_PARENT)';
    if (h !== 'layer' && h !== '') th.className = 'n';
    head.append(th);
  }
  const body = t.createTBody();
  for (const l of s.layers) {
    const r = body.insertRow();
    r.dataset['layer'] = String(l.index);
    const sw = document.createElement('i');
    sw.className = 'swatch';
    sw.style.background = layerColour(l.index);
    r.insertCell().append(sw);
    const name = r.insertCell();
    name.className = 'name';
    name.textContent = `${l.index}: ${basename(l.name)}${l.deduplicated ? ' (dedup)' : ''}`;
    name.title = `${l.name}${l.note ? `: ${l.note}` : ''}; gives ${commas(l.used)} pages to the final memory`;
    for (const v of [size(l.size), size(l.allocated), commas(l.held), commas(l.fromBelow)]) {
      const c = r.insertCell();
      c.className = 'n';
      c.textContent = v;
    }
  }
  const procs = $('procs');
  procs.replaceChildren();
  const sel = $('pid') as HTMLSelectElement;
  sel.replaceChildren();
  const children = new Map<number, number[]>();
  const pids = new Set(s.processes.map((p) => p.pid));
  for (const p of s.processes) {
    const parent = pids.has(p.ppid) ? p.ppid : 0;
    children.set(parent, [...(children.get(parent) ?? []), p.pid]);
  }
  const byPid = new Map(s.processes.map((p) => [p.pid, p]));
  const walk = (ppid: number, depth: number): void => {
    for (const pid of children.get(ppid) ?? []) {
      const p = byPid.get(pid)!;
      const li = document.createElement('li');
      li.dataset['pid'] = String(pid);
      li.textContent = `${'  '.repeat(depth)}${pid} ${p.comm ?? '?'}  ${p.threads.length} thr, ${commas(p.dumpedPages)} pages`;
      li.addEventListener('click', () => {
        selectProcess(pid).catch(report);
      });
      procs.append(li);
      const o = document.createElement('option');
      o.value = String(pid);
      o.textContent = `${pid} ${p.comm ?? ''}`;
      sel.append(o);
      if (depth < 64) walk(pid, depth + 1);
    }
  };
  walk(0, 0);
  for (const sid of ['diff-a', 'diff-b']) {
    const d = $(sid) as HTMLSelectElement;
    d.replaceChildren(
      ...s.layers.map((l) => new Option(`layer ${l.index}: ${basename(l.name)}`, String(l.index))),
      ...s.others.map((o) => new Option(`${o.id}: ${o.name}`, o.id)),
    );
  }
}

function renderMap(m: MapInfo): void {
  $('map-title').textContent =
    `process ${m.pid}${m.comm ? ` (${m.comm})` : ''}: ${m.ranges.length} ranges, ${commas(m.totals.pages)} pages mapped, ` +
    `${commas(m.totals.dumped)} dumped, ${commas(m.totals.lazy)} lazy, ${commas(m.totals.notDumped)} not dumped`;
  legend($('map-legend'), m.classes, (c) => (c.kind === 'layer' ? layerName(c.layer!) : c.name));
  const t = $('vmas') as HTMLTableElement;
  t.replaceChildren();
  const head = t.createTHead().insertRow();
  for (const h of ['start-end', 'perms', 'pages', 'dumped', 'lazy', 'not dumped', 'name']) {
    const th = document.createElement('th');
    th.textContent = h;
    head.append(th);
  }
  const body = t.createTBody();
  for (const r of m.ranges.slice(0, 2000)) {
    const row = body.insertRow();
    for (const v of [
      `${r.start.toString(16)}-${r.end.toString(16)}`,
      r.perms,
      commas(r.pages),
      commas(r.dumped),
      commas(r.lazy),
      commas(r.notDumped),
      r.name,
    ]) {
      row.insertCell().textContent = v;
    }
    row.title = 'zoom to this range';
    row.addEventListener('click', () => mapStrip.setWindow(r.at, r.at + r.pages));
  }
  for (const li of $('procs').children) {
    (li as HTMLElement).setAttribute(
      'aria-current',
      String((li as HTMLElement).dataset['pid'] === String(m.pid)),
    );
  }
}

async function selectProcess(pid: number, from?: number, to?: number): Promise<void> {
  state.pid = pid;
  ($('pid') as HTMLSelectElement).value = String(pid);
  $('map-title').textContent = `process ${pid}: resolving its memory through the stack…`;
  state.map = await api<MapInfo>('maps', { pid });
  renderMap(state.map);
  mapStrip.setSource(mapSource()!, from, to);
  if (state.search && state.search.pid !== pid) {
    await runSearch(state.search.pattern, state.search.mode, state.search.utf16);
  } else if (state.search) renderSearch(state.search);
  if (state.view === 'diff') await loadDiff(from, to);
  if (state.view === 'hex' && state.addr !== null) await loadHex(state.addr);
}

function setView(v: View): void {
  state.view = v;
  for (const name of ['map', 'hex', 'diff'] as const) {
    $(`view-${name}`).hidden = name !== v;
    $(`tab-${name}`).setAttribute('aria-selected', String(name === v));
  }
  writeUrl();
}

/** The map view, zoomed to the pages around `addr` when it is mapped. */
function showMapAt(addr: number | null): void {
  setView('map');
  const pos = addr === null || !state.map ? null : posOfAddress(state.map.ranges, addr);
  if (pos !== null) mapStrip.setWindow(pos - 64, pos + 64);
}

async function openHex(addr: number): Promise<void> {
  setView('hex');
  await loadHex(addr);
  $('hex').focus({ preventScroll: true });
}

/**
 * The hex view: whole pages around an address, loaded on demand as it scrolls through the VMA
 * (HEX_STEP pages per request, at most HEX_KEEP pages kept: the far end is dropped).
 */
const hexView = {
  /** Loaded pages [lo, hi); what the view may scroll over [lower, upper). */
  lo: 0,
  hi: 0,
  lower: 0,
  upper: 0,
  width: 8,
  busy: false,
  /** Bumped by every loadHex: answers for an older anchor are dropped. */
  seq: 0,
};

function hexPage(p: ReadInfo['pieces'][number], target: number | null, width: number): HTMLElement {
  const page = document.createElement('div');
  page.className = 'hpage';
  page.dataset['addr'] = hex(p.addr);
  const head = document.createElement('div');
  head.className = 'page';
  head.dataset['state'] = p.state;
  head.dataset['addr'] = hex(p.addr);
  if (p.layer !== null) {
    head.dataset['layer'] = String(p.layer);
    head.style.background = layerColour(p.layer);
    head.textContent = `page ${hex(p.addr - (p.addr % PAGE))}: layer ${p.layer} (${p.layerName})`;
  } else {
    head.style.background = '#57606a';
    head.textContent = `page ${hex(p.addr - (p.addr % PAGE))}: ${p.state}`;
  }
  page.append(head, '\n');
  if (p.data === null) {
    const r = document.createElement('div');
    r.className = 'refused';
    r.dataset['state'] = p.state;
    r.textContent = `${p.len} bytes cannot be read: ${p.refusal}`;
    page.append(r);
    return page;
  }
  for (const line of xxdRows(fromBase64(p.data), p.addr, width)) {
    const row = document.createElement('div');
    row.className = 'row';
    row.textContent = line;
    const rowAddr = Number.parseInt(line.slice(0, width), 16);
    if (target !== null && rowAddr <= target && target < rowAddr + 16) row.classList.add('target');
    page.append(row);
  }
  return page;
}

function hexEdge(text: string, where: 'start' | 'end'): HTMLElement {
  const e = document.createElement('div');
  e.className = 'edge';
  e.dataset['edge'] = where;
  e.textContent = text;
  return e;
}

async function hexRead(addr: number, len: number): Promise<ReadInfo> {
  return api<ReadInfo>('read', { pid: state.pid, addr, len });
}

async function loadHex(addr: number): Promise<void> {
  state.addr = addr;
  writeUrl();
  const seq = ++hexView.seq;
  const start = addr - (addr % PAGE);
  const info = await hexRead(start, HEX_PAGES * PAGE);
  if (seq !== hexView.seq) return;
  showError(null);
  const v = info.vma;
  $('hex-title').textContent = v
    ? `${hex(addr)} in ${hex(v.start)}-${hex(v.end)} ${v.perms} ${v.name || '(anonymous)'}: scroll for the rest of it`
    : `${hex(addr)}: no VMA`;
  hexView.lower = v ? v.start : start;
  hexView.upper = v ? v.end : start + HEX_PAGES * PAGE;
  hexView.width = Math.max(8, (hexView.upper - 1).toString(16).length);
  hexView.lo = start;
  hexView.hi = Math.min(hexView.upper, start + HEX_PAGES * PAGE);
  const box = $('hex');
  box.replaceChildren();
  if (start === hexView.lower && v) box.append(hexEdge(`start of ${hex(v.start)}-${hex(v.end)}`, 'start'));
  for (const p of info.pieces) if (p.addr < hexView.hi) box.append(hexPage(p, addr, hexView.width));
  if (hexView.hi >= hexView.upper && v) box.append(hexEdge(`end of ${hex(v.start)}-${hex(v.end)}`, 'end'));
  const row = box.querySelector<HTMLElement>('.row.target');
  box.scrollTop =
    row && row.offsetTop - box.offsetTop > box.clientHeight / 2 ? row.offsetTop - box.offsetTop - 40 : 0;
  box.dataset['lo'] = hex(hexView.lo);
  box.dataset['hi'] = hex(hexView.hi);
  await extendHex();
}

/** Loads pages past either end of what is shown when the view is scrolled near it. */
async function extendHex(): Promise<void> {
  const box = $('hex');
  if (hexView.busy || box.closest('[hidden]')) return;
  const seq = hexView.seq;
  const margin = Math.max(600, box.clientHeight);
  const down = box.scrollTop + box.clientHeight > box.scrollHeight - margin && hexView.hi < hexView.upper;
  const up = !down && box.scrollTop < margin && hexView.lo > hexView.lower;
  if (!down && !up) return;
  hexView.busy = true;
  try {
    const from = down ? hexView.hi : Math.max(hexView.lower, hexView.lo - HEX_STEP * PAGE);
    const to = down ? Math.min(hexView.upper, hexView.hi + HEX_STEP * PAGE) : hexView.lo;
    const info = await hexRead(from, to - from);
    if (seq !== hexView.seq) return;
    const frag = document.createDocumentFragment();
    for (const p of info.pieces) frag.append(hexPage(p, state.addr, hexView.width));
    const pages = (): HTMLElement[] => [...box.querySelectorAll<HTMLElement>('.hpage')];
    if (down) {
      box.querySelector('.edge[data-edge="end"]')?.remove();
      box.append(frag);
      hexView.hi = to;
      if (to >= hexView.upper) box.append(hexEdge(`end of the VMA at ${hex(hexView.upper)}`, 'end'));
      // drop pages at the top beyond HEX_KEEP, keeping what is on screen where it is
      const all = pages();
      const drop = all.slice(0, Math.max(0, all.length - HEX_KEEP));
      if (drop.length > 0) {
        const before = box.scrollHeight;
        box.querySelector('.edge[data-edge="start"]')?.remove();
        for (const d of drop) d.remove();
        box.scrollTop -= before - box.scrollHeight;
        hexView.lo += drop.length * PAGE;
      }
    } else {
      const before = box.scrollHeight;
      const first = box.querySelector('.hpage');
      box.insertBefore(frag, first);
      if (from <= hexView.lower) box.prepend(hexEdge(`start of the VMA at ${hex(hexView.lower)}`, 'start'));
      box.scrollTop += box.scrollHeight - before;
      hexView.lo = from;
      const all = pages();
      const drop = all.slice(HEX_KEEP);
      if (drop.length > 0) {
        box.querySelector('.edge[data-edge="end"]')?.remove();
        for (const d of drop) d.remove();
        hexView.hi -= drop.length * PAGE;
      }
    }
    box.dataset['lo'] = hex(hexView.lo);
    box.dataset['hi'] = hex(hexView.hi);
  } finally {
    hexView.busy = false;
  }
  if (seq === hexView.seq) await extendHex();
}

async function loadDiff(from?: number, to?: number): Promise<void> {
  const s = state.stack!;
  if (!state.diffA) state.diffA = String(Math.min(1, s.layers.length - 1));
  if (!state.diffB) state.diffB = '0';
  ($('diff-a') as HTMLSelectElement).value = state.diffA;
  ($('diff-b') as HTMLSelectElement).value = state.diffB;
  writeUrl();
  $('diff-counts').textContent = 'comparing…';
  const d = await api<DiffInfo>('diff', { pid: state.pid, a: state.diffA, b: state.diffB });
  state.diff = d;
  const c = d.counts;
  const counts = $('diff-counts');
  counts.textContent = `${commas(c.changed)} changed, ${commas(c.added)} added, ${commas(c.removed)} removed, ${commas(c.equal)} equal${c.lazy ? `, ${commas(c.lazy)} lazy` : ''}`;
  for (const [k, v] of Object.entries(c)) counts.dataset[k] = String(v);
  legend($('diff-legend'), d.classes, (k) => k.name);
  diffStrip.setSource(diffSource()!, from, to);
}

// ---------------------------------------------------------------------------------------------
// search: `pagestack search` in the chosen process, matches listed and marked on the map

/** The context of a match as hex bytes and ASCII, the matched bytes in <mark>. */
function contextNodes(h: SearchHit): Node[] {
  const bytes = fromBase64(h.context);
  const m0 = h.address - h.contextStart;
  const m1 = m0 + h.length;
  const part = (from: number, to: number, ascii: boolean): string => {
    let t = '';
    for (let i = from; i < to; i++) {
      const b = bytes[i]!;
      t += ascii ? (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.') : b.toString(16).padStart(2, '0');
    }
    return t;
  };
  const out: Node[] = [];
  for (const ascii of [false, true]) {
    const mark = document.createElement('mark');
    mark.textContent = part(m0, Math.min(m1, bytes.length), ascii);
    out.push(document.createTextNode(part(0, m0, ascii)), mark);
    out.push(
      document.createTextNode(`${part(Math.min(m1, bytes.length), bytes.length, ascii)}${ascii ? '' : '  '}`),
    );
  }
  return out;
}

function renderSearch(info: SearchInfo): void {
  $('search-box').hidden = false;
  const n = info.matches.length;
  const what = `${info.mode === 'text' ? '' : `${info.mode} `}"${info.pattern}"${info.utf16 ? ' (UTF-16LE)' : ''}`;
  const summary = $('search-summary');
  summary.textContent = info.truncated
    ? `the first ${commas(n)} matches of ${what} in process ${info.pid} (stopped at ${info.limit}; ${info.ms} ms)`
    : `${commas(n)} match${n === 1 ? '' : 'es'} of ${what} in process ${info.pid}: ${size(info.bytesSearched)} of memory searched in ${info.ms} ms`;
  summary.dataset['matches'] = String(n);
  const list = $('search-results');
  list.replaceChildren();
  for (const h of info.matches) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset['addr'] = hex(h.address);
    b.dataset['layer'] = String(h.layer);
    const sw = document.createElement('i');
    sw.className = 'swatch';
    sw.style.background = layerColour(h.layer);
    const v = h.vma;
    const where = v ? `${v.perms} ${hex(v.start)}-${hex(v.end)} ${v.name || '(anonymous)'}` : 'no VMA';
    b.title = `open the hex view at ${hex(h.address)}`;
    b.append(
      `${hex(h.address)}  `,
      sw,
      `${layerName(h.layer)}${h.shared ? ` (shared: ${basename(h.shared)})` : ''}  ${where}\n  ${hex(h.contextStart)}: `,
      ...contextNodes(h),
    );
    b.addEventListener('click', () => {
      openHex(h.address).catch(report);
    });
    li.append(b);
    list.append(li);
  }
  const m = state.map;
  const marks = m
    ? info.matches.map((h) => posOfAddress(m.ranges, h.address)).filter((p): p is number => p !== null)
    : [];
  mapStrip.setMarks(marks.sort((a, b) => a - b));
}

let searchSeq = 0;

async function runSearch(text: string, mode: SearchMode, utf16 = false): Promise<void> {
  const seq = ++searchSeq;
  $('search-box').hidden = false;
  $('search-summary').textContent = `searching process ${state.pid} for "${text}"…`;
  $('search-results').replaceChildren();
  mapStrip.setMarks([]);
  let info: SearchInfo;
  try {
    info = await api<SearchInfo>('search', {
      pid: state.pid,
      q: text,
      mode,
      ...(utf16 ? { utf16: 1 } : {}),
    });
  } catch (e) {
    // a newer search replaced this one (and the server ended it): nothing to say
    if (seq !== searchSeq) return;
    $('search-summary').textContent = 'no search: see the message above';
    throw e;
  }
  if (seq !== searchSeq) return;
  showError(null);
  state.search = info;
  if (state.view !== 'map') showMapAt(null);
  else writeUrl();
  renderSearch(info);
}

function clearSearch(): void {
  searchSeq++;
  state.search = null;
  $('search-box').hidden = true;
  $('search-results').replaceChildren();
  mapStrip.setMarks([]);
  writeUrl();
}

$('search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = ($('search-q') as HTMLInputElement).value;
  const mode = ($('search-mode') as HTMLSelectElement).value as SearchMode;
  if (text === '') clearSearch();
  else runSearch(text, mode).catch(report);
});
$('search-clear').addEventListener('click', clearSearch);
$('search-q').addEventListener('keydown', (e) => {
  if (e.key === 'ArrowDown') {
    $('search-results').querySelector<HTMLButtonElement>('button')?.focus();
    e.preventDefault();
  }
});
// the match list with the keyboard: arrows move, Enter opens the hex view, Esc goes back to the box
$('search-results').addEventListener('keydown', (e) => {
  const cur = (e.target as HTMLElement).closest('li');
  if (!cur) return;
  if (e.key === 'ArrowDown') (cur.nextElementSibling?.querySelector('button') as HTMLElement | null)?.focus();
  else if (e.key === 'ArrowUp') {
    const prev = cur.previousElementSibling?.querySelector('button') as HTMLElement | null;
    (prev ?? $('search-q')).focus();
  } else if (e.key === 'Escape') $('search-q').focus();
  else return;
  e.preventDefault();
});

// ---------------------------------------------------------------------------------------------
// wiring

for (const b of document.querySelectorAll<HTMLButtonElement>('.tabs button')) {
  b.addEventListener('click', () => {
    const v = b.dataset['view'] as View;
    if (v === 'map') showMapAt(state.addr);
    else setView(v);
    if (v === 'diff') loadDiff().catch(report);
    if (v === 'hex') loadHex(state.addr ?? state.map?.ranges[0]?.start ?? 0).catch(report);
  });
}
$('pid').addEventListener('change', () => {
  selectProcess(Number(($('pid') as HTMLSelectElement).value)).catch(report);
});
$('goto').addEventListener('submit', (e) => {
  e.preventDefault();
  try {
    openHex(parseAddress(($('addr') as HTMLInputElement).value)).catch(report);
  } catch (err) {
    report(err);
  }
});
$('zoom-in').addEventListener('click', () => {
  const w = mapStrip.window();
  if (w) mapStrip.zoomAt(0.5, (w.from + w.to) / 2);
});
$('zoom-out').addEventListener('click', () => {
  const w = mapStrip.window();
  if (w) mapStrip.zoomAt(2, (w.from + w.to) / 2);
});
$('zoom-reset').addEventListener('click', () => mapStrip.reset());
$('hex-prev').addEventListener('click', () => {
  if (state.addr !== null) loadHex(Math.max(0, state.addr - PAGE)).catch(report);
});
$('hex-next').addEventListener('click', () => {
  if (state.addr !== null) loadHex(state.addr + PAGE).catch(report);
});
// the hex rows scroll with the keyboard (and PageUp/PageDown move by pages)
$('hex').tabIndex = 0;
$('hex').addEventListener('scroll', () => {
  extendHex().catch(report);
});
$('hex').addEventListener(
  'wheel',
  () => {
    extendHex().catch(report);
  },
  { passive: true },
);
$('hex').addEventListener('keydown', (e) => {
  if (state.addr === null) return;
  if (e.key === 'PageDown') loadHex(state.addr + PAGE).catch(report);
  else if (e.key === 'PageUp') loadHex(Math.max(0, state.addr - PAGE)).catch(report);
  else return;
  e.preventDefault();
});
for (const id of ['diff-a', 'diff-b']) {
  $(id).addEventListener('change', () => {
    state.diffA = ($('diff-a') as HTMLSelectElement).value;
    state.diffB = ($('diff-b') as HTMLSelectElement).value;
    loadDiff().catch(report);
  });
}
document.addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === 'm') showMapAt(state.addr);
  else if (e.key === 'h') openHex(state.addr ?? state.map?.ranges[0]?.start ?? 0).catch(report);
  else if (e.key === 'd') {
    setView('diff');
    loadDiff().catch(report);
  } else if (e.key === 's') {
    e.preventDefault();
    ($('search-q') as HTMLInputElement).focus();
  } else if (e.key === 'g' || e.key === '/') {
    e.preventDefault();
    ($('addr') as HTMLInputElement).focus();
  }
});

async function start(): Promise<void> {
  const q = new URLSearchParams(location.search);
  state.stack = await api<StackInfo>('stack', {});
  renderStack(state.stack);
  const pid = q.get('pid') ? Number(q.get('pid')) : (state.stack.processes[0]?.pid ?? 0);
  const view = (['map', 'hex', 'diff'] as const).find((v) => v === q.get('view')) ?? 'map';
  state.diffA = q.get('a') ?? '';
  state.diffB = q.get('b') ?? '';
  setView(view);
  const from = q.get('from');
  const to = q.get('to');
  await selectProcess(pid, from ? Number(from) : undefined, to ? Number(to) : undefined);
  const addr = q.get('addr');
  if (addr !== null) {
    // a bad address says so on the page (the server's words when it is the one refusing)
    ($('addr') as HTMLInputElement).value = addr;
    let a: number;
    try {
      a = parseAddress(addr);
    } catch (e) {
      report(e);
      return;
    }
    if (view === 'hex') await loadHex(a);
    else state.addr = a;
  }
  const query = q.get('q');
  if (query) {
    const mode = (['text', 'hex', 'regex'] as const).find((m) => m === q.get('mode')) ?? 'text';
    ($('search-q') as HTMLInputElement).value = query;
    ($('search-mode') as HTMLSelectElement).value = mode;
    await runSearch(query, mode, q.get('utf16') === '1');
    if (view !== 'map') setView(view);
  }
  ($('map') as HTMLCanvasElement).focus();
}

start().catch(report);
