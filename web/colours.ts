/** The colours of layers, page kinds and search marks on the strips, the legend and the hex view. */
import type { ClassInfo } from '../src/server/http/types.js';

/** By layer number: layer 1 (the bottom) is the first colour. */
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

/** The colour of layer number `n` (1 = the bottom). */
export function layerColour(n: number): string {
  if (n >= 1 && n <= LAYER_COLOURS.length) return LAYER_COLOURS[n - 1]!;
  return `hsl(${(n * 137) % 360} 60% 45%)`;
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
export const MARK_COLOUR = '#ff00d4';

/** The band along the bottom of a pixel that holds pages of several classes (the legend says so). */
export const MIXED_COLOUR = '#24292f';

export function classColour(c: ClassInfo): string {
  return c.kind === 'layer' && c.layer !== null ? layerColour(c.layer) : (KIND_COLOURS[c.kind] ?? '#000');
}

export function kindColour(kind: string): string {
  return KIND_COLOURS[kind] ?? '#000';
}
