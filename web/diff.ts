/**
 * The diff view: two layers of the stack (by number, 1 = the bottom), or a directory given with
 * `--with`, on one strip: changed, added, removed, equal, with the counts of `pagestack diff`, and
 * under it the list of changed, added and removed ranges (a click opens the hex view there).
 */
import type { DiffInfo, DiffPageInfo, RunsInfo } from '../src/server/http/types.js';
import { api } from './api.js';
import { kindColour } from './colours.js';
import { commas, hex, PAGE } from './format.js';
import { openHex } from './hex.js';
import { legend, swatch } from './legend.js';
import { gapText, mixText } from './map.js';
import { $, report, state, windows, writeUrl } from './state.js';
import { type StripSource, StripView } from './strip.js';

let hoverSeq = 0;

export const diffStrip = new StripView(
  $('diffmap') as HTMLCanvasElement,
  $('diff-axis'),
  (pos, r, mix) => {
    const d = state.diff;
    const src = diffSource();
    if (pos === null || !d || !src) return;
    const box = $('diff-hover');
    if (!r) {
      box.textContent = gapText(pos, src) + mixText(mix, src.classes);
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
          `in ${hex(r.start)}-${hex(r.end)} ${r.perms} ${r.name || '(anonymous)'}` +
          mixText(mix, src.classes);
      })
      .catch(report);
  },
  (addr) => {
    openHex(addr).catch(report);
  },
);
windows.diff = () => diffStrip.window();

/** A mixed pixel of the diff shows a change first (so one changed page in a million shows). */
const DIFF_RANK: Record<string, number> = { changed: 3, added: 2, removed: 2, lazy: 1 };

function diffSource(): StripSource | null {
  const d = state.diff;
  if (!d) return null;
  return {
    total: d.total,
    ranges: d.ranges,
    classes: d.classes,
    rank: (c) => DIFF_RANK[c.kind] ?? 0,
    runs: (from, to, buckets, signal) =>
      api<RunsInfo>(
        'diffruns',
        { pid: state.pid, a: state.diffA, b: state.diffB, from, to, buckets },
        signal,
      ),
  };
}

/** The table of changed, added and removed ranges under the diff's strip. */
function renderChanges(d: DiffInfo): void {
  const t = $('diff-changes') as HTMLTableElement;
  t.replaceChildren();
  const caption = t.createCaption();
  caption.textContent =
    d.changesTotal === 0
      ? 'no page differs'
      : d.changesTotal > d.changes.length
        ? `the first ${commas(d.changes.length)} of ${commas(d.changesTotal)} ranges that differ (click one for its bytes)`
        : `${commas(d.changesTotal)} range${d.changesTotal === 1 ? '' : 's'} that differ (click one for its bytes)`;
  t.dataset['total'] = String(d.changesTotal);
  if (d.changes.length === 0) return;
  const head = t.createTHead().insertRow();
  for (const h of ['start-end', 'kind', 'pages', 'VMA']) {
    const th = document.createElement('th');
    th.textContent = h;
    if (h === 'pages') th.className = 'n';
    head.append(th);
  }
  const body = t.createTBody();
  for (const c of d.changes) {
    const row = body.insertRow();
    row.dataset['start'] = hex(c.start);
    row.dataset['kind'] = c.kind;
    row.tabIndex = 0;
    row.title = `open the hex view at ${hex(c.start)}`;
    const span = row.insertCell();
    span.className = 'addr';
    span.textContent = `${c.start.toString(16)}-${c.end.toString(16)}`;
    const kind = row.insertCell();
    kind.append(swatch(kindColour(c.kind)), ` ${c.kind}`);
    const pages = row.insertCell();
    pages.className = 'n';
    pages.textContent = commas(c.pages);
    const vma = row.insertCell();
    vma.className = 'name';
    vma.textContent = c.vma;
    vma.title = c.vma;
    const open = (): void => {
      openHex(c.start).catch(report);
    };
    row.addEventListener('click', open);
    row.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter') return;
      e.preventDefault();
      open();
    });
  }
}

export async function loadDiff(from?: number, to?: number): Promise<void> {
  const s = state.stack!;
  const n = s.layers.length;
  if (!state.diffA) state.diffA = String(Math.max(1, n - 1));
  if (!state.diffB) state.diffB = String(n);
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
  legend(
    $('diff-legend'),
    d.classes,
    (k) => k.name,
    'band under a pixel: pages of several kinds there, drawn as a change if it has one (hover: shares)',
  );
  renderChanges(d);
  diffStrip.setSource(diffSource()!, from, to);
}

/** The A and B pickers: every layer ("layer N (name)", top first) and every --with directory. */
export function fillDiffPickers(): void {
  const s = state.stack!;
  for (const sid of ['diff-a', 'diff-b']) {
    const d = $(sid) as HTMLSelectElement;
    d.replaceChildren(
      ...s.layers.map((l) => new Option(l.label, String(l.number))),
      ...s.others.map((o) => new Option(o.label, o.id)),
    );
  }
  for (const id of ['diff-a', 'diff-b']) {
    $(id).addEventListener('change', () => {
      state.diffA = ($('diff-a') as HTMLSelectElement).value;
      state.diffB = ($('diff-b') as HTMLSelectElement).value;
      loadDiff().catch(report);
    });
  }
}
