/**
 * Refs: which layers a stack NAME has, and the claim protocol two pushes of one NAME go through
 * (layout.ts explains it). Talks only to the BlobStore port.
 */
import { StoreError } from '../errors.js';
import {
  type Claim,
  chainOf,
  checkStackName,
  claimKey,
  parseClaim,
  SIDE_REFS,
  STACK_REFS,
} from './layout.js';
import type { BlobStore } from './port.js';

/** Every claim of stack `name` (of any seq, winners and losers). */
export async function readClaims(store: BlobStore, name: string): Promise<Claim[]> {
  const out: Claim[] = [];
  for await (const r of store.listRefs(`${STACK_REFS}${name}/`)) {
    const c = parseClaim(r.key, r.modified);
    if (c) out.push(c);
  }
  return out;
}

/** The layers of stack `name`, bottom first (empty when the store has no such stack). */
export async function readChain(store: BlobStore, name: string): Promise<Claim[]> {
  checkStackName(name, store.location);
  return chainOf(await readClaims(store, name));
}

/** Every stack name with at least one claim. */
export async function listStackNames(store: BlobStore): Promise<string[]> {
  const names = new Set<string>();
  for await (const r of store.listRefs(STACK_REFS)) {
    const rest = r.key.slice(STACK_REFS.length);
    const slash = rest.indexOf('/');
    if (slash > 0 && parseClaim(r.key, r.modified)) names.add(rest.slice(0, slash));
  }
  return [...names].sort();
}

export interface ClaimOptions {
  /**
   * How long to wait between writing a claim and reading the claims back, so that a rival claim
   * written at the same moment (an earlier one still on its way) is seen. Default 300 ms.
   */
  settleMs?: number;
}

const enc = new TextEncoder();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Makes manifest `manifest` layer `seq` of stack `name`, on `parent` (the layer below, which the
 * push found as the top). Resolves once the claim is the winner; otherwise removes it and throws
 * StoreError PAGESTACK_STORE_CONFLICT naming the layer another push took.
 */
export async function claimLayer(
  store: BlobStore,
  name: string,
  seq: number,
  manifest: string,
  parent: string | null,
  opts: ClaimOptions = {},
): Promise<void> {
  const where = `${store.location}/${name}`;
  const lost = (other: string) =>
    new StoreError(
      `${where}: layer ${seq}: another push stored this layer at the same time (manifest ${other.slice(0, 12)}); nothing of this push is lost: push again to add it on top`,
      'PAGESTACK_STORE_CONFLICT',
      { layer: `${name}@${seq}`, object: where },
    );
  if (await store.conditionalPut()) {
    const lock = `${STACK_REFS}${name}/${String(seq).padStart(10, '0')}.lock`;
    try {
      await store.putRef(lock, enc.encode(manifest), { ifNoneMatch: true });
    } catch (e) {
      if (!(e instanceof StoreError) || e.code !== 'PAGESTACK_STORE_CONFLICT') throw e;
      const held = new TextDecoder().decode((await store.getRef(lock)) ?? new Uint8Array());
      if (held !== manifest) throw lost(held);
    }
  }
  const key = claimKey(name, seq, manifest, parent);
  await store.putRef(key, enc.encode(JSON.stringify({ pushed: new Date().toISOString() })));
  await sleep(opts.settleMs ?? 300);
  const chain = chainOf(await readClaims(store, name));
  const mine = chain[seq - 1];
  if (mine?.manifest === manifest) return;
  if (mine?.key !== key) await store.deleteRefs([key]);
  throw lost(mine?.manifest ?? 'unknown');
}

/** In-flight markers of pushes (refs/inflight/<id>), which gc respects. */
export const INFLIGHT = 'inflight/';

/** Marks a push in flight; returns the function that removes the mark. */
export async function markInFlight(store: BlobStore): Promise<() => Promise<void>> {
  const key = `${INFLIGHT}${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
  await store.putRef(key, new TextEncoder().encode('push'));
  return () => store.deleteRefs([key]);
}

/** A small side object of a layer (e.g. a restore's hot set): `side/<manifest>/<what>`. */
export function sideKey(manifest: string, what: string): string {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(what)) {
    throw new StoreError(`side object name '${what}': expected 1-64 of A-Z a-z 0-9 . _ -`, 'PAGESTACK_STORE');
  }
  return `${SIDE_REFS}${manifest}/${what}`;
}

export function putSideObject(
  store: BlobStore,
  manifest: string,
  what: string,
  body: Uint8Array,
): Promise<void> {
  return store.putRef(sideKey(manifest, what), body);
}

export function getSideObject(store: BlobStore, manifest: string, what: string): Promise<Uint8Array | null> {
  return store.getRef(sideKey(manifest, what));
}
