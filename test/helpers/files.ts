/** Temporary directories and file comparisons for tests. */
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/**
 * A fresh directory `pagestack-<name>-XXXXXX` under the system's temporary directory, removed with
 * everything in it after all the tests of the file that asks for it.
 */
export function testDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `pagestack-${name}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** name -> sha256 of every entry of a directory (symlinks by their text), in name order. */
export function hashDir(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    const st = lstatSync(p);
    const data = st.isSymbolicLink() ? Buffer.from(`link:${readlinkSync(p)}`) : readFileSync(p);
    m.set(f, createHash('sha256').update(data).digest('hex'));
  }
  return m;
}

/** Whether two files hold the same bytes. */
export function sameFileBytes(a: string, b: string): boolean {
  return readFileSync(a).equals(readFileSync(b));
}
