/**
 * The hex view: whole pages around an address as `pagestack read` prints them (xxd rows), each
 * page headed with its layer, pages `read` refuses shown as refused in its words. It scrolls
 * through the VMA, loading HEX_STEP pages per request as it goes, keeping at most HEX_KEEP (the far
 * end is dropped).
 */
import type { ReadInfo } from '../src/server/http/types.js';
import { api } from './api.js';
import { layerColour } from './colours.js';
import { fromBase64, hex, PAGE, xxdRows } from './format.js';
import { $, report, setView, showError, state, writeUrl } from './state.js';

/** Pages loaded first, then per step as it scrolls, and kept at most. */
const HEX_PAGES = 4;
const HEX_STEP = 4;
const HEX_KEEP = 48;

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

function hexRead(addr: number, len: number): Promise<ReadInfo> {
  return api<ReadInfo>('read', { pid: state.pid, addr, len });
}

export async function loadHex(addr: number): Promise<void> {
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

export async function openHex(addr: number): Promise<void> {
  setView('hex');
  await loadHex(addr);
  $('hex').focus({ preventScroll: true });
}

/** The hex view's buttons, scrolling and keys (PageUp / PageDown move by pages). */
export function wireHex(): void {
  $('hex-prev').addEventListener('click', () => {
    if (state.addr !== null) loadHex(Math.max(0, state.addr - PAGE)).catch(report);
  });
  $('hex-next').addEventListener('click', () => {
    if (state.addr !== null) loadHex(state.addr + PAGE).catch(report);
  });
  const box = $('hex');
  box.tabIndex = 0;
  box.addEventListener('scroll', () => {
    extendHex().catch(report);
  });
  box.addEventListener(
    'wheel',
    () => {
      extendHex().catch(report);
    },
    { passive: true },
  );
  box.addEventListener('keydown', (e) => {
    if (state.addr === null) return;
    if (e.key === 'PageDown') loadHex(state.addr + PAGE).catch(report);
    else if (e.key === 'PageUp') loadHex(Math.max(0, state.addr - PAGE)).catch(report);
    else return;
    e.preventDefault();
  });
}
