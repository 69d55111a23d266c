// src/stack/search.ts
function partitionPoint(lo, hi, before) {
  while (lo < hi) {
    const mid = lo + hi >>> 1;
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export {
  partitionPoint
};
