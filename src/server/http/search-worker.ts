/**
 * The explorer's searches run here, in a process of their own: `searchStack` reads synchronously
 * (tens of seconds for a 4 GiB process), which would hold the server's event loop, and with it
 * every other request of the page, for as long. This process opens the stack itself (the same
 * target), stops after `max` matches and sends one SearchReply; a search the page no longer
 * waits for is ended by killing it (Explorer.search).
 */
import { fileURLToPath } from 'node:url';
import { type ErrorData, PagestackError } from '../../errors.js';
import { compilePattern, type SearchMatch, searchStack } from '../../ops/search.js';
import { openTarget } from '../../source/open.js';
import type { Stack } from '../../stack/stack.js';
import type { SearchHit, SearchMode } from './types.js';

export interface SearchJob {
  target: string;
  pid: number;
  text: string;
  mode: SearchMode;
  utf16: boolean;
  max: number;
  context: number;
}

export type SearchReply =
  | { ok: true; matches: SearchHit[]; truncated: boolean; bytesSearched: number | null }
  | {
      ok: false;
      error: { name: string; message: string; code: string | null; data: ErrorData };
    };

/** Thrown from onMatch to stop at the limit (never leaves runSearch). */
class SearchLimitReached extends Error {}

/** The search of `job`, in `open` (an open stack of job.target) or in a stack it opens and closes. */
export async function runSearch(job: SearchJob, open?: Stack): Promise<SearchReply> {
  const pattern = compilePattern(job.text, {
    hex: job.mode === 'hex',
    regex: job.mode === 'regex',
    utf16: job.utf16,
  });
  const stack = open ?? (await openTarget(job.target));
  try {
    const matches: SearchHit[] = [];
    let truncated = false;
    let bytesSearched: number | null = null;
    const onMatch = (m: SearchMatch): void => {
      if (m.pid !== job.pid) return;
      if (matches.length >= job.max) {
        truncated = true;
        throw new SearchLimitReached();
      }
      matches.push({
        address: m.address,
        length: m.length,
        vma: m.vma,
        layer: m.layer,
        layerName: m.layerName,
        shared: m.shared,
        contextStart: m.contextStart,
        context: Buffer.from(m.context.buffer, m.context.byteOffset, m.context.byteLength).toString('base64'),
      });
    };
    try {
      const s = await searchStack(stack, pattern, { pid: job.pid, context: job.context, onMatch });
      bytesSearched = s.bytesSearched;
    } catch (e) {
      if (!(e instanceof SearchLimitReached)) throw e;
    }
    matches.sort((x, y) => x.address - y.address);
    return { ok: true, matches, truncated, bytesSearched };
  } finally {
    if (!open) await stack.close();
  }
}

export function replyOf(e: unknown): SearchReply {
  const err = e instanceof Error ? e : new Error(String(e));
  return {
    ok: false,
    error: {
      name: err.name,
      message: err.message,
      code: e instanceof PagestackError ? e.code : null,
      data: e instanceof PagestackError ? { ...e.data } : {},
    },
  };
}

// run as a process of its own (Explorer.search forks it): one job in over IPC, one reply out
if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  // the server gone: nothing to answer to (checked between reads of the search, which are sync)
  process.once('disconnect', () => process.exit(0));
  process.once('message', (job: SearchJob) => {
    const reply = (r: SearchReply): void => {
      process.send!(r, () => process.exit(0));
    };
    runSearch(job).then(reply, (e: unknown) => reply(replyOf(e)));
  });
}
