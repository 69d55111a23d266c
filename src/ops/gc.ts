/**
 * `gc` of a store: deletes every blob that no layer of any claim (winner or not) names, directly or through its
 * parents, and that is older than the grace period. A push announces itself with an in-flight
 * marker (`refs/inflight/<id>`, written before its first HEAD, removed at its end): gc deletes
 * nothing while a marker younger than INFLIGHT_TTL_MS exists, and looks again just before
 * deleting. Blobs a running push uploaded are younger than the grace period, so they stay even if
 * its marker is not seen. (Left: a push whose marker lands after gc's last look and that finds by
 * HEAD an old unreferenced blob gc is deleting at that moment; the next push of that source
 * uploads it again, and reading reports the missing object.)
 */
import type { StoreContext } from '../source/store/source.js';
import type { BlobStore } from '../store/port.js';
import { INFLIGHT, listStackNames, readClaims } from '../store/refs.js';

/** Default grace period: blobs younger than this are never deleted. */
export const GC_GRACE_MS = 60 * 60 * 1000;
/** An in-flight marker younger than this is a live push (older: a killed one, removed by gc). */
export const INFLIGHT_TTL_MS = 60 * 60 * 1000;

export interface GcResult {
  layers: number;
  blobsKept: number;
  blobsDeleted: number;
  bytesDeleted: number;
  /** Set when a push is in flight: nothing was deleted. */
  busy: boolean;
}

async function liveMarkers(
  store: BlobStore,
  now: number,
  ttlMs: number,
): Promise<{ live: number; stale: string[] }> {
  let live = 0;
  const stale: string[] = [];
  for await (const r of store.listRefs(INFLIGHT)) {
    if (now - r.modified.getTime() < ttlMs) live++;
    else stale.push(r.key);
  }
  return { live, stale };
}

export async function gc(
  ctx: StoreContext,
  opts: { graceMs?: number; dryRun?: boolean } = {},
): Promise<GcResult> {
  const store = ctx.blobs;
  const grace = opts.graceMs ?? GC_GRACE_MS;
  const result: GcResult = { layers: 0, blobsKept: 0, blobsDeleted: 0, bytesDeleted: 0, busy: false };
  if ((await liveMarkers(store, Date.now(), INFLIGHT_TTL_MS)).live > 0) return { ...result, busy: true };
  // every blob any claim's manifest names, down its parents
  const keep = new Set<string>();
  const todo: string[] = [];
  for (const name of await listStackNames(store)) {
    for (const c of await readClaims(store, name)) todo.push(c.manifest);
  }
  for (let h = todo.pop(); h !== undefined; h = todo.pop()) {
    if (keep.has(h)) continue;
    keep.add(h);
    result.layers++;
    const m = await ctx.manifest(h, 0);
    for (const [f] of Object.values(m.files)) keep.add(f);
    for (const [f] of m.frames) keep.add(f);
    keep.add(m.index);
    keep.add(m.hashes);
    if (m.parent) todo.push(m.parent);
  }
  const now = Date.now();
  const garbage: { hash: string; size: number }[] = [];
  for await (const b of store.listBlobs()) {
    if (keep.has(b.hash) || now - b.modified.getTime() < grace) result.blobsKept++;
    else garbage.push({ hash: b.hash, size: b.size });
  }
  const markers = await liveMarkers(store, Date.now(), INFLIGHT_TTL_MS);
  if (markers.live > 0) return { ...result, busy: true };
  if (opts.dryRun)
    return { ...result, blobsDeleted: garbage.length, bytesDeleted: garbage.reduce((s, g) => s + g.size, 0) };
  for (let i = 0; i < garbage.length; i += 1000) {
    const batch = garbage.slice(i, i + 1000);
    await store.deleteBlobs(batch.map((g) => g.hash));
    result.blobsDeleted += batch.length;
    result.bytesDeleted += batch.reduce((s, g) => s + g.size, 0);
  }
  if (markers.stale.length > 0) await store.deleteRefs(markers.stale);
  return result;
}
