/**
 * The side panels: the stack's layers (numbered from the bottom, the top first), the container
 * when the target is a checkpoint archive, and the process tree; and the header's target.
 */
import type { ContainerSummary, StackInfo } from '../src/server/http/types.js';
import { layerColour } from './colours.js';
import { commas, size } from './format.js';
import { swatch } from './legend.js';
import { $ } from './state.js';

function renderLayers(s: StackInfo): void {
  const t = $('layers') as HTMLTableElement;
  t.replaceChildren();
  const head = t.createTHead().insertRow();
  const cols: [string, string][] = [
    ['layer', 'layer N: 1 is the first dump (the bottom), the top is the last'],
    ['directory', 'where its images are'],
    ['size', 'size of its pages files'],
    ['disk', 'disk the pages files use'],
    ['held', 'pages held in its own pages files'],
    ['from below', 'pages taken from the layer below (PE_PARENT)'],
  ];
  for (const [h, title] of cols) {
    const th = document.createElement('th');
    th.textContent = h;
    th.title = title;
    if (h !== 'layer' && h !== 'directory') th.className = 'n';
    head.append(th);
  }
  const body = t.createTBody();
  for (const l of s.layers) {
    const r = body.insertRow();
    r.dataset['layer'] = String(l.number);
    const num = r.insertCell();
    num.className = 'num';
    num.append(swatch(layerColour(l.number)), ` ${l.number}`);
    num.title = l.label;
    const name = r.insertCell();
    name.className = 'name';
    name.textContent = `${l.dir}${l.deduplicated ? ' (dedup)' : ''}`;
    name.title = `layer ${l.number} of ${s.layers.length}: ${l.name}${l.note ? `: ${l.note}` : ''}; gives ${commas(l.used)} pages to the final memory`;
    for (const v of [size(l.size), size(l.allocated), commas(l.held), commas(l.fromBelow)]) {
      const c = r.insertCell();
      c.className = 'n';
      c.textContent = v;
    }
  }
}

/** inspect's container facts, for an archive; the section stays hidden for a directory. */
function renderContainer(c: ContainerSummary | null): void {
  const box = $('container');
  box.hidden = c === null;
  if (!c) return;
  const dl = $('container-facts');
  dl.replaceChildren();
  const rows: [string, string | null][] = [
    ['name', c.name],
    ['image', c.image],
    ['runtime', c.runtime],
    ['engine', c.engine],
    ['created', c.created],
    ['checkpointed', c.checkpointed],
    ['command', c.command ? c.command.join(' ') : null],
    ['archive', `${c.archive} (${c.format})`],
    ['id', c.id],
  ];
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v ?? '(not recorded)';
    dd.title = v ?? '';
    dd.dataset['field'] = k;
    dl.append(dt, dd);
  }
}

function renderProcesses(s: StackInfo, onPick: (pid: number) => void): void {
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
      li.addEventListener('click', () => onPick(pid));
      procs.append(li);
      const o = document.createElement('option');
      o.value = String(pid);
      o.textContent = `${pid} ${p.comm ?? ''}`;
      sel.append(o);
      if (depth < 64) walk(pid, depth + 1);
    }
  };
  walk(0, 0);
}

export function renderStack(s: StackInfo, onPick: (pid: number) => void): void {
  const top = $('top');
  top.textContent = s.top;
  top.title = s.top;
  renderLayers(s);
  renderContainer(s.container);
  renderProcesses(s, onPick);
}
