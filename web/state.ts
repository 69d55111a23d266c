/**
 * What the page shows now, and the URL that says it: ?pid=&view=map|hex|diff&addr=&from=&to=&a=&b=
 * &q=&mode=&utf16= (docs/explorer.md lists them), so a view can be linked, reloaded and tested.
 * Also the page's error line, and the names of layers.
 */
import type { DiffInfo, MapInfo, SearchInfo, StackInfo } from '../src/server/http/types.js';
import { ApiFailure } from './api.js';
import { hex } from './format.js';

export type View = 'map' | 'hex' | 'diff';

export const $ = <T extends HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`no #${id}`);
  return e as T;
};

export const state = {
  stack: null as StackInfo | null,
  pid: 0,
  view: 'map' as View,
  map: null as MapInfo | null,
  addr: null as number | null,
  /** The diff's sides: a layer number (1 = the bottom) or dN, a --with directory. */
  diffA: '',
  diffB: '',
  diff: null as DiffInfo | null,
  search: null as SearchInfo | null,
};

/** The window of the map and diff strips, for the URL (set by the strips' modules). */
export const windows: Record<'map' | 'diff', () => { from: number; to: number } | null> = {
  map: () => null,
  diff: () => null,
};

export function showError(message: string | null): void {
  const box = $('error');
  box.hidden = message === null;
  box.textContent = message ?? '';
}

export function report(e: unknown): void {
  if (e instanceof DOMException && e.name === 'AbortError') return;
  if (e instanceof ApiFailure)
    showError(`${e.info.message} (${e.info.class}${e.info.code ? ` ${e.info.code}` : ''}, HTTP ${e.status})`);
  else showError(e instanceof Error ? e.message : String(e));
}

export function writeUrl(): void {
  const q = new URLSearchParams();
  q.set('pid', String(state.pid));
  q.set('view', state.view);
  if (state.addr !== null) q.set('addr', hex(state.addr));
  const w = state.view === 'map' || state.view === 'diff' ? windows[state.view]() : null;
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

export function setView(v: View): void {
  state.view = v;
  for (const name of ['map', 'hex', 'diff'] as const) {
    $(`view-${name}`).hidden = name !== v;
    $(`tab-${name}`).setAttribute('aria-selected', String(name === v));
  }
  writeUrl();
}

/** "layer N (directory)" for layer number `n` (1 = the bottom), as the server names it. */
export function layerName(n: number): string {
  const layer = state.stack?.layers.find((l) => l.number === n);
  return layer ? layer.label : `layer ${n}`;
}
