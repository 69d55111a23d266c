/**
 * Live podman (issue 9's acceptance): podman checkpoint archives of a container running `series`
 * become an incremental stack (`delta` step0 -> step1 -> step2), the top of it is squashed back
 * into an archive (`squash --like`), and `podman container restore --import` of that archive
 * brings the container back: on SIGUSR2 its program checks all its patterned memory and must log
 * `series verify step 2 pid 1 bad_words 0`.
 *
 * Twice:
 * - the fixture archives of test/fixtures/archives (dumped on another machine). Their program is
 *   static (no libc picking instructions for the dumping CPU, which breaks restores of dynamic
 *   programs dumped elsewhere), and their restore works here, but podman needs two things of the
 *   host that made them: the image by its ID (config.dump's rootfsImageID, the digest of an image
 *   config written at import time, which cannot be made again) and that host's podman paths
 *   (/opt/podman-work/... in config.dump and spec.dump: static dir, conmon pid file, log).
 *   So the `--like` template is step2.tar with those two replaced by this host's (a copy, built
 *   here); the images in the restored archive are pagestack's, from the unchanged fixtures. The
 *   image's /series is built from test/fixtures/criu-4.2/prog/series.c exactly as the fixture's
 *   was (gcc -O2 -static -pthread; CRIU checks the mapped file), which gives the same bytes when
 *   the compiler is the same: otherwise this case skips, naming the digests.
 * - fresh checkpoints made here (podman run, checkpoint --export --leave-running at each step),
 *   with nothing replaced: the archive podman wrote is the template as it is.
 *
 * The image is built in the test: a root fs of /series and empty dirs, `podman import`ed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { Archive } from '../src/source/archive/index.js';
import { cli } from './helpers/cli.js';
import { FIX, ROOT } from './helpers/fixtures.js';
import { assertVerifies } from './helpers/live-criu.js';
import { PodmanSession, SKIP_PODMAN } from './helpers/podman.js';
import { makeTar, type TarEntry } from './helpers/tar.js';

const ARCH = join(ROOT, 'test', 'fixtures', 'archives');
const IMAGE = 'localhost/pagestack-series:1';
/** sha256 of /series in the image the fixture archives were dumped from (their README). */
const FIXTURE_SERIES_SHA256 = 'df49b2abb36b654923b98cf35712c15b369410b87184894385b8815077d9073f';
/** What the fixture archives' podman config knows of the host that made them. */
const FIXTURE_IMAGE_ID = '42ad6b06262dd7962a34d9a2bebeab761612190351a7bb3943565aaa7070108a';
const FIXTURE_PODMAN_ROOT = '/opt/podman-work';

let pod!: PodmanSession;
let cleanup: (() => Promise<void>) | null = null;
let imageId = '';
let seriesSha = '';

/** Builds the static series and imports a root fs holding it as IMAGE; returns the image id. */
async function buildImage(p: PodmanSession): Promise<string> {
  const exe = join(p.dir, 'series');
  const r = spawnSync(
    'gcc',
    ['-O2', '-Wall', '-Wextra', '-static', '-pthread', '-o', exe, join(FIX, 'prog', 'series.c')],
    { encoding: 'utf8', env: { PATH: '/usr/local/bin:/usr/bin:/bin' } },
  );
  if (r.status !== 0) throw new Error(`gcc -static series.c: ${(r.stderr || r.error?.message || '').trim()}`);
  const bin = readFileSync(exe);
  seriesSha = createHash('sha256').update(bin).digest('hex');
  const dirs: TarEntry[] = ['./', 'dev/', 'etc/', 'proc/', 'sys/'].map((name) => ({ name, type: '5' }));
  const rootfs = makeTar([
    ...dirs,
    { name: 'tmp/', type: '5', mode: 0o1777 },
    { name: 'series', data: bin, mode: 0o755 },
  ]);
  const tar = join(p.dir, 'rootfs.tar');
  writeFileSync(tar, rootfs);
  await p.ok(['import', '-q', '--change', 'CMD ["/series","/tmp"]', tar, IMAGE]);
  return (await p.ok(['image', 'inspect', '--format', '{{.Id}}', IMAGE])).trim();
}

/**
 * A copy of a fixture archive whose config.dump and spec.dump name this host's image id and
 * podman root instead of the dumping host's; every other member as it is, in the same order.
 */
async function localize(src: string, out: string): Promise<void> {
  const a = await Archive.open(src);
  try {
    const entries: TarEntry[] = [];
    for (const m of a.index.members) {
      const base = { mode: m.mode, mtime: m.mtime };
      if (m.type === 'dir') entries.push({ name: `${m.name}/`, type: '5', ...base });
      else if (m.type === 'file') {
        let data: Uint8Array | string = (await a.readMember(m.name))!;
        if (m.name === 'config.dump' || m.name === 'spec.dump') {
          const text = Buffer.from(data).toString('utf8');
          assert.ok(text.includes(FIXTURE_PODMAN_ROOT), `${src}: ${m.name} names no ${FIXTURE_PODMAN_ROOT}`);
          data = text.replaceAll(FIXTURE_IMAGE_ID, imageId).replaceAll(FIXTURE_PODMAN_ROOT, pod.dir);
        }
        entries.push({ name: m.name, data, ...base });
      } else throw new Error(`${src}: unexpected ${m.type} member ${m.name}`);
    }
    writeFileSync(out, makeTar(entries));
  } finally {
    a.release();
  }
}

