/**
 * `pagestack read DIR [--pid N] ADDR LEN [--raw | -o FILE] [--zero]`: bytes of a process's memory,
 * read through the stack, as an `xxd`-style hexdump (addresses are the real virtual addresses) or
 * raw to stdout or a file. Memory the images do not hold (not dumped, lazy, unmapped) is an error
 * naming the first such address and why, unless --zero reads it as zeros.
 *
 * The whole range is checked before anything is written, then read and written in 1 MiB chunks,
 * so LEN is bounded by the address space, not by memory.
 */
import { once } from 'node:events';
import { statSync } from 'node:fs';
import type { Command } from '@commander-js/extra-typings';
import { openStackDir } from '../open.js';
import { MemoryAccessError } from '../stack/errors.js';
import type { ProcessMemory } from '../stack/process.js';
import { UsageError } from './errors.js';
import { hex0x, hexdumpBytes, hexdumpWidth, parseNumber, parsePid } from './format.js';
import { cliStreams, processStreams, writeFileAtomic } from './io.js';

/** Bytes read and written per step. A multiple of 16, so hexdump lines continue across chunks. */
export const READ_CHUNK = 1 << 20;

/** Largest address + length accepted (addresses above 2^53 are not exact in JS numbers). */
const MAX_END = Number.MAX_SAFE_INTEGER;

export function registerRead(program: Command): void {
  program
    .command('read')
    .description('read process memory through the stack: a hexdump (as xxd) or raw bytes')
    .argument('<dir>', 'image directory (the top layer of a stack)')
    .argument('<addr>', 'virtual address (0x... or decimal)')
    .argument('<len>', 'number of bytes (0x... or decimal, K/M/G suffixes allowed)')
    .option('--pid <pid>', 'process (needed when the images hold several)')
    .option('--raw', 'write the raw bytes to stdout instead of a hexdump')
    .option('-o, --output <file>', 'write the raw bytes to this file (written beside it, then renamed)')
    .option('--zero', 'read memory the images do not hold (not dumped, lazy, unmapped) as zeros')
    .action(async (dir, addrText, lenText, opts) => {
      const addr = parseNumber(addrText, 'ADDR');
      const len = parseNumber(lenText, 'LEN', true);
      if (addr + len > MAX_END)
        throw new UsageError(`ADDR + LEN is beyond 2^53, which pagestack cannot address`);
      if (opts.raw && opts.output !== undefined) {
        throw new UsageError('--raw and -o both choose raw output: give one of them');
      }
      const want = parsePid(opts.pid);
      if (opts.output !== undefined) checkOutput(opts.output);
      const stack = await openStackDir(dir);
      try {
        const pid = await stack.pickPid(want);
        const mem = await stack.process(pid);
        const zero = opts.zero === true;
        if (!zero) await checkReadable(mem, addr, len, dir);
        if (opts.output !== undefined) await readToFile(mem, addr, len, zero, opts.output);
        else await readToStdout(mem, addr, len, zero, opts.raw === true);
      } finally {
        await stack.close();
      }
    });
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

/**
 * The first address of [addr, addr+len) that cannot be read, or null. Walks the VMAs and the
 * resolved extents only (no bytes are read), so a bad range fails before any output.
 */
export function firstUnreadable(mem: ProcessMemory, addr: number, len: number): number | null {
  const end = addr + len;
  const probe = (m: ProcessMemory['private'], a: number, n: number): number | null => {
    try {
      m.planRead(a, n, {}, [], 0);
      return null;
    } catch (e) {
      if (e instanceof MemoryAccessError) return e.address;
      throw e;
    }
  };
  if (len === 0) return null;
  if (mem.vmas.length === 0) return probe(mem.private, addr, len);
  let cur = addr;
  while (cur < end) {
    const v = mem.vmaAt(cur);
    if (!v) return cur;
    const stop = Math.min(end, v.end);
    const shm = mem.shared.get(v);
    if (shm) {
      const objOff = cur - v.start + v.pgoff;
      const bad = probe(shm, objOff, stop - cur);
      if (bad !== null) return bad - objOff + cur;
    } else {
      const bad = probe(mem.private, cur, stop - cur);
      if (bad !== null) return bad;
    }
    cur = stop;
  }
  return null;
}

/** Throws the MemoryAccessError of the first unreadable address (with the directory named). */
async function checkReadable(mem: ProcessMemory, addr: number, len: number, dir: string): Promise<void> {
  const bad = firstUnreadable(mem, addr, len);
  if (bad === null) return;
  try {
    await mem.read(bad, 1);
  } catch (e) {
    if (e instanceof MemoryAccessError)
      throw new MemoryAccessError(e.reason, e.address, `${dir}: ${e.message}`);
    throw e;
  }
  throw new MemoryAccessError('not-dumped', bad, `${dir}: ${hex0x(bad)}: cannot be read`);
}

async function writeStdout(data: Uint8Array | string): Promise<void> {
  const s = cliStreams();
  if (s !== processStreams) {
    s.stdout(data);
    return;
  }
  if (!process.stdout.write(data)) await once(process.stdout, 'drain');
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

/** Raw bytes to `path`, written beside it and renamed into place. */
async function readToFile(
  mem: ProcessMemory,
  addr: number,
  len: number,
  zero: boolean,
  path: string,
): Promise<void> {
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let off = 0; off < len; off += READ_CHUNK) {
      yield await mem.read(addr + off, Math.min(READ_CHUNK, len - off), { zero });
    }
  }
  await writeFileAtomic(path, chunks());
}
