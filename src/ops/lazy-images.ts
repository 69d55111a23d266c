/**
 * `lazy-images`: the restore side's directory for a lazy restore whose memory stays in a stack
 * (served by `pagestack page-server STACK --lazy`); what it holds is described with the engine's
 * writer (src/engine/lazy-images.ts), which `restore --lazy` shares.
 */
import { type LazyImagesResult, writeLazyImages } from '../engine/lazy-images.js';
import { openStackDir } from '../source/open.js';

export { type LazyImagesResult, vmaCanBeLazy } from '../engine/lazy-images.js';

export interface LazyImagesOptions {
  top: string;
  out: string;
}

export async function lazyImages(opts: LazyImagesOptions): Promise<LazyImagesResult> {
  const stack = await openStackDir(opts.top);
  try {
    return await writeLazyImages(stack, opts.out);
  } finally {
    await stack.close();
  }
}
