/**
 * `pagestack read DIR [--pid N] ADDR LEN [--raw | -o FILE] [--zero]`: bytes of a process's memory,
 * read through the stack, as an `xxd`-style hexdump (addresses are the real virtual addresses) or
 * raw to stdout or a file. Memory the images do not hold (not dumped, lazy, unmapped) is an error
 * naming the first such address and why, unless --zero reads it as zeros.
 *
 * The whole range is checked before anything is written, then read and written in 1 MiB chunks,
 * so LEN is bounded by the address space, not by memory.
 */
import { statSync } from 'node:fs';
import type { Command } from '@commander-js/extra-typings';
import { AtomicFile, type InputPath, outputError } from '../engine/output.js';
import { PagestackError, StackError, UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import { exportRaw, MAX_RAW_SPAN } from '../ops/export-raw.js';
import { openTarget } from '../source/open.js';
import type { ProcessMemory } from '../stack/process.js';
import { assertReadable } from '../stack/readable.js';
import { findExtent, LAZY } from '../stack/resolve.js';
import type { Stack } from '../stack/stack.js';
import { hexdumpBytes, hexdumpWidth } from './format.js';
import { cliProgress, cliStreams, refuseBinaryToTerminal, writeStdout } from './io.js';
import {
  parentOption,
  parseAddress,
  parseAddressBig,
  parseNumber,
  parsePid,
  salvageOption,
} from './options.js';
import { printSalvage } from './salvage.js';

/** Bytes read and written per step. A multiple of 16, so hexdump lines continue across chunks. */
export const READ_CHUNK = 1 << 20;

/** Largest address + length accepted (addresses above 2^53 are not exact in JS numbers). */
const MAX_END = Number.MAX_SAFE_INTEGER;
/** Largest LEN of raw output, as export raw's span guard (a mistyped length should not fill a disk). */
export const MAX_READ_LEN = MAX_RAW_SPAN;
/** Largest LEN of a hexdump (about 4.4 bytes of text per byte read). */
export const MAX_HEXDUMP_LEN = 256 << 20;

export function registerRead(program: Command): void {
  program
    .command('read')
    .description('read process memory through the stack: a hexdump (as xxd) or raw bytes')
    .argument('<dir>', 'image directory or checkpoint archive (the top layer of a stack)')
    .addOption(parentOption())
    .argument('<addr>', 'virtual address, hex with or without 0x (as maps prints it)')
    .argument('<len>', 'number of bytes, decimal unless 0x (K/M/G suffixes allowed)')
    .option('--pid <pid>', 'process (needed when the images hold several)')
    .option('--raw', 'write the raw bytes to stdout instead of a hexdump')
    .option(
      '-o, --output <file>',
      'write the raw bytes to this file (written beside it, then renamed; sparse: zero pages are holes); - is stdout',
    )
    .addOption(salvageOption())
    .option(
      '--zero',
      'read memory the images do not hold (not dumped, lazy, unmapped, released by dedup for another child) as zeros',
    )
    .action(async (dir, addrText, lenText, opts) => {
      refuseKernelAddress(dir, addrText);
      const addr = parseAddress(addrText, 'ADDR');
      const len = parseNumber(lenText, 'LEN', true);
      if (addr + len > MAX_END)
        throw new UsageError(`ADDR + LEN is beyond 2^53, which pagestack cannot address`);
      if (opts.raw && opts.output !== undefined) {
        throw new UsageError('--raw and -o both choose raw output: give one of them');
      }
      const toStdout = opts.output === '-';
      const output = toStdout ? undefined : opts.output;
      const raw = opts.raw === true || toStdout;
      const cap = raw || output !== undefined ? MAX_READ_LEN : MAX_HEXDUMP_LEN;
      if (len > cap) {
        throw new UsageError(
          `LEN ${formatBytes(len)} is more than ${formatBytes(cap)}, the most read writes${raw || output !== undefined ? '' : ' as a hexdump (use --raw or -o FILE)'}; for a big span use export --format raw --start/--end (sparse)`,
        );
      }
      const want = parsePid(opts.pid);
      if (raw) refuseBinaryToTerminal(toStdout ? 'read -o -' : 'read --raw');
      if (output !== undefined) checkOutput(output);
      const zero = opts.zero === true;
      const salvage = opts.salvage === true;
      const stack = await openTarget(dir, { parent: opts.parent, releasedAsZeros: zero, salvage });
      try {
        // --zero: pages dedup released (for another child) read as the zeros they read back as
        for (const r of zero ? stack.released : []) {
          cliStreams().stderr(
            `warning: ${r.name} was deduplicated under ${r.under}: pages it released for that child read as zeros here\n`,
          );
        }
        const pid = await stack.pickPid(want);
        const mem = await stack.process(pid);
        // --salvage: pages lost with a cut-short pages file are marked (stderr) and read as zeros;
        // the rest of the range must be readable as without it
        const lost = salvage ? lostRuns(stack, mem, addr, len) : [];
        if (!zero) {
          let cur = addr;
          for (const r of [...lost, { start: addr + len, end: addr + len, reason: '' }]) {
            if (r.start > cur) await assertReadable(mem, cur, r.start - cur, dir);
            cur = Math.max(cur, r.end);
          }
        }
        for (const r of lost) {
          cliStreams().stderr(
            `unreadable: ${hexAddr(r.start)}-${hexAddr(r.end)} (${(r.end - r.start) / PAGE_SIZE} pages, shown as zeros): ${r.reason}\n`,
          );
        }
        const zeros = zero || lost.length > 0;
        // export's copy loop (big positioned reads and writes); pages salvage marked lost are
        // read as zeros by the page loop below instead
        if (output !== undefined && lost.length === 0) await copyToFile(stack, pid, addr, len, output);
        else if (output !== undefined)
          await readToFile(
            mem,
            addr,
            len,
            zeros,
            output,
            stack.layers.map((l) => l.source),
          );
        else await readToStdout(mem, addr, len, zeros, raw);
        if (salvage) printSalvage(stack);
      } finally {
        await stack.close();
      }
    });
}

/** Start of the kernel's half of the x86-64 address space (where [vsyscall] lives). */
const KERNEL_HALF = 0xffff800000000000n;

/**
 * `maps` lists [vsyscall] (0xffffffffff600000), but CRIU never dumps it (its page is the kernel's,
 * the same in every process): an address there is answered as such, not as a usage error.
 */
function refuseKernelAddress(dir: string, text: string): void {
  const a = parseAddressBig(text);
  if (a === null || a < KERNEL_HALF) return;
  const vsyscall = a >= 0xffffffffff600000n && a < 0xffffffffff601000n;
  throw new StackError(
    `${dir}: ${text}: ${vsyscall ? 'in the [vsyscall] VMA, which' : 'in the kernel half of the address space, which'} CRIU never dumps (the kernel provides it at restore): the images hold no bytes there`,
    'PAGESTACK_MEMORY_NOT_DUMPED',
    { file: dir },
  );
}

function checkOutput(path: string): void {
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync(path);
  } catch {
    // a new file
  }
  if (st?.isDirectory()) throw new UsageError(`${path}: is a directory, expected the file to write`);
}

