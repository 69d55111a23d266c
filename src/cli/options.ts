/**
 * Arguments every command parses the same way: process ids, addresses, sizes. One rule each, so
 * `--pid 0` or `0x1000_0000` mean the same in `read`, `export`, `maps` and `diff`: addresses are
 * hex with or without `0x` (as `maps` prints them); lengths and counts are decimal unless `0x`.
 */
import { Option } from '@commander-js/extra-typings';
import { UsageError } from '../errors.js';

const SUFFIX: Readonly<Record<string, number>> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/** `0x1f`, `31`, `1_000` (and a K/M/G/T suffix): the value, or null when it is not one. */
function parse(text: string): { value: bigint; suffix: string } | null {
  const m = /^(0x[0-9a-f]+|[0-9]+)(?:([kmgt])(?:i?b)?)?$/i.exec(text.trim().replace(/_/g, ''));
  if (!m) return null;
  const suffix = (m[2] ?? '').toLowerCase();
  return { value: BigInt(m[1]!) * BigInt(SUFFIX[suffix]!), suffix };
}

/**
 * Parses `0x1f`, `31` (and with `sizes`, `4K`, `2M`, `1G`, `0x10K`) into a safe integer.
 * Throws a UsageError naming `what` otherwise.
 */
export function parseNumber(text: string, what: string, sizes = false): number {
  const p = parse(text);
  if (!p || (p.suffix && !sizes)) {
    throw new UsageError(
      `${what} '${text}': expected a number in hex (0x...) or decimal${sizes ? ', optionally with a K/M/G suffix' : ''}`,
    );
  }
  if (p.value > BigInt(Number.MAX_SAFE_INTEGER))
    throw new UsageError(`${what} '${text}' is too large (above 2^53)`);
  return Number(p.value);
}

/**
 * An address as a bigint: always hex, with or without `0x` (`7f0000001000`, `0x7f00_0000_1000`),
 * as `maps` and /proc/PID/maps print them, so a copied address reads that place. Null when it is
 * not one.
 */
export function parseAddressBig(text: string): bigint | null {
  const m = /^(?:0x)?([0-9a-f]+)$/i.exec(text.trim().replace(/_/g, ''));
  return m ? BigInt(`0x${m[1]!}`) : null;
}

/** A virtual address (hex, with or without `0x`), below 2^53. */
export function parseAddress(text: string, what: string): number {
  const v = parseAddressBig(text);
  if (v === null)
    throw new UsageError(`${what}: expected an address in hex (with or without 0x), got '${text}'`);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`${what}: ${text} is beyond 2^53`);
  return Number(v);
}

/** Largest pid Linux hands out (PID_MAX_LIMIT, 2^22 on 64-bit; 0x3fffffff bounds every config). */
const PID_MAX = 0x3fffffff;

/** A `--pid` argument (undefined when the option was not given). */
export function parsePid(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) <= 0 || Number(text) > PID_MAX) {
    throw new UsageError(`--pid '${text}': expected a process id`);
  }
  return Number(text);
}

/** A TCP port (`--port`): 0 to 65535, 0 = any free port (the command prints the one it got). */
export function parsePort(text: string | undefined, what = '--port'): number {
  if (text === undefined) return 0;
  if (!/^[0-9]+$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`${what} '${text}': expected a port number (0 to 65535; 0 = any free port)`);
  }
  return Number(text);
}

/**
 * `--parent ARCHIVE|DIR`, the one definition every command taking a target uses: the layer below
 * the target's top layer, replacing its `parent` link. Needed for a podman `--with-previous`
 * archive, whose `checkpoint/parent -> ../pre-checkpoint` leaves the archive (its pages are in the
 * `--import-previous` archive); also overrides an image directory's `parent` symlink. Commands
 * with two targets take it for the first and `flag` (e.g. `--parent-b`) for the second.
 */
export function parentOption<F extends string = '--parent'>(
  flag: F = '--parent' as F,
  of = 'the target',
): Option<`${F} <target>`> {
  return new Option(
    `${flag} <target>` as `${F} <target>`,
    `archive or image directory holding the layer below ${of}'s top layer (replaces its parent link)`,
  );
}

/** `--wait`, for every command that writes a stack: wait for another writer's lock instead of failing. */
export function waitOption(): Option<'--wait'> {
  return new Option(
    '--wait',
    'when another pagestack process is writing the stack, wait for it (default: fail at once)',
  );
}

/** `--salvage` of the readers (show, read, search, export): docs/reading-damaged-stacks.md. */
export function salvageOption(): Option<'--salvage'> {
  return new Option(
    '--salvage',
    'read what a damaged stack still holds: pages lost with a cut-short pages file are left out (marked, and summed up at the end)',
  );
}
