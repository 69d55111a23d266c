/**
 * CLI bad input and misuse found in review: each case fails cleanly (one line, exit 1 or 2) or,
 * for dedup branches, refuses rather than breaking another layer. Runs on copies of the fixtures.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type CliRun, cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';

const FIX = join(import.meta.dirname, 'fixtures', 'criu-4.2');
const tmp = testDir('cli-errors');
let seq = 0;

/** A fresh copy of fixture `name` (a directory under fixtures/criu-4.2). */
function copy(name: string): string {
  const dst = join(tmp, `${seq++}-${name.replace(/\//g, '-')}`);
  cpSync(join(FIX, name), dst, { recursive: true, verbatimSymlinks: true });
  return dst;
}

/** The run failed cleanly: status, one line on stderr, every `parts` in it, no trace. */
function assertOneLine(r: CliRun, code: number, ...parts: (string | RegExp)[]): void {
  assert.equal(r.code, code, `exit status (stderr: ${r.err})`);
  assert.match(r.err, /^pagestack: [^\n]+\n$/, `exactly one line on stderr, got ${JSON.stringify(r.err)}`);
  assert.doesNotMatch(r.err, /\bat .*:\d+:\d+|internal error/, 'no stack trace');
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(r.err.includes(p), `${JSON.stringify(r.err)} should mention ${p}`);
    else assert.match(r.err, p);
  }
}

describe('dedup and branches outside the stack', () => {
  test('dedup of a stack with a branch elsewhere: verify of the branch reports the damage', async () => {
    const s = copy('series-stack');
    const elsewhere = join(tmp, `${seq++}-elsewhere`);
    mkdirSync(elsewhere);
    const b2 = join(elsewhere, 'b2');
    assert.equal((await cli(['delta', join(s, '1'), join(FIX, 'series', '2'), '-o', b2])).code, 0);
    assert.equal((await cli(['verify', b2])).code, 0, 'the branch is fine before');
    // dedup cannot find a branch outside the stack's directories; verify of it must not say ok
    assert.equal((await cli(['dedup', join(s, '3')])).code, 0);
    const v = await cli(['verify', b2]);
    assert.equal(v.code, 1, v.out + v.err);
    assert.match(v.out + v.err, /deduplicated under another child/);
    assert.equal((await cli(['verify', join(s, '3')])).code, 0, 'the stack it was deduplicated for is fine');
  });
});

describe('output directories inside an input layer', () => {
  test('delta, squash and lazy-images refuse an output inside a layer, and write nothing', async () => {
    const st = copy('series-stack');
    const single = copy('single');
    const cases: [string[], string][] = [
      [['delta', join(st, '1'), join(FIX, 'series', '2'), '-o', join(st, '1', 'sub')], join(st, '1', 'sub')],
      [['squash', join(st, '3'), '-o', join(st, '2', 'sq')], join(st, '2', 'sq')],
      [['lazy-images', single, '-o', join(single, 'R')], join(single, 'R')],
    ];
    for (const [args, out] of cases) {
      assertOneLine(await cli(args), 1, out, 'inside the image directory');
      assert.equal(existsSync(out), false, `${out} not written`);
    }
    assert.equal((await cli(['verify', join(st, '3')])).code, 0);
    assert.equal((await cli(['verify', single])).code, 0);
  });
});
