/**
 * Start-up cost is module loading: a command must load only what it runs. Each case runs the CLI
 * from source as a process, records every module it resolves (test/helpers/trace-imports.mjs) and
 * checks that nothing it has no use for was loaded: `show DIR` never loads the archive readers, the
 * explorer, the page server or the object-store clients; `--version` loads no command at all.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { testDir } from './helpers/files.js';
import { FIX } from './helpers/fixtures.js';

const ROOT = join(import.meta.dirname, '..');

/** The module URLs `pagestack ARGS` resolves (run from source through tsx). */
function importsOf(args: string[]): string[] {
  const out = join(testDir('startup-imports'), `trace-${args[0]}.txt`);
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      join(ROOT, 'test/helpers/trace-imports.mjs'),
      join(ROOT, 'src/cli/main.ts'),
      ...args,
    ],
    { env: { ...process.env, PAGESTACK_TRACE_IMPORTS: out }, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(out, 'utf8').split('\n').filter(Boolean);
}

/** Modules a command that only reads local image directories never needs. */
const HEAVY = [
  /\/src\/source\/archive\/(?!format|tar|errors)/, // detection reads 512 bytes; decoding loads only for an archive
  /\/src\/server\//,
  /\/src\/engine\/lock\.ts$/, // the writers' lock (node:net): only commands that write
  // the URL parsers that tell a target kind (oci/ref, s3/object-store) and the --tls-verify flag are small and load no client
  /\/src\/source\/(s3\/(?!object-store\.ts)|store\/|oci\/(?!settings\.ts|ref\.ts))/,
  /@aws-sdk|@smithy|zstd-napi|lzma-native|unbzip2-stream|playwright/,
  /\/src\/cli\/(?!main|show|errors|io|format|options|examples|salvage)[^/]+\.ts$/,
];

test('show DIR loads neither archives, servers, store clients nor other commands', () => {
  const urls = importsOf(['show', join(FIX, 'series-stack/3')]);
  assert.ok(
    urls.some((u) => u.endsWith('/src/cli/show.ts')),
    'the trace sees the command itself',
  );
  for (const re of HEAVY) {
    const hit = urls.find((u) => re.test(u));
    assert.equal(hit, undefined, `show loaded ${hit}`);
  }
});

test('--version loads no command and no op', () => {
  const urls = importsOf(['--version']);
  const hit = urls.find((u) =>
    /\/src\/(ops|stack|image|server)\/|\/src\/source\/(?!oci\/settings)|\/src\/cli\/(?!main|errors|io|examples)/.test(
      u,
    ),
  );
  assert.equal(hit, undefined, `--version loaded ${hit}`);
});
