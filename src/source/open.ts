/**
 * The one place a user's path becomes a layer source or a stack. Every command opens its inputs
 * here, so a new kind of source (a checkpoint archive, an object store) is detected in
 * `openSource` and every command takes it.
 */

import type { LayerSource } from '../stack/source.js';
import { type OpenStackOptions, openStack, type Stack } from '../stack/stack.js';
import { DirLayerSource } from './dir.js';

export type OpenTargetOptions = OpenStackOptions;

/** The layer a path names (today: an image directory). */
export function openSource(path: string): Promise<LayerSource> {
  return DirLayerSource.open(path);
}

/** The stack whose top layer a path names, down its parent links. The caller closes it. */
export async function openTarget(path: string, opts?: OpenTargetOptions): Promise<Stack> {
  return openStack(await openSource(path), opts);
}

/** A stack from a local image directory (library convenience: always a directory). */
export async function openStackDir(dir: string, opts?: OpenStackOptions): Promise<Stack> {
  return openStack(await DirLayerSource.open(dir), opts);
}
