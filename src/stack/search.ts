/**
 * The one binary search over sorted runs (extents, VMAs, pagemap entries, addresses): the first
 * index whose element is no longer "before" the value looked for.
 */

/**
 * The first index in [lo, hi) for which `before(i)` is false, where `before` is true for a
 * prefix of the range and false after it; `hi` when it is true throughout.
 */
export function partitionPoint(lo: number, hi: number, before: (i: number) => boolean): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