/** delta s0 -> s1 -> s2 into DIR/1, DIR/2; squash DIR/2 --like LIKE into OUT; verify it. */
async function roundTrip(dir: string, s0: string, s1: string, s2: string, like: string, out: string) {
  mkdirSync(dir);
  const d1 = await cli(['delta', s0, s1, '-o', join(dir, '1')]);
  assert.equal(d1.code, 0, d1.err);
  const d2 = await cli(['delta', join(dir, '1'), s2, '-o', join(dir, '2')]);
  assert.equal(d2.code, 0, d2.err);
  // each layer is incremental: most of the ~593 pages are taken from below
  for (const d of [d1, d2]) {
    const kept = Number(/(\d+) pages kept/.exec(d.out)?.[1]);
    assert.ok(kept > 0 && kept < 200, d.out);
  }
  const show = await cli(['show', join(dir, '2')]);
  assert.match(show.out, /3 layers/, show.out);
  const sq = await cli(['squash', join(dir, '2'), '-o', out, '--like', like]);
  assert.equal(sq.code, 0, sq.err);
  // every page of the last dump, present
  const s2pages = (JSON.parse((await cli(['show', s2, '--json'])).out) as { totals: { dumpedPages: number } })
    .totals.dumpedPages;
  assert.match(sq.out, new RegExp(`3 of 3 layers merged; ${s2pages} pages present`), sq.out);
  await assertVerifies(out);
}

/** Restores OUT as container NAME; returns the program's own verify line after SIGUSR2. */
async function restoreAndVerify(archive: string, name: string): Promise<string> {
  const r = await pod.run(['container', 'restore', '--import', archive, '--name', name]);
  assert.equal(r.code, 0, `podman container restore --import ${archive}:\n${r.err}${r.out}`);
  const state = (await pod.ok(['inspect', '--format', '{{.State.Status}} {{.State.Restored}}', name])).trim();
  assert.equal(state, 'running true', `restored ${name}`);
  await pod.ok(['kill', '--signal', 'USR2', name]);
  const line = await pod.waitLog(name, /^series verify /);
  await pod.ok(['rm', '-f', '-t', '0', name]);
  return line;
}

describe('podman: archives -> delta stack -> squash --like -> podman restore', { skip: SKIP_PODMAN }, () => {
  before(async () => {
    pod = new PodmanSession();
    cleanup = () => pod.cleanup();
    imageId = await buildImage(pod);
  });
  after(() => cleanup?.());

  test('the fixture archives (template localized to this host)', async (t: TestContext) => {
    if (seriesSha !== FIXTURE_SERIES_SHA256) {
      t.skip(
        `gcc here builds series ${seriesSha.slice(0, 12)}, the fixtures ran ${FIXTURE_SERIES_SHA256.slice(0, 12)}`,
      );
      return;
    }
    const like = join(pod.dir, 'like-step2.tar');
    await localize(join(ARCH, 'podman-series-step2.tar'), like);
    const out = join(pod.dir, 'fixture-restore.tar.zst');
    await roundTrip(
      join(pod.dir, 'fixture-stack'),
      join(ARCH, 'podman-series-step0.tar'),
      join(ARCH, 'podman-series-step1.tar'),
      join(ARCH, 'podman-series-step2.tar'),
      like,
      out,
    );
    const line = await restoreAndVerify(out, 'psfix');
    t.diagnostic(`restored from the fixture stack: ${line}`);
    assert.match(line, /series verify step 2 pid 1 bad_words 0$/, line);
  });

  test('fresh checkpoints made here (template as podman wrote it)', async (t: TestContext) => {
    await pod.ok(['run', '-d', '--name', 'pslive', '--network', 'none', IMAGE, '/series', '/tmp']);
    const archives: string[] = [];
    for (let step = 0; step <= 2; step++) {
      await pod.waitLog('pslive', new RegExp(`^series step ${step} pid 1$`));
      // the last one compressed: delta reads a zstd archive too
      const a = join(pod.dir, `live-step${step}.tar${step === 2 ? '.zst' : ''}`);
      const t0 = Math.floor(Date.now() / 1000) * 1000; // tar times are whole seconds
      await pod.ok([
        'container',
        'checkpoint',
        '--leave-running',
        '--export',
        a,
        '--compress',
        step === 2 ? 'zstd' : 'none',
        'pslive',
      ]);
      const t1 = Date.now();
      archives.push(a);
      // inspect's checkpoint time of a real podman archive: stats-dump's (podman exports none)
      const ins = await cli(['inspect', a, '--json']);
      assert.equal(ins.code, 0, ins.err);
      const c = (JSON.parse(ins.out) as { container: { checkpointed: string; checkpointedSource: string } })
        .container;
      assert.equal(c.checkpointedSource, 'stats-dump');
      const at = Date.parse(c.checkpointed);
      assert.ok(at >= t0 && at <= t1, `checkpointed ${c.checkpointed}, checkpoint ran ${t0}..${t1}`);
      if (step < 2) await pod.ok(['kill', '--signal', 'USR1', 'pslive']);
    }
    await pod.ok(['rm', '-f', '-t', '0', 'pslive']);
    const out = join(pod.dir, 'live-restore.tar');
    await roundTrip(join(pod.dir, 'live-stack'), archives[0]!, archives[1]!, archives[2]!, archives[2]!, out);
    const line = await restoreAndVerify(out, 'pslive-r');
    t.diagnostic(`restored from the fresh stack: ${line}`);
    assert.match(line, /series verify step 2 pid 1 bad_words 0$/, line);
  });
});
