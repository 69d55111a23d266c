/** Convenience: open a stack from a local image directory. */
import { DirLayerSource } from './source/dir.js';
import { type OpenStackOptions, openStack, type Stack } from './stack/stack.js';

export async function openStackDir(dir: string, opts?: OpenStackOptions): Promise<Stack> {
  return openStack(await DirLayerSource.open(dir), opts);
}
