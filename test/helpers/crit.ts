/** Running CRIU's crit (Debian's criu package: crit 3.17) from tests. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CRIT = '/usr/bin/crit';
export const HAVE_CRIT = existsSync(CRIT);
/** The `skip` option of crit tests: false, or why they are skipped. */
export const SKIP_CRIT: false | string = HAVE_CRIT
  ? false
  : `${CRIT} is not installed (Debian package criu, crit 3.17); CI installs it`;

export interface CritRun {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Runs crit with `args`; never rejects (a failure is `ok: false` with crit's stderr). */
export function runCrit(args: string[]): Promise<CritRun> {
  return new Promise((resolve) => {
    execFile(CRIT, args, { maxBuffer: 256 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ ok: !err, stdout, stderr: err && !stderr ? String(err) : stderr });
    });
  });
}

/** Asserts that crit ran and succeeded; returns its stdout. */
export function critOk(run: CritRun | undefined, what: string): string {
  assert.ok(run, `${what}: crit did not run`);
  assert.ok(run.ok, `${what} failed: ${run.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return run.stdout;
}
