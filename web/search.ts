/**
 * Search: `pagestack search` in the chosen process (text, hex bytes with ??, or a regex over
 * bytes); matches listed with address, layer, VMA and context, and marked on the map.
 */
import type { SearchHit, SearchInfo, SearchMode } from '../src/server/http/types.js';
import { api } from './api.js';
import { layerColour } from './colours.js';
import { basename, commas, fromBase64, hex, size } from './format.js';
import { openHex } from './hex.js';
import { mapStrip, showMapAt } from './map.js';
import { $, layerName, report, showError, state, writeUrl } from './state.js';
import { posOfAddress } from './strip.js';

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

export function renderSearch(info: SearchInfo): void {
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

export async function runSearch(text: string, mode: SearchMode, utf16 = false): Promise<void> {
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

/** The search form, and the match list with the keyboard: arrows move, Enter opens, Esc goes back. */
export function wireSearch(): void {
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
  $('search-results').addEventListener('keydown', (e) => {
    const cur = (e.target as HTMLElement).closest('li');
    if (!cur) return;
    if (e.key === 'ArrowDown')
      (cur.nextElementSibling?.querySelector('button') as HTMLElement | null)?.focus();
    else if (e.key === 'ArrowUp') {
      const prev = cur.previousElementSibling?.querySelector('button') as HTMLElement | null;
      (prev ?? $('search-q')).focus();
    } else if (e.key === 'Escape') $('search-q').focus();
    else return;
    e.preventDefault();
  });
}
