/**
 * The page's keys and header controls: m, h, d switch views, s goes to the search box, g or /
 * to the address box; the tabs, the process picker and the address form.
 */
import { loadDiff } from './diff.js';
import { parseAddress } from './format.js';
import { loadHex, openHex } from './hex.js';
import { showMapAt } from './map.js';
import { $, report, setView, state, type View } from './state.js';

export function wireKeys(selectProcess: (pid: number) => Promise<void>): void {
  const firstAddress = (): number => state.addr ?? state.map?.ranges[0]?.start ?? 0;
  for (const b of document.querySelectorAll<HTMLButtonElement>('.tabs button')) {
    b.addEventListener('click', () => {
      const v = b.dataset['view'] as View;
      if (v === 'map') showMapAt(state.addr);
      else setView(v);
      if (v === 'diff') loadDiff().catch(report);
      if (v === 'hex') loadHex(firstAddress()).catch(report);
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
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === 'm') showMapAt(state.addr);
    else if (e.key === 'h') openHex(firstAddress()).catch(report);
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
}
