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
import { readdir, readFile } from 'node:fs/promises';
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
