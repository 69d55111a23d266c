/**
 * `rm` of a stored stack: removes its claims (all of NAME, or its layers N and above), top first,
 * so a reader never sees a layer without the one below it. Refs only: the blobs stay until `gc`
 * (a reader that opened the stack before goes on reading).
 */
import { StoreError } from '../errors.js';
import { STACK_REFS } from '../store/layout.js';
import type { BlobStore } from '../store/port.js';
import { readChain, readClaims } from '../store/refs.js';

/** Removes stack `name`, or its layers `from` and above. Returns the layers removed. */
export async function removeStack(store: BlobStore, name: string, from?: number): Promise<number> {
  const chain = await readChain(store, name);
  if (chain.length === 0) {
    throw new StoreError(
      `${store.location}/${name}: no such stack in the store`,
      'PAGESTACK_STORE_NOT_FOUND',
    );
  }
  const start = from ?? 1;
  if (start < 1 || start > chain.length) {
    throw new StoreError(
      `${store.location}/${name}@${start}: the stack has layers 1 to ${chain.length}`,
      'PAGESTACK_LAYER_OUT_OF_RANGE',
    );
  }
  const keys: string[] = [];
  for (const c of await readClaims(store, name)) if (c.seq >= start) keys.push(c.key);
  if (start === 1) {
    for await (const r of store.listRefs(`${STACK_REFS}${name}/`))
      if (!keys.includes(r.key)) keys.push(r.key);
  }
  // top first: a reader never sees a layer without the one below it
  keys.sort().reverse();
  for (const k of keys) await store.deleteRefs([k]);
  return chain.length - start + 1;
}
