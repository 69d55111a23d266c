/**
 * `add-images`: completes a layer that `pagestack page-server` received (pagemaps and pages only)
 * with the dump's other images (inventory, pstree, core, mm, files, ...), which `criu dump
 * --page-server` writes into its own -D, so that `criu restore -D LAYER` works.
 *
 * Crash-safe like every writer here: the new layer is built beside it (the layer's own files and
 * the dump's images), checked by the caller's `check` (the CLI runs verify on it), and only then
 * swapped in by rename (LayerWriter replace). A failed check or a kill leaves the layer as it was.
 * Copied: every `*.img` and `stats-*` file of the dump directory except pagemaps and pages files;
 * anything else (CRIU's logs, a `parent` link) is left out and reported. A dump directory holding
 * pagemaps is refused: its memory did not go through the page server.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoText } from '../engine/fs.js';
import { LayerWriter } from '../engine/layer-writer.js';
import { LayerWriteError } from '../errors.js';
import { DirLayerSource } from '../source/dir.js';

/** Whether two (small image) files hold the same bytes. */
async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([readFile(a), readFile(b)]);
    return x.equals(y);
  } catch {
    return false;
  }
}

export interface AddImagesOptions {
  /** The layer (a page-server layer STACK/N). */
  layer: string;
  /** The dump's -D directory. */
  from: string;
  /** Checks the finished directory before it replaces the layer; returns problems (empty: fine). */
  check?: (dir: string) => Promise<string[]>;
}

export interface AddImagesResult {
  layer: string;
  copied: string[];
  /** Files of the dump directory that are not images (left out). */
  skipped: string[];
  /** Images the layer had already, with the same bytes. */
  same: string[];
}

const PAGES_FILE = /^(pagemap-.+|pages-\d+)\.img$/;

export async function addImages(opts: AddImagesOptions): Promise<AddImagesResult> {
  const list = async (dir: string) => {
    try {
      return (await readdir(dir)).sort();
    } catch (e) {
      throw new LayerWriteError(`${dir}: cannot list the directory: ${errnoText(e)}`, undefined, {
        file: dir,
      });
    }
  };
  const layerFiles = await list(opts.layer);
  const dumpFiles = await list(opts.from);
  const res: AddImagesResult = { layer: opts.layer, copied: [], skipped: [], same: [] };
  for (const f of dumpFiles) {
    if (PAGES_FILE.test(f)) {
      throw new LayerWriteError(
        `${opts.from}: holds ${f}: not the -D of a \`criu dump --page-server\` (its memory was written locally)`,
        'PAGESTACK_ADD_IMAGES_NOT_PS_DUMP',
        { file: `${opts.from}/${f}` },
      );
    }
    if (!/\.img$/.test(f) && !/^stats-/.test(f)) {
      res.skipped.push(f);
      continue;
    }
    if (layerFiles.includes(f)) {
      if (await sameFile(`${opts.layer}/${f}`, `${opts.from}/${f}`)) {
        res.same.push(f);
        continue;
      }
      throw new LayerWriteError(
        `${opts.layer}: has ${f} already, with other bytes than ${opts.from}/${f}`,
        'PAGESTACK_ADD_IMAGES_CONFLICT',
        { file: `${opts.layer}/${f}`, layer: opts.layer },
      );
    }
    res.copied.push(f);
  }
  if (res.copied.length === 0) return res;
  const w = await LayerWriter.begin(opts.layer, { replace: true });
  try {
    await w.copyLayerFiles(await DirLayerSource.open(opts.layer), layerFiles);
    await w.copyLayerFiles(await DirLayerSource.open(opts.from), res.copied);
    const problems = (await opts.check?.(w.dir)) ?? [];
    if (problems.length > 0) {
      throw new LayerWriteError(
        `${opts.layer}: with the images of ${opts.from} it does not verify (left unchanged): ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`,
        'PAGESTACK_ADD_IMAGES_VERIFY',
        { layer: opts.layer, problems: problems.length },
      );
    }
    await w.commit();
  } catch (e) {
    await w.abort();
    throw e;
  }
  return res;
}

