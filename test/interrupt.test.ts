/**
 * Nothing left behind (issue 17, 4). Each writing command (export, export --sync, squash,
 * squash --like, delta -o, delta --in-place, encode -o, decode -o) runs as a process on a
 * generated 2-layer stack of 64 MiB and is interrupted at a random moment once its temporary
 * exists beside the output: by SIGINT or SIGTERM it must remove that temporary and exit 130 or
 * 143 (or have finished, exit 0); by SIGKILL it may leave it. Every time: the inputs are unchanged
 * and the output is complete (the bytes of an uninterrupted run) or absent. After the kills, one
 * more run of another command writing into the same directory removes every stale temporary,
 * whatever its destination. A compressed archive's `/tmp/pagestack-unpack-<pid>-*` directory
 * left by a SIGKILL is removed by the next run that unpacks.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateStack } from '../bench/gen.js';
import { cleanStale } from '../src/engine/output.js';
import { hashDir, testDir } from './helpers/files.js';
import { FIX, ROOT } from './helpers/fixtures.js';

const W = testDir('interrupt');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
/** Interrupted runs per command and signal. */
const ROUNDS = 1;
const TEMP_RE = /\.pagestack-(tmp|old)-\d+-[0-9a-f]+$/;

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Run {
  child: ChildProcess;
  err: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.stdin.end();
  child.stdout.resume();
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) =>
    child.on('close', (code, signal) => {
      children.delete(child);
      ok({ code, signal });
    }),
  );
  return { child, err: () => err, done };
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** The temporaries of pagestack's writers in `dir`. */
function temps(dir: string): string[] {
  return readdirSync(dir).filter((n) => TEMP_RE.test(n));
}

/** sha256 of a file, or of a directory's entries (hashDir); null when absent. */
function digest(path: string): string | null {
  if (!existsSync(path)) return null;
  if (lstatSync(path).isDirectory()) return JSON.stringify([...hashDir(path)]);
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

interface Mode {
  name: string;
  args: string[];
  /** The output (a file or a directory). */
  out: string;
  /** Puts the output's place back as before a run. */
  reset: () => void;
  /** What the output holds when no run finished (null: absent). */
  absent: () => string | null;
}

let stackDir = '';
let top = '';
let bottom = '';
let full = '';
let like = '';
let bigJson = '';
let bigImg = '';
/** Inputs and their digests, checked after every run. */
const inputs = new Map<string, string | null>();

before(async () => {
  stackDir = join(W, 'stack');
  mkdirSync(stackDir);
  const g = await generateStack(stackDir, {
    bytes: 64 << 20,
    layers: 2,
    dirtyMin: 0.2,
    dirtyMax: 0.3,
    seed: 17,
  });
  [bottom, top] = [g.dirs[0]!, g.dirs[1]!];
  // a full dump of the top's memory (CHILD for delta), and a big pagemap for decode and encode
  full = join(W, 'full');
  const sq = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'squash', top, '-o', full], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(sq.status, 0, sq.stderr);
  bigImg = join(top, `pagemap-${g.pid}.img`);
  bigJson = join(W, 'pagemap.json');
  const dj = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'decode', bigImg, '-o', bigJson], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(dj.status, 0, dj.stderr);
  // a model archive for squash --like: a tar of a small image directory
  like = join(W, 'like.tar');
  const t = spawnSync('tar', ['-cf', like, '-C', join(FIX, 'single'), '.'], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  for (const p of [bottom, top, full, bigJson, like]) inputs.set(p, digest(p));
});

function modes(): Mode[] {
  const fileMode = (name: string, args: (out: string) => string[], file: string): Mode => {
    const dir = join(W, `out-${name.replace(/[^a-z]+/g, '-')}`);
    mkdirSync(dir, { recursive: true });
    const out = join(dir, file);
    return {
      name,
      args: args(out),
      out,
      reset: () => rmSync(out, { recursive: true, force: true }),
      absent: () => null,
    };
  };
  const inPlaceDir = join(W, 'out-delta-in-place');
  mkdirSync(inPlaceDir, { recursive: true });
  const child = join(inPlaceDir, 'child');
  const original = digest(full);
  return [
    fileMode('export', (o) => ['export', top, '-o', o], 'core.elf'),
    fileMode('export --sync', (o) => ['export', top, '--sync', '-o', o], 'core.elf'),
    fileMode('squash', (o) => ['squash', top, '-o', o], 'flat'),
    fileMode('squash --like', (o) => ['squash', top, '-o', o, '--like', like], 'flat.tar'),
    fileMode('delta', (o) => ['delta', bottom, full, '-o', o], 'layer'),
    {
      name: 'delta --in-place',
      args: ['delta', bottom, child, '--in-place'],
      out: child,
      reset: () => {
        rmSync(child, { recursive: true, force: true });
        cpSync(full, child, { recursive: true });
      },
      absent: () => original,
    },
    fileMode('encode', (o) => ['encode', bigJson, '-o', o], 'pagemap.img'),
    fileMode('decode -o', (o) => ['decode', bigImg, '-o', o], 'pagemap.json'),
  ];
}

/** Starts `mode`, waits for its temporary to appear (or for it to end), waits a bit more, sends `sig`. */
async function interrupted(mode: Mode, dir: string, sig: NodeJS.Signals) {
  const run = start(mode.args);
  let ended = false;
  void run.done.then(() => {
    ended = true;
  });
  const t0 = Date.now();
  while (!ended && temps(dir).length === 0) {
    if (Date.now() - t0 > 120_000) assert.fail(`${mode.name}: no temporary appeared`);
    await sleep(2);
  }
  if (!ended) {
    await sleep(Math.random() * 150);
    run.child.kill(sig);
  }
  return { ...(await run.done), err: run.err() };
}

