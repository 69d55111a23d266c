/**
 * Live `pagestack restore` with real CRIU (>= 4.0, as root; skipped with one line without it,
 * failing in CI): three dumps of the running `series` program become a 3-layer stack (delta); it
 * is restored eagerly and lazily, from the directory stack and from a gzipped tar of it, each time
 * in a pid namespace of its own, and the restored process checks its memory (`bad_words 0` at step
 * 2). A lazy restore records the hot set beside the top layer; the next one prefetches it. Ctrl-C
 * (SIGINT) and SIGTERM in the middle of a lazy restore leave no temporary directory and no CRIU
 * process; a CRIU that fails is one line with its log's path, kept.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeHotSet, HOTSET_FILE } from '../src/stack/hotset.js';
import { cli } from './helpers/cli.js';
import { LiveSession, requireLive, SKIP_LIVE } from './helpers/live-criu.js';
import { type NsRestore, restoreInNamespace, seriesStack } from './helpers/restore-live.js';

const live = new LiveSession('restore');
const root = live.dir;
let pid = 0;
let markers = '';
let stack3 = '';
let archive = '';

async function pagestack(...args: string[]): Promise<string> {
  const r = await cli(args);
  assert.equal(r.code, 0, `pagestack ${args.join(' ')}: ${r.err}${r.out}`);
  return r.out.trim();
}

/** What restore left in a TMPDIR (tsx, which runs the CLI here, keeps its cache there). */
function leftIn(tmp: string): string[] {
  return readdirSync(tmp).filter((f) => !f.startsWith('tsx-'));
}

/** A fresh TMPDIR for one restore (to see that nothing is left in it). */
function tmpFor(name: string): string {
  const d = join(root, `tmp-${name}`);
  mkdirSync(d);
  return d;
}

function env(tmp: string): NodeJS.ProcessEnv {
  return { PAGESTACK_CRIU: requireLive().criu, TMPDIR: tmp };
}

/** Runs `pagestack restore ARGS` in a namespace; the restored series must verify at step 2. */
async function restoreAndVerify(t: TestContext, name: string, args: string[]): Promise<NsRestore> {
  const tmp = tmpFor(name);
  const r = restoreInNamespace([...args, '--', '-d'], env(tmp));
  try {
    const code = await Promise.race([r.done, sleep(90_000).then(() => 'timeout' as const)]);
    assert.equal(code, 0, `pagestack restore ${args.join(' ')}: exit ${code}\n${r.stdout}\n${r.stderr}`);
    const host = r.processes().get(pid)?.host;
    assert.ok(host, `no pid ${pid} in the namespace: ${JSON.stringify([...r.processes()])}`);
    const v = await live.verifyProcess(host, markers, 'series.verified');
    assert.equal(v.line, `pid ${pid} step 2 bad_words 0`);
    t.diagnostic(`${name}: ${v.line}; ${r.stdout.trim().replace(/\n/g, ' | ')}`);
    assert.deepEqual(leftIn(tmp), [], 'the temporary directory is gone');
    assert.deepEqual(
      [...r.processes().values()].map((p) => p.comm),
      ['series'],
      'only the restored process is left in the namespace',
    );
    return r;
  } finally {
    await r.kill();
  }
}

