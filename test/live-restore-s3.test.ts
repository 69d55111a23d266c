/**
 * Live `pagestack restore s3://...` (real CRIU >= 4.0 as root, and Swift 2.30 + s3api on loopback,
 * test/helpers/swift.ts; skipped with one line without either, failing in CI): the 3-layer
 * `series` stack is pushed to the store, the local stack and dumps are removed, and the stored
 * stack is restored eagerly and lazily (pages served from the store while the process runs), each
 * in a pid namespace of its own; the restored process checks its memory (`bad_words 0` at step 2).
 * The lazy restore stores its hot set in the store (a side object of the layer); the next one
 * prefetches it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli } from './helpers/cli.js';
import { LiveSession, requireLive, SKIP_LIVE } from './helpers/live-criu.js';
import { restoreInNamespace, seriesStack } from './helpers/restore-live.js';
import { SKIP_SWIFT, type SwiftServer, swiftServer } from './helpers/swift.js';

const live = new LiveSession('restore-s3');
const root = live.dir;
const URL = 's3://pagestack-restore/stacks/series';
let pid = 0;
let markers = '';
let swift: SwiftServer;

async function restoreAndVerify(t: TestContext, name: string, args: string[]): Promise<string> {
  const tmp = join(root, `tmp-${name}`);
  mkdirSync(tmp);
  const r = restoreInNamespace([...args, '--', '-d'], {
    ...swift.env(),
    PAGESTACK_CRIU: requireLive().criu,
    TMPDIR: tmp,
  });
  try {
    const code = await Promise.race([r.done, sleep(120_000).then(() => 'timeout' as const)]);
    assert.equal(code, 0, `pagestack restore ${args.join(' ')}: exit ${code}\n${r.stdout}\n${r.stderr}`);
    const host = r.processes().get(pid)?.host;
    assert.ok(host, `no pid ${pid} in the namespace`);
    const v = await live.verifyProcess(host, markers, 'series.verified');
    assert.equal(v.line, `pid ${pid} step 2 bad_words 0`);
    t.diagnostic(`${name}: ${v.line}; ${r.stdout.trim().replace(/\n/g, ' | ')}`);
    assert.deepEqual(
      readdirSync(tmp).filter((f) => !f.startsWith('tsx-')),
      [],
      'the temporary directory is gone',
    );
    return r.stdout;
  } finally {
    await r.kill();
  }
}

describe('live: pagestack restore from the object store (Swift)', { skip: SKIP_LIVE || SKIP_SWIFT }, () => {
  before(async () => {
    requireLive();
    swift = await swiftServer();
    swift.useCredentials();
    const s = await seriesStack(live);
    pid = s.pid;
    markers = s.markers;
    const p = await cli(['push', s.top, URL]);
    assert.equal(p.code, 0, p.err);
    // nothing local: the restores read only the store
    rmSync(join(root, 'stack'), { recursive: true });
    rmSync(join(root, 'dumps'), { recursive: true });
  });

  test('eager restore of s3://.../series (3 stored layers)', async (t) => {
    const out = await restoreAndVerify(t, 'eager', [URL]);
    assert.match(out, /restored eagerly by CRIU .* \(3 layers\)/);
  });

  test('lazy restore of s3://.../series: memory served from the store while the process runs', async (t) => {
    const out = await restoreAndVerify(t, 'lazy', [URL, '--lazy']);
    assert.match(out, /restored lazily by CRIU .* \(3 layers\); .* \(\d+ pages present, \d+ lazy\)/);
    assert.match(out, /served lazily: \d+ pages in \d+ GETs \(.*s3:\/\/pagestack-restore\/stacks\/series/);
    // the hot set goes to the store, beside the layer (a side object), and the next restore reads it
    assert.match(
      out,
      /hot set recorded: \d+ fault pages .* -> s3:\/\/pagestack-restore\/stacks\/series@3 \(side object hotset\)/,
    );
    const again = await restoreAndVerify(t, 'lazy-hot', [URL, '--lazy']);
    assert.match(again, /hot set prefetched: \d+ pages in \d+ runs/);
  });
});
