/**
 * The map: the chosen process's VMAs as one strip, each run of pages in the colour of the layer
 * holding it; its hover (page, layer, pages-file offset, VMA; a pixel's shares), its legend and
 * the table of VMAs under it.
 */
import type { ClassInfo, MapInfo, PageInfo, RangeInfo, RunsInfo } from '../src/server/http/types.js';
import { api } from './api.js';
import { commas, hex, PAGE, size } from './format.js';
import { openHex } from './hex.js';
import { legend } from './legend.js';
import { $, report, setView, state, windows } from './state.js';
import { type PixelMix, posOfAddress, rangeIndexAtPos, type StripSource, StripView } from './strip.js';

/** What the hover says of a position in no range: the gap, with its addresses and size. */
export function gapText(pos: number, src: StripSource): string {
  const i = rangeIndexAtPos(src.ranges, pos);
  const prev = src.ranges[i - 1];
  const next = src.ranges[i];
  return `gap (unmapped)${prev && next ? `: ${hex(prev.end)}-${hex(next.start)}, ${size(next.start - prev.end)}` : ''}`;
}

/** "this pixel: 512 pages: 70% layer 3 (...), 30% layer 1 (...)" when a pixel holds several classes. */
export function mixText(mix: PixelMix | null, classes: readonly ClassInfo[]): string {
  if (!mix || mix.pages <= 1) return '';
  const parts: string[] = [];
  for (let i = 0; i < mix.mix.length; i += 2) {
    const c = classes[mix.mix[i]!];
    if (!c) continue;
    parts.push(`${Math.round((mix.mix[i + 1]! / 255) * 100)}% ${c.name}`);
  }
  if (parts.length < 2) return '';
  return `\nthis pixel: ${commas(Math.round(mix.pages))} pages: ${parts.join(', ')}`;
}

let hoverSeq = 0;

export const mapStrip = new StripView(
  $('map') as HTMLCanvasElement,
  $('map-axis'),
  (pos, r, mix) => {
    const src = mapSource();
    const box = $('map-hover');
    if (pos === null || !src) return;
    box.dataset['mix'] = mix ? mix.mix.join(',') : '';
    if (!r) {
      box.textContent = gapText(pos, src) + mixText(mix, src.classes);
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
          `${commas(r.pages)} pages, ${commas(r.dumped)} dumped, ${commas(r.lazy)} lazy, ${commas(r.notDumped)} not dumped` +
          mixText(mix, src.classes);
      })
      .catch(report);
  },
  (addr) => {
    openHex(addr).catch(report);
  },
);
windows.map = () => mapStrip.window();

export function mapSource(): StripSource | null {
  const m = state.map;
  if (!m) return null;
  return {
    total: m.total,
    ranges: m.ranges,
    classes: m.classes,
    runs: (from, to, buckets, signal) => api<RunsInfo>('runs', { pid: state.pid, from, to, buckets }, signal),
  };
}

function vmaRow(body: HTMLTableSectionElement, r: RangeInfo): void {
  const row = body.insertRow();
  const cells: [string, string][] = [
    [`${r.start.toString(16)}-${r.end.toString(16)}`, 'addr'],
    [r.perms, ''],
    [commas(r.pages), 'n'],
    [commas(r.dumped), 'n'],
    [commas(r.lazy), 'n'],
    [commas(r.notDumped), 'n'],
    [r.name, 'name'],
  ];
  for (const [v, cls] of cells) {
    const c = row.insertCell();
    c.textContent = v;
    if (cls) c.className = cls;
    if (cls === 'name') c.title = v;
  }
  row.title = 'zoom to this range';
  row.addEventListener('click', () => mapStrip.setWindow(r.at, r.at + r.pages));
}

export function renderMap(m: MapInfo): void {
  $('map-title').textContent =
    `process ${m.pid}${m.comm ? ` (${m.comm})` : ''}: ${m.ranges.length} ranges, ${commas(m.totals.pages)} pages mapped, ` +
    `${commas(m.totals.dumped)} dumped, ${commas(m.totals.lazy)} lazy, ${commas(m.totals.notDumped)} not dumped`;
  legend(
    $('map-legend'),
    m.classes,
    (c) => c.name,
    'band under a pixel: pages of several layers there, drawn in the colour of the most (hover: shares)',
  );
  const t = $('vmas') as HTMLTableElement;
  t.replaceChildren();
  const head = t.createTHead().insertRow();
  for (const h of ['start-end', 'perms', 'pages', 'dumped', 'lazy', 'not dumped', 'name']) {
    const th = document.createElement('th');
    th.textContent = h;
    if (h !== 'start-end' && h !== 'perms' && h !== 'name') th.className = 'n';
    head.append(th);
  }
  const body = t.createTBody();
  for (const r of m.ranges.slice(0, 2000)) vmaRow(body, r);
  for (const li of $('procs').children) {
    (li as HTMLElement).setAttribute(
      'aria-current',
      String((li as HTMLElement).dataset['pid'] === String(m.pid)),
    );
  }
}

/** The map view, zoomed to the pages around `addr` when it is mapped. */
export function showMapAt(addr: number | null): void {
  setView('map');
  const pos = addr === null || !state.map ? null : posOfAddress(state.map.ranges, addr);
  if (pos !== null) mapStrip.setWindow(pos - 64, pos + 64);
}

/** The zoom buttons over the map. */
export function wireMap(): void {
  $('zoom-in').addEventListener('click', () => {
    const w = mapStrip.window();
    if (w) mapStrip.zoomAt(0.5, (w.from + w.to) / 2);
  });
  $('zoom-out').addEventListener('click', () => {
    const w = mapStrip.window();
    if (w) mapStrip.zoomAt(2, (w.from + w.to) / 2);
  });
  $('zoom-reset').addEventListener('click', () => mapStrip.reset());
}
