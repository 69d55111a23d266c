/**
 * The explorer page. Everything it shows comes from the server's JSON API
 * (src/server/http/types.ts); the page only lays it out: the strip is drawn from run-length
 * bucket summaries the server makes for the window on screen (one bucket per canvas pixel), so
 * zooming into a 4 GiB process costs one small request per frame, never its 400k extents.
 *
 * The modules, one per view: api (the client), state (what is shown and the URL), format,
 * colours, legend, strip (the canvas both strips use), map, hex, search, diff, panels (layers,
 * container, processes), keys. This one picks a process and starts the page from its URL.
 */
import type { MapInfo, StackInfo } from '../src/server/http/types.js';
import { api } from './api.js';
import { fillDiffPickers, loadDiff } from './diff.js';
import { parseAddress } from './format.js';
import { loadHex, wireHex } from './hex.js';
import { wireKeys } from './keys.js';
import { mapSource, mapStrip, renderMap, wireMap } from './map.js';
import { renderStack } from './panels.js';
import { renderSearch, runSearch, wireSearch } from './search.js';
import { $, report, setView, state } from './state.js';

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

async function start(): Promise<void> {
  const q = new URLSearchParams(location.search);
  state.stack = await api<StackInfo>('stack', {});
  renderStack(state.stack, (pid) => {
    selectProcess(pid).catch(report);
  });
  fillDiffPickers();
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

wireMap();
wireHex();
wireSearch();
wireKeys((pid) => selectProcess(pid));
start().catch(report);
