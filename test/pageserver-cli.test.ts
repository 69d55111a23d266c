/**
 * `pagestack page-server` and `add-images` refuse bad arguments at start, in one line: exit 2 for
 * usage, 1 for a stack or address that cannot be used. Nothing listens on a bad start (a server
 * that started would keep these in-process runs from returning).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cli } from './helpers/cli.js';
import { FIX } from './helpers/fixtures.js';

const WORK = mkdtempSync(join(tmpdir(), 'pagestack-ps-cli-'));
after(() => rmSync(WORK, { recursive: true, force: true }));

function oneLine(err: string): string {
  const lines = err.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got: ${err}`);
  assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
  return lines[0]!;
}

test('page-server --lazy refuses a layer the stack does not have, at start', async () => {
  const stack = join(WORK, 'lazy-stack');
  await mkdir(join(stack, '1'), { recursive: true });
  const r = await cli(['page-server', stack, '--lazy', '--layer', '9', '--port', '0']);
  assert.equal(r.code, 1);
  assert.match(oneLine(r.err), /lazy-stack: no layer 9 \(layers: 1\)/);
  const empty = join(WORK, 'empty-stack');
  await mkdir(empty);
  const e = await cli(['page-server', empty, '--lazy', '--port', '0']);
  assert.equal(e.code, 1);
  assert.match(oneLine(e.err), /empty-stack: no layers to serve/);
  const none = await cli(['page-server', join(WORK, 'nowhere'), '--lazy', '--port', '0']);
  assert.equal(none.code, 1);
  assert.match(oneLine(none.err), /nowhere: cannot serve lazy pages: no such file or directory/);
});

test('page-server: --layer without --lazy, bad ports and timeouts are usage errors', async () => {
  const stack = join(WORK, 'recv');
  for (const [args, re] of [
    [['--layer', '1', '--port', '0'], /--layer goes with --lazy/],
    [['--port', '99999'], /--port '99999': expected a port number \(0 to 65535/],
    [['--port', 'http'], /--port 'http': expected a port number/],
    [['--port', '0', '--idle-timeout', '-3'], /--idle-timeout '-3': expected seconds > 0/],
    [['--port', '0', '--first-header-timeout', '0'], /--first-header-timeout '0': expected seconds > 0/],
    [['--port', '0', '--max-connections', '0'], /--max-connections '0': expected a whole number from 1/],
    [['--port', '0', '--answer-buffers', 'lots'], /--answer-buffers 'lots': expected a whole number/],
    [['--lazy', '--layer', 'x', '--port', '0'], /--layer 'x': expected a layer number/],
  ] as const) {
    const r = await cli(['page-server', stack, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(oneLine(r.err), re);
  }
  // the same rule as `ui --port`
  const ui = await cli(['ui', join(FIX, 'single'), '--port', '99999']);
  assert.equal(ui.code, 2);
  assert.match(oneLine(ui.err), /--port '99999': expected a port number \(0 to 65535/);
});

test('page-server: a stack path that is a file, an address not on this machine, a missing TLS file', async () => {
  const file = join(WORK, 'a-file');
  writeFileSync(file, 'x');
  const f = await cli(['page-server', file, '--port', '0']);
  assert.equal(f.code, 1);
  assert.match(oneLine(f.err), /a-file: cannot create the stack directory: /);
  const inFile = await cli(['page-server', join(file, 'sub'), '--port', '0']);
  assert.equal(inFile.code, 1);
  assert.match(oneLine(inFile.err), /a-file\/sub: cannot create the stack directory: not a directory/);
  // 192.0.2.1 (TEST-NET-1) is on no interface here: nothing is sent, bind fails at once
  const addr = await cli(['page-server', join(WORK, 's2'), '--port', '0', '--address', '192.0.2.1']);
  assert.equal(addr.code, 1);
  assert.match(oneLine(addr.err), /cannot listen on 192\.0\.2\.1 port 0: no such address on this machine/);
  const tls = await cli([
    'page-server',
    join(WORK, 's3'),
    '--port',
    '0',
    '--tls',
    '--tls-cacert',
    join(WORK, 'no-ca.pem'),
  ]);
  assert.equal(tls.code, 2);
  assert.match(oneLine(tls.err), /--tls-cacert .*no-ca\.pem: cannot read: no such file or directory/);
});

test('add-images names a missing layer directory in words', async () => {
  const r = await cli(['add-images', join(WORK, 'no-layer'), join(FIX, 'single')]);
  assert.equal(r.code, 1);
  assert.match(oneLine(r.err), /no-layer: cannot list the directory: no such file or directory/);
});