/** The layer `addImages` completes, found from what its argument is. */
export interface PickedLayer {
  /** The layer directory (STACK/N). */
  layer: string;
  /** How it was chosen, for the user (null when the argument was the layer itself). */
  why: string | null;
}

/** Pids of `PREFIX-PID.img` files among `files`. */
function pidsOf(files: readonly string[], prefix: string): Set<string> {
  const out = new Set<string>();
  for (const f of files) {
    const m = new RegExp(`^${prefix}-(\\d+)\\.img$`).exec(f);
    if (m) out.add(m[1]!);
  }
  return out;
}

/**
 * `add-images STACK DUMP_DIR` as well as `add-images STACK/N DUMP_DIR`: when `target` holds no
 * pagemap but numbered layer directories (a page-server stack), the layer that dump made is the one
 * still without images (no `inventory.img`) whose processes (`pagemap-PID.img`) are the dump's
 * (`core-PID.img`); of several such, the one written nearest in time to the dump's
 * `inventory.img` (CRIU writes both as the dump ends).
 */
export async function pickLayer(target: string, dumpDir: string): Promise<PickedLayer> {
  let files: string[];
  try {
    files = await readdir(target);
  } catch {
    return { layer: target, why: null }; // addImages names the problem
  }
  if (files.some((f) => PAGES_FILE.test(f)) || files.includes('inventory.img')) {
    return { layer: target, why: null };
  }
  const numbers = files.filter((f) => /^[1-9]\d*$/.test(f)).map(Number);
  if (numbers.length === 0) return { layer: target, why: null };
  let dumpFiles: string[];
  try {
    dumpFiles = await readdir(dumpDir);
  } catch {
    return { layer: target, why: null };
  }
  const dumpPids = pidsOf(dumpFiles, 'core');
  const candidates: { n: number; mtime: number }[] = [];
  for (const n of numbers.sort((a, b) => a - b)) {
    const dir = join(target, String(n));
    let layerFiles: string[];
    try {
      layerFiles = await readdir(dir);
    } catch {
      continue;
    }
    if (layerFiles.includes('inventory.img')) continue;
    const pids = pidsOf(layerFiles, 'pagemap');
    if (pids.size === 0 || ![...pids].every((p) => dumpPids.has(p))) continue;
    const pm = layerFiles.find((f) => f.startsWith('pagemap-'))!;
    candidates.push({ n, mtime: (await stat(join(dir, pm))).mtimeMs });
  }
  if (candidates.length === 0) {
    throw new LayerWriteError(
      `${target}: no layer of this stack is waiting for the images of ${dumpDir} (every layer has its inventory.img, or holds other processes than the dump's core-PID.img name): name the layer, STACK/N`,
      'PAGESTACK_ADD_IMAGES_NO_LAYER',
      { file: target },
    );
  }
  if (candidates.length === 1) {
    return {
      layer: join(target, String(candidates[0]!.n)),
      why: `the only layer of ${target} without images`,
    };
  }
  let when: number;
  try {
    when = (await stat(join(dumpDir, 'inventory.img'))).mtimeMs;
  } catch {
    throw new LayerWriteError(
      `${target}: layers ${candidates.map((c) => c.n).join(', ')} all wait for images and ${dumpDir} has no inventory.img to tell which: name the layer, STACK/N`,
      'PAGESTACK_ADD_IMAGES_NO_LAYER',
      { file: target },
    );
  }
  const best = candidates.reduce((a, b) => (Math.abs(b.mtime - when) < Math.abs(a.mtime - when) ? b : a));
  return {
    layer: join(target, String(best.n)),
    why: `of the layers without images (${candidates.map((c) => c.n).join(', ')}), the one written nearest in time to ${dumpDir}/inventory.img`,
  };
}
