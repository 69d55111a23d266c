/** Asking gdb about an ELF core from tests. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** gdb, when installed (Debian's gdb package; CI installs it). */
export const GDB = ['/usr/bin/gdb', '/usr/local/bin/gdb'].find((p) => existsSync(p)) ?? null;

/** Runs gdb in batch mode on `core` with the commands `cmds`; returns its stdout and stderr. */
export function gdbBatch(core: string, cmds: readonly string[]): string {
  if (!GDB) throw new Error('gdb is not installed');
  const args = ['-nx', '-batch', '-c', core];
  for (const c of cmds) args.push('-ex', c);
  const r = spawnSync(GDB, args, { encoding: 'utf8', timeout: 60_000 });
  return `${r.stdout}\n${r.stderr}`;
}

/** The 64-bit words gdb printed for `x/Ngx ADDR` commands, by address. */
export function gdbWords(out: string): Map<number, bigint> {
  const words = new Map<number, bigint>();
  for (const m of out.matchAll(/^0x([0-9a-f]+)(?: <[^>]*>)?:\s+(.*)$/gm)) {
    let a = Number.parseInt(m[1]!, 16);
    for (const w of m[2]!.trim().split(/\s+/)) {
      if (!/^0x[0-9a-f]+$/.test(w)) break;
      words.set(a, BigInt(w));
      a += 8;
    }
  }
  return words;
}
