/** The legend under a strip: a swatch per class, and what a pixel of several classes looks like. */
import type { ClassInfo } from '../src/server/http/types.js';
import { classColour, MIXED_COLOUR } from './colours.js';

export function swatch(colour: string): HTMLElement {
  const sw = document.createElement('i');
  sw.className = 'swatch';
  sw.style.background = colour;
  return sw;
}

/**
 * One entry per class, then the mixed-pixel marker in the words of `mixed` (how that strip picks
 * a mixed pixel's colour).
 */
export function legend(
  box: HTMLElement,
  classes: readonly ClassInfo[],
  names: (c: ClassInfo) => string,
  mixed: string,
): void {
  const entries = classes.map((c) => {
    const s = document.createElement('span');
    s.dataset['classId'] = String(c.id);
    s.dataset['kind'] = c.kind;
    s.dataset['colour'] = classColour(c);
    if (c.layer !== null) s.dataset['layer'] = String(c.layer);
    s.append(swatch(classColour(c)), ` ${names(c)}`);
    return s;
  });
  const m = document.createElement('span');
  m.className = 'mixed';
  m.dataset['kind'] = 'mixed';
  const sw = swatch('#fff');
  sw.style.borderBottom = `4px solid ${MIXED_COLOUR}`;
  sw.style.height = '8px';
  m.append(sw, ` ${mixed}`);
  box.replaceChildren(...entries, m);
}