async function readToStdout(
  mem: ProcessMemory,
  addr: number,
  len: number,
  zero: boolean,
  raw: boolean,
): Promise<void> {
  const width = hexdumpWidth(addr, len);
  for (let off = 0; off < len; off += READ_CHUNK) {
    const n = Math.min(READ_CHUNK, len - off);
    const bytes = await mem.read(addr + off, n, { zero });
    await writeStdout(raw ? bytes : hexdumpBytes(bytes, addr + off, width));
  }
}

/**
 * Raw bytes to `path` by export's copy loop (src/ops/export-raw.ts over src/engine/copy.ts: big
 * positioned reads and writes, written beside and renamed into place): byte k of the file is the
 * byte at `addr + k`. The file is sparse: memory the images do not hold (reachable only with
 * --zero, after assertReadable) is a hole. A progress bar on a terminal, as export's.
 */
async function copyToFile(stack: Stack, pid: number, addr: number, len: number, path: string): Promise<void> {
  await exportRaw(stack, path, {
    pid,
    start: addr,
    end: addr + len,
    // LEN is capped above (MAX_READ_LEN); export's own span guard says the same in other words
    force: true,
    progress: cliProgress(),
  });
}

/**
 * Raw bytes to `path`, page by page (used when salvage marked pages lost: those read as zeros),
 * written beside it and renamed into place. The file is sparse: pages that
 * read as zeros (not mapped, or zeros with --zero, or dumped zeros) are holes, never written.
 */
async function readToFile(
  mem: ProcessMemory,
  addr: number,
  len: number,
  zero: boolean,
  path: string,
  inputs: readonly InputPath[],
): Promise<void> {
  const out = await AtomicFile.create(path, { inputs });
  try {
    for (let off = 0; off < len; off += READ_CHUNK) {
      const n = Math.min(READ_CHUNK, len - off);
      const s = addr + off;
      // outside every VMA: zeros (only reachable with --zero), a hole without reading
      if (!mem.vmas.some((v) => v.start < s + n && s < v.end)) continue;
      const bytes = await mem.read(s, n, { zero });
      for (let p = 0; p < n; p += PAGE_SIZE) {
        const q = Math.min(n, p + PAGE_SIZE);
        let nonzero = false;
        for (let i = p; i < q; i++) {
          if (bytes[i] !== 0) {
            nonzero = true;
            break;
          }
        }
        if (nonzero) await out.write(bytes.subarray(p, q), q - p, off + p);
      }
    }
    await out.fh.truncate(len);
  } catch (e) {
    await out.abort();
    throw e instanceof PagestackError ? e : outputError(path, e);
  }
  await out.commit();
}

const hexAddr = (n: number): string => `0x${n.toString(16)}`;

/**
 * The lost runs (salvage) of the process's private memory within [addr, addr + len), page-aligned,
 * in order: pages a damaged pages file lost where the stack resolves to them (no newer layer holds
 * them; they resolve as held without bytes).
 */
function lostRuns(
  stack: Stack,
  mem: ProcessMemory,
  addr: number,
  len: number,
): { start: number; end: number; reason: string }[] {
  const out: { start: number; end: number; reason: string }[] = [];
  const x = mem.private.extents;
  const first = Math.floor(addr / PAGE_SIZE);
  const last = Math.ceil((addr + len) / PAGE_SIZE);
  for (const d of stack.damage) {
    if (d.pagemap !== `pagemap-${mem.pid}.img`) continue;
    for (const [a, n] of d.lost) {
      const s = Math.max(a / PAGE_SIZE, first);
      const e = Math.min(a / PAGE_SIZE + n, last);
      for (let i = findExtent(x, s); i < x.count && x.start[i]! < e; i++) {
        if (x.layer[i] !== LAZY) continue;
        const rs = Math.max(s, x.start[i]!);
        const re = Math.min(e, x.end[i]!);
        if (rs < re) out.push({ start: rs * PAGE_SIZE, end: re * PAGE_SIZE, reason: d.reason });
      }
    }
  }
  return out.sort((p, q) => p.start - q.start);
}
