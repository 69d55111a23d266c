/**
 * The load acceptance of issue 8 with real CRIU: 20 `criu dump --page-server` sessions of the
 * running `series` program in a row into one stack through pagestack's page server (state 0 for
 * dump 1, step 1 for dumps 2-10, step 2 for dumps 11-20), each layer completed by add-images; then
 * the first, a middle and the last layer are restored with CRIU (each in a pid namespace of its own)
 * and the restored process verifies its memory at the step of that dump. The other layers are
 * checked by `verify` (restoring all 20 would take too long for the test budget; each restore
 * reads the same stack code paths).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { addImages } from '../src/ops/add-images.js';
import { layerNumbers } from '../src/server/ingest.js';
import { PageServer, type SessionResult } from '../src/server/page-server.js';
import { assertVerifies, LiveSession, requireLive, SKIP_LIVE } from './helpers/live-criu.js';
import { logTail, pageServerDump } from './helpers/pageserver-live.js';

const live = new LiveSession('ps-load');

test('live: 20 dumps of series in a row through page-server -> 20 layers; layers 1, 10 and 20 restore and verify', {
  skip: SKIP_LIVE,
  timeout: 300_000,
}, async (t) => {
  const { criu } = requireLive();
  const { markers, pids } = await live.start('series', ['series.step0']);
  const pid = pids.get('series.step0')!;
  const stack = join(live.dir, 'stack');
  const server = await PageServer.start({ stack, port: 0 });
  const results: SessionResult[] = [];
  server.onSession((r) => results.push(r));
  try {
    for (let i = 1; i <= 20; i++) {
      const d = join(live.dir, 'dumps', String(i));
      mkdirSync(d, { recursive: true });
      const log = join(d, 'dump.log');
      const r = await pageServerDump(criu, pid, d, String(server.port), live.dir, [], log);
      assert.equal(r.code, 0, `dump ${i}:\n${logTail(log)}`);
      while (results.length < i) await new Promise((ok) => setTimeout(ok, 10));
      assert.equal(results[i - 1]!.ok, true, results[i - 1]!.error);
      await addImages({ layer: join(stack, String(i)), from: d });
      if (i === 1 || i === 10) {
        live.signal(pid, 'SIGUSR1');
        await live.waitMarker(markers, i === 1 ? 'series.step1' : 'series.step2');
      }
    }
  } finally {
    await server.close();
  }
  assert.deepEqual(
    layerNumbers(readdirSync(stack)),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.deepEqual(readdirSync(stack).length, 20); // no temp dirs
  // layers 2-20 keep only what changed (the stack of the program's few changing pages)
  for (const r of results.slice(1)) {
    const s = r.stats!;
    assert.ok(s.pagesShared > s.pagesReceived * 0.7, `${s.layer}: ${s.pagesKept} kept of ${s.pagesReceived}`);
  }
  t.diagnostic(`kept per layer: ${results.map((r) => r.stats!.pagesKept).join(' ')}`);
  await assertVerifies(join(stack, '20'));
  for (const [layer, step] of [
    [1, 0],
    [10, 1],
    [20, 2],
  ] as const) {
    const dir = join(stack, String(layer));
    const r = await live.restore(dir);
    try {
      assert.ok(r.ok, `criu restore -D ${dir} failed (exit ${r.code}): ${r.output}\n${r.log}`);
      const host = r.pids.get(pid);
      assert.ok(host, `restored ${dir}, but no pid ${pid} in its namespace`);
      const v = await live.verifyProcess(host, markers, 'series.verified');
      t.diagnostic(`layer ${layer}: restored process says "${v.line}"`);
      assert.equal(v.step, step, v.line);
      assert.equal(v.badWords, 0, v.line);
    } finally {
      await r.kill();
    }
  }
});