describe('interrupted writers leave nothing behind', () => {
  test('SIGINT and SIGTERM: temporaries removed, exit 130 / 143; SIGKILL: the next writer there cleans', async (t) => {
    const counts = { interrupted: 0, finished: 0, killed: 0 };
    for (const mode of modes()) {
      const dir = join(mode.out, '..');
      mode.reset();
      // an uninterrupted run: the output to compare with
      const ref = start(mode.args);
      const rr = await ref.done;
      assert.equal(rr.code, 0, `${mode.name}: ${ref.err()}`);
      const want = digest(mode.out);
      assert.notEqual(want, null);
      const check = async (what: string) => {
        // killed between the two renames of a replace: the next writer of CHILD puts it back
        if (mode.absent() !== null && !existsSync(mode.out)) await cleanStale(mode.out);
        for (const [p, d] of inputs) assert.equal(digest(p), d, `${what}: input ${p} changed`);
        const got = digest(mode.out);
        assert.ok(
          got === want || got === mode.absent(),
          `${what}: the output is neither complete nor absent`,
        );
      };
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGKILL'] as const) {
        for (let i = 0; i < ROUNDS; i++) {
          mode.reset();
          const r = await interrupted(mode, dir, sig);
          const what = `${mode.name}, ${sig} #${i}`;
          await check(what);
          if (r.code === 0) {
            counts.finished++;
            assert.equal(digest(mode.out), want, `${what}: finished, but the output differs`);
          } else if (sig !== 'SIGKILL' && r.signal === sig && digest(mode.out) === want) {
            // the signal came while node was exiting after the work (its handlers gone): done
            counts.finished++;
          } else if (sig === 'SIGKILL') {
            assert.equal(r.signal, 'SIGKILL', `${what}: ${r.err}`);
            counts.killed++;
          } else {
            assert.equal(
              r.code,
              sig === 'SIGINT' ? 130 : 143,
              `${what}: exit ${r.code} ${r.signal}: ${r.err}`,
            );
            assert.deepEqual(temps(dir), [], `${what}: temporaries left`);
            counts.interrupted++;
          }
          if (sig !== 'SIGKILL') assert.deepEqual(temps(dir), [], `${what}: temporaries left`);
        }
      }
      // what the SIGKILLed runs left goes with the next writer in that directory, whatever it
      // writes: here a decode of a small image to another name
      const other = start(['decode', join(FIX, 'single', 'pstree.img'), '-o', join(dir, 'other.json')]);
      assert.equal((await other.done).code, 0, other.err());
      assert.deepEqual(temps(dir), [], `${mode.name}: stale temporaries not cleaned by the next writer`);
      await check(`${mode.name}, after the kills`);
    }
    t.diagnostic(
      `${counts.interrupted} runs interrupted by SIGINT/SIGTERM (cleaned), ${counts.killed} SIGKILLed, ${counts.finished} finished first`,
    );
    assert.ok(counts.interrupted > 0, 'no run was interrupted');
  });

  test("a SIGKILLed unpack's /tmp/pagestack-unpack-<pid>-* is removed by the next run; SIGINT removes its own", async () => {
    // more than the 256 MiB kept in memory: a sparse 320 MiB stack compresses to almost nothing
    const sparse = join(W, 'sparse');
    mkdirSync(sparse);
    const g = await generateStack(sparse, { bytes: 320 << 20, layers: 1, sparse: true });
    const gz = join(W, 'big.tar.gz');
    const tr = spawnSync('tar', ['-czf', gz, '-C', g.dirs[0]!, '.'], { encoding: 'utf8' });
    assert.equal(tr.status, 0, tr.stderr);
    rmSync(sparse, { recursive: true, force: true });
    const unpackDirs = (pid: number) =>
      readdirSync(tmpdir()).filter((n) => n.startsWith(`pagestack-unpack-${pid}-`));
    for (const sig of ['SIGKILL', 'SIGINT'] as const) {
      const run = start(['show', gz]);
      const pid = run.child.pid!;
      const t0 = Date.now();
      while (unpackDirs(pid).length === 0 && run.child.exitCode === null) {
        if (Date.now() - t0 > 120_000) assert.fail('no unpack directory appeared');
        await sleep(2);
      }
      assert.equal(run.child.exitCode, null, `show ended before its unpack directory was seen: ${run.err()}`);
      run.child.kill(sig);
      const r = await run.done;
      if (sig === 'SIGINT') {
        assert.equal(r.code, 130, run.err());
        assert.deepEqual(unpackDirs(pid), []);
        continue;
      }
      assert.equal(r.signal, 'SIGKILL');
      const left = unpackDirs(pid);
      assert.equal(left.length, 1, 'a SIGKILL leaves the unpack directory');
      assert.ok(statSync(join(tmpdir(), left[0]!)).isDirectory());
      const next = start(['show', gz]);
      assert.equal((await next.done).code, 0, next.err());
      assert.deepEqual(unpackDirs(pid), [], 'the next unpack did not remove the stale directory');
      assert.deepEqual(unpackDirs(next.child.pid!), [], 'the run left its own directory');
    }
  });
});
