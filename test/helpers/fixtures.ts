/**
 * The real CRIU 4.2 images in test/fixtures/criu-4.2 (see its README.md): paths, the list of image
 * files, each directory's expected.json and series/changes.json, and copies of a stack to work on.
 */
import {
  copyFileSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
} from 'node:fs';
import { join } from 'node:path';

/** The repository root. */
export const ROOT = join(import.meta.dirname, '..', '..');
/** test/fixtures/criu-4.2. */
export const FIX = join(ROOT, 'test', 'fixtures', 'criu-4.2');

/** A path under the fixtures, e.g. `fixture('series-stack', '3')`. */
export function fixture(...parts: string[]): string {
  return join(FIX, ...parts);
}

/** Every image file under the fixtures (relative paths): no pages, JSON, parent links or prog/. */
export function fixtureImages(dir = FIX, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const r = rel ? `${rel}/${name}` : name;
    const st = lstatSync(path);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) {
      if (rel === '' && (name === 'prog' || name === 'crit-json')) continue;
      out.push(...fixtureImages(path, r));
    } else if (rel !== '' && !name.startsWith('pages-') && !name.endsWith('.json')) {
      out.push(r);
    }
  }
  return out;
}

/** A fixture directory's expected.json (what the README says of it). */
export interface Expected {
  pstree: { pid: number; ppid: number; threads: number[] }[];
  processes: {
    pid: number;
    pagemap: string;
    pages_id: number;
    pages_file: string;
    pages_file_size: number;
    n_entries: number;
    total_pages: number;
    present_pages: number;
    flag_counts: Record<string, number>;
    entries: [number, number, number][];
    entry_sha256: (string | null)[];
    present_sha256: string;
    pattern_runs: [number, number, string][];
    pattern_check: { pages_matching: number; pages_not_present_lazy: number }[];
    absent_check: { ranges: [number, number][] };
  }[];
  shmem?: {
    shmid: number;
    pagemap: string;
    pages_id: number;
    n_entries: number;
    total_pages: number;
    present_pages: number;
    pages_file_size: number;
    entries: [number, number, number][];
    present_sha256: string;
    mapped_at: number;
    pattern_runs: [number, number, string][];
  }[];
}

/** The expected.json of a fixture directory (`dir` relative to the fixtures, e.g. 'series/3'). */
export function expectedOf(dir: string): Expected {
  return JSON.parse(readFileSync(join(FIX, dir, 'expected.json'), 'utf8')) as Expected;
}

/** One step of series/changes.json: what changed from dump `from` to dump `to`. */
export interface SeriesStep {
  from: string;
  to: string;
  pages_in_both: number;
  /** [address, pages] runs. */
  changed: [number, number][];
  changed_pages: number;
  gone: [number, number][];
  new: [number, number][];
}

/** series/changes.json. */
export function seriesChanges(): { steps: SeriesStep[] } {
  return JSON.parse(readFileSync(join(FIX, 'series', 'changes.json'), 'utf8')) as { steps: SeriesStep[] };
}

/**
 * Copies the layers `layers` (directory names) of the stack in `from` into `to`: their regular files,
 * and each layer's parent symlink with the same (relative) text. Returns the last layer's path.
 */
export function copyStack(to: string, layers = ['1', '2', '3'], from = join(FIX, 'series-stack')): string {
  for (const l of layers) {
    const src = join(from, l);
    mkdirSync(join(to, l), { recursive: true });
    for (const f of readdirSync(src)) {
      const st = lstatSync(join(src, f));
      if (st.isFile()) copyFileSync(join(src, f), join(to, l, f));
      else if (st.isSymbolicLink() && f === 'parent') symlinkSync(readlinkSync(join(src, f)), join(to, l, f));
    }
  }
  return join(to, layers[layers.length - 1]!);
}
