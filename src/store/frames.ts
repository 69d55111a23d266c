/**
 * Cutting page data into frames by content (layout.ts): a frame ends after a page whose hash has
 * its low FRAME_MASK bits zero, once it has FRAME_MIN_PAGES pages, and always at FRAME_MAX_PAGES.
 * The decision needs only each page's hash (which push computes anyway for the page-hash table),
 * so the same pages give the same frames at any offset.
 */
import { FRAME_MASK, FRAME_MAX_PAGES, FRAME_MIN_PAGES } from './layout.js';

export interface FrameCut {
  readonly mask: number;
  readonly minPages: number;
  readonly maxPages: number;
}

export const DEFAULT_CUT: FrameCut = {
  mask: FRAME_MASK,
  minPages: FRAME_MIN_PAGES,
  maxPages: FRAME_MAX_PAGES,
};

/** Whether a frame of `pages` pages ends after a page whose hash starts with `hash`. */
export function endsFrame(hash: Uint8Array, pages: number, cut: FrameCut = DEFAULT_CUT): boolean {
  if (pages >= cut.maxPages) return true;
  if (pages < cut.minPages) return false;
  const word = (hash[0]! | (hash[1]! << 8) | (hash[2]! << 16)) >>> 0;
  return (word & cut.mask) === 0;
}