describe('live: pagestack restore', { skip: SKIP_LIVE }, () => {
  before(async () => {
    requireLive();
    ({ pid, markers, top: stack3 } = await seriesStack(live));
    await pagestack('squash', stack3, '-o', join(root, 'flat'));
    archive = join(root, 'flat.tar.gz');
    const tar = spawnSync('tar', ['-C', join(root, 'flat'), '-czf', archive, '.']);
    assert.equal(tar.status, 0, String(tar.stderr));
  });

  test('eager restore of a 3-layer directory stack', async (t) => {
    const r = await restoreAndVerify(t, 'eager', [stack3]);
    assert.match(
      r.stdout,
      /restored eagerly by CRIU 4\.\d+ \(3 layers\); [\d.]+ [KM]i?B read before the process ran \([\d,]+ pages present\); running after [\d.]+ s/,
    );
  });

  test('lazy restore of the stack records a hot set; the next one prefetches it', async (t) => {
    const r = await restoreAndVerify(t, 'lazy1', [stack3, '--lazy']);
    assert.match(
      r.stdout,
      /restored lazily by CRIU .* \(3 layers\); .* read before the process ran \(\d+ pages present, \d+ lazy\)/,
    );
    assert.match(
      r.stdout,
      /served lazily: \d+ pages in \d+ GETs \(\d+ from .*\/stack\/3, \d+ from .*\/stack\/2, \d+ from .*\/dumps\/1\)/,
    );
    assert.doesNotMatch(r.stdout, /hot set prefetched/);
    assert.match(r.stdout, /hot set recorded: \d+ fault pages .* -> .*\/stack\/3\/\.pagestack-hotset/);
    const hot = decodeHotSet(readFileSync(join(stack3, HOTSET_FILE)));
    assert.ok(hot.runs.length > 0);
    assert.ok(hot.runs.every((x) => x.pid === pid));
    // the hot set is not part of the image: verify and show do not see it
    assert.match(await pagestack('verify', stack3), /^ok: 3 layers/m);

    const r2 = await restoreAndVerify(t, 'lazy2', [stack3, '--lazy']);
    assert.match(r2.stdout, /hot set prefetched: \d+ pages in \d+ runs/);
    const r3 = await restoreAndVerify(t, 'lazy3', [
      stack3,
      '--lazy',
      '--no-prefetch',
      '--record-seconds',
      '0',
    ]);
    assert.doesNotMatch(r3.stdout, /hot set/);
  });

  test('eager and lazy restore of a gzipped tar of the stack', async (t) => {
    await restoreAndVerify(t, 'archive-eager', [archive]);
    const r = await restoreAndVerify(t, 'archive-lazy', [archive, '--lazy']);
    assert.match(r.stdout, /served lazily: \d+ pages/);
    assert.match(r.stdout, /hot set not recorded: .*an archive is read-only/);
  });

  for (const [sig, at, exit] of [
    ['SIGINT', 'criu lazy-pages started', 130],
    ['SIGINT', 'criu restore --lazy-pages started', 130],
    ['SIGTERM', 'criu restore --lazy-pages started', 143],
  ] as const) {
    test(`${sig} when "${at}": exit ${exit}, no temporary directory, no CRIU left`, async () => {
      const tmp = tmpFor(`${sig}-${at.replace(/\W+/g, '-')}`);
      const r = restoreInNamespace([stack3, '--lazy', '--record-seconds', '0', '--', '-d'], env(tmp));
      try {
        const until = Date.now() + 60_000;
        while (!r.stderr.includes(at) && r.code === null && Date.now() < until) await sleep(2);
        assert.ok(r.stderr.includes(at), `never saw "${at}":\n${r.stderr}`);
        const node = r.pagestackPid();
        assert.ok(node, 'pagestack is running');
        process.kill(node, sig);
        const code = await Promise.race([r.done, sleep(30_000).then(() => 'timeout' as const)]);
        assert.equal(code, exit, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, /^pagestack: .*: restore interrupted \(SIG(INT|TERM)\); cleaned up$/m);
        assert.deepEqual(leftIn(tmp), [], 'the temporary directory is gone');
        const left = [...r.processes().values()].filter((p) => p.comm === 'criu' || p.comm === 'node');
        assert.deepEqual(left, [], 'no CRIU or pagestack process is left');
      } finally {
        await r.kill();
      }
    });
  }

  test('CRIU failing: exit 1, one line with its exit status and the kept log', async () => {
    const tmp = tmpFor('fail');
    // an option criu restore does not know: CRIU itself fails (exit 1)
    const r = restoreInNamespace([stack3, '--', '-d', '--no-such-criu-option'], env(tmp));
    try {
      const code = await Promise.race([r.done, sleep(60_000).then(() => 'timeout' as const)]);
      assert.equal(code, 1, r.stderr);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('pagestack: '));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0]!,
        /criu restore failed \(exit 1\): .*; log: .*pagestack-restore-\w+-restore\.log$/,
      );
      assert.deepEqual(
        leftIn(tmp).filter((f) => !f.endsWith('.log')),
        [],
        'only logs are left',
      );
      // the kept log is named beside the (removed) temporary directory, in TMPDIR
      const log = /log: (\S+)$/.exec(lines[0]!)![1]!;
      assert.ok(log.startsWith(`${tmp}/pagestack-restore-`), log);
    } finally {
      await r.kill();
    }
  });
});
