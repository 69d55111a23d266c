/**
 * The CLI's words for library errors. Library messages name no flags (a web page has none); for
 * the codes where a flag is the way out, the CLI says which, keyed by the error's code.
 */
import type { ErrorCode, PagestackError } from '../errors.js';

type Hint = (e: PagestackError) => string;

const HINTS: Partial<Record<ErrorCode, Hint>> = {
  PAGESTACK_PID_REQUIRED: (e) =>
    `the stack has ${e.data['processes']} processes, choose one with --pid: ${(e.data['pids'] as readonly number[]).join(', ')}`,
  PAGESTACK_RAW_SPAN_TOO_LARGE: (e) => `${e.message}: narrow it with --start/--end, or pass --force`,
  PAGESTACK_FILE_TOO_LARGE: (e) =>
    e.data['start'] !== undefined ? `${e.message}; narrow it with --start/--end` : e.message,
  PAGESTACK_NO_OUTPUT: (e) => `${e.message} (use -o OUT or --in-place)`,
  PAGESTACK_LAYER_OUT_OF_RANGE: (e) => keepBelow(e),
  PAGESTACK_NOT_A_LAYER: (e) => keepBelow(e),
  PAGESTACK_ARCHIVE_LINK: (e) =>
    e.data['member'] !== undefined && String(e.data['member']).endsWith('parent')
      ? `${e.message}; give the layer below with --parent ARCHIVE|DIR`
      : e.message,
  PAGESTACK_DEDUP_BRANCH: (e) => `${e.message} (use --force if it does not matter)`,
  PAGESTACK_LOCKED: (e) => `${e.message} (--wait waits for it)`,
  PAGESTACK_DELTA_UNRELATED: (e) => `${e.message} (--force to go on)`,
};

/** `layer SPEC: ...` is about the layer given with --keep-below (the only option taking one). */
function keepBelow(e: PagestackError): string {
  const prefix = `layer ${e.data['spec']}: `;
  return e.message.startsWith(prefix) ? `--keep-below ${e.message.slice('layer '.length)}` : e.message;
}

/** The message the CLI prints for `e`: the library's, with the flag hint for its code. */
export function cliMessage(e: PagestackError): string {
  const hint = HINTS[e.code];
  return hint ? hint(e) : e.message;
}
