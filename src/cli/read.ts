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
import { writeFileAtomic } from '../engine/output.js';
import { UsageError } from '../errors.js';
import { openTarget } from '../source/open.js';
import type { ProcessMemory } from '../stack/process.js';
import { assertReadable } from '../stack/readable.js';
import { hexdumpBytes, hexdumpWidth } from './format.js';
import { writeStdout } from './io.js';
import { parentOption, parseAddress, parseNumber, parsePid } from './options.js';

/** Bytes read and written per step. A multiple of 16, so hexdump lines continue across chunks. */
export const READ_CHUNK = 1 << 20;

/** Largest address + length accepted (addresses above 2^53 are not exact in JS numbers). */
const MAX_END = Number.MAX_SAFE_INTEGER;

export function registerRead(program: Command): void {
  program
    .command('read')
    .description('read process memory through the stack: a hexdump (as xxd) or raw bytes')
    .argument('<dir>', 'image directory or checkpoint archive (the top layer of a stack)')
    .addOption(parentOption())
    .argument('<addr>', 'virtual address (0x... or decimal)')
    .argument('<len>', 'number of bytes (0x... or decimal, K/M/G suffixes allowed)')
    .option('--pid <pid>', 'process (needed when the images hold several)')
    .option('--raw', 'write the raw bytes to stdout instead of a hexdump')
    .option('-o, --output <file>', 'write the raw bytes to this file (written beside it, then renamed)')
    .option('--zero', 'read memory the images do not hold (not dumped, lazy, unmapped) as zeros')
    .action(async (dir, addrText, lenText, opts) => {
      const addr = parseAddress(addrText, 'ADDR');
      const len = parseNumber(lenText, 'LEN', true);
      if (addr + len > MAX_END)
        throw new UsageError(`ADDR + LEN is beyond 2^53, which pagestack cannot address`);
      if (opts.raw && opts.output !== undefined) {
        throw new UsageError('--raw and -o both choose raw output: give one of them');
      }
      const want = parsePid(opts.pid);
      if (opts.output !== undefined) checkOutput(opts.output);
      const stack = await openTarget(dir, { parent: opts.parent });
      try {
        const pid = await stack.pickPid(want);
        const mem = await stack.process(pid);
        const zero = opts.zero === true;
        if (!zero) await assertReadable(mem, addr, len, dir);
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
