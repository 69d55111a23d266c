/**
 * `pagestack restore` without a live CRIU: finding CRIU (none, too old, not a CRIU) is one line
 * and exit 1; wrong arguments exit 2; a missing target exit 1; nothing is left in TMPDIR.
 */
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RestoreError } from '../src/errors.js';
import { findCriu } from '../src/ops/restore.js';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { FIX } from './helpers/fixtures.js';

const dir = testDir('restore');
const STACK = join(FIX, 'series-stack', '3');

function fakeCriu(name: string, version: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\necho "${version}"\n`);
  chmodSync(p, 0o755);
  return p;
}

async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('findCriu: PAGESTACK_CRIU missing, too old, not a CRIU: one clear line each (PAGESTACK_NO_CRIU)', () => {
  const cases: [NodeJS.ProcessEnv, RegExp][] = [
    [{ PAGESTACK_CRIU: join(dir, 'nope'), PATH: '' }, /^PAGESTACK_CRIU=.*\/nope: no such program$/],
    [
      { PAGESTACK_CRIU: fakeCriu('old', 'Version: 3.17'), PATH: '' },
      /\/old: CRIU 3\.17; restore needs CRIU 4\.0 or newer$/,
    ],
    [
      { PAGESTACK_CRIU: fakeCriu('other', 'hello'), PATH: '' },
      /\/other: --version did not print a CRIU version \(hello\)$/,
    ],
  ];
  for (const [env, re] of cases) {
    assert.throws(
      () => findCriu(env),
      (e: unknown) => e instanceof RestoreError && e.code === 'PAGESTACK_NO_CRIU' && re.test(e.message),
    );
  }
  assert.deepEqual(findCriu({ PAGESTACK_CRIU: fakeCriu('new', 'Version: 4.2'), PATH: '' }), {
    path: join(dir, 'new'),
    version: '4.2',
  });
});

test('restore CLI: no CRIU -> exit 1, one line, before anything is read or written', async () => {
  const tmp = join(dir, 'tmp1');
  await import('node:fs').then((fs) => fs.mkdirSync(tmp));
  const r = await withEnv({ PAGESTACK_CRIU: fakeCriu('old2', 'Version: 3.19'), TMPDIR: tmp }, () =>
    cli(['restore', STACK, '--lazy']),
  );
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.match(r.err, /^pagestack: .*\/old2: CRIU 3\.19; restore needs CRIU 4\.0 or newer\n$/);
  assert.deepEqual(readdirSync(tmp), []);
});

test('restore CLI: wrong arguments exit 2; a missing target exits 1 and leaves no temporary directory', async () => {
  const criu = fakeCriu('ok', 'Version: 4.2');
  const tmp = join(dir, 'tmp2');
  await import('node:fs').then((fs) => fs.mkdirSync(tmp));
  await withEnv({ PAGESTACK_CRIU: criu, TMPDIR: tmp }, async () => {
    const usage: [string[], RegExp][] = [
      [['restore', STACK, '--no-prefetch'], /--no-prefetch goes with --lazy/],
      [['restore', STACK, '--lazy', '--record-seconds', 'x'], /--record-seconds 'x': expected seconds >= 0/],
      [['restore', STACK, '-d'], /unknown option '-d'/],
      [['restore'], /missing required argument 'target'/],
    ];
    for (const [args, re] of usage) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, re);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
    }
    const r = await cli(['restore', join(dir, 'no-such-stack'), '--', '-d']);
    assert.equal(r.code, 1);
    assert.match(r.err, /^pagestack: .*no-such-stack: no such file or directory\n$/);
    assert.deepEqual(readdirSync(tmp), []);
  });
});
