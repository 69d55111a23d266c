/**
 * The engine's one atomic writer (src/engine/output.ts): every command that writes a file builds
 * it beside the destination as `.NAME.pagestack-tmp-<pid>-<rand>`, and the temporary files of
 * killed runs (their pid no longer runs) are removed by the next run of any writer of that name;
 * a running writer's are left alone.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AtomicFile, cleanStale, tempPath, writeFileAtomic } from '../src/engine/output.js';
import { OutputError } from '../src/errors.js';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { FIX, fixture } from './helpers/fixtures.js';

const tmp = testDir('output');
/** Above pid_max: no process has it, as after a SIGKILL. */
const DEAD = 999999999;

/** Plants what a killed writer of `dest` leaves, and one of this (running) process. */
function plant(dest: string): { dead: string; live: string } {
  const base = dest.slice(dest.lastIndexOf('/') + 1);
  const dir = dest.slice(0, dest.lastIndexOf('/'));
  const dead = join(dir, `.${base}.pagestack-tmp-${DEAD}-abcd1234`);
  const live = join(dir, `.${base}.pagestack-tmp-${process.pid}-0000beef`);
  writeFileSync(dead, 'half-written');
  writeFileSync(live, 'still being written');
  return { dead, live };
}

function temps(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.includes('.pagestack-tmp-'))
    .sort();
}

describe('atomic writer', () => {
  test('one temporary name scheme beside the destination, with the pid', () => {
    const p = tempPath(join(tmp, 'out.json'));
    assert.match(p, new RegExp(`/\\.out\\.json\\.pagestack-tmp-${process.pid}-[0-9a-f]{8}$`));
  });

  test('cleanStale removes a dead writer’s temporary file, not a running one’s', async () => {
    const dest = join(tmp, 'x.img');
    const { dead, live } = plant(dest);
    const removed = await cleanStale(dest);
    assert.deepEqual(removed, [dead.slice(dead.lastIndexOf('/') + 1)]);
    assert.ok(!existsSync(dead));
    assert.ok(existsSync(live));
  });

  test('a failed write leaves nothing; a committed one only the result', async () => {
    const dest = join(tmp, 'fail.bin');
    async function* chunks(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(10);
      throw new OutputError('source went away');
    }
    await assert.rejects(writeFileAtomic(dest, chunks()), /source went away/);
    assert.ok(!existsSync(dest));
    assert.deepEqual(
      temps(tmp).filter((n) => n.startsWith('.fail.bin')),
      [],
    );
    const f = await AtomicFile.create(dest);
    await f.write(new Uint8Array([1, 2, 3]), 3, 0);
    await f.commit();
    assert.deepEqual([...readFileSync(dest)], [1, 2, 3]);
    assert.deepEqual(
      temps(tmp).filter((n) => n.startsWith('.fail.bin')),
      [],
    );
  });
});

describe('every writing command cleans what a killed run left', () => {
  const cases: { name: string; out: string; args: (out: string) => string[] }[] = [
    { name: 'export', out: 'core.elf', args: (o) => ['export', fixture('single'), '-o', o] },
    {
      name: 'export --format raw',
      out: 'mem.raw',
      args: (o) => [
        'export',
        fixture('series', '3'),
        '--format',
        'raw',
        '--start',
        '0x300000000000',
        '--end',
        '0x300000010000',
        '-o',
        o,
      ],
    },
    {
      name: 'decode -o',
      out: 'pstree.json',
      args: (o) => ['decode', join(FIX, 'single', 'pstree.img'), '-o', o],
    },
    { name: 'read -o', out: 'bytes.bin', args: (o) => ['read', fixture('single'), '0x0', '0', '-o', o] },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const dir = join(tmp, c.name.replace(/\W+/g, '-'));
      cpSync(join(FIX, 'single'), join(dir, 'unused'), { recursive: true });
      const out = join(dir, c.out);
      const { dead, live } = plant(out);
      const r = await cli(c.args(out));
      assert.equal(r.code, 0, r.err);
      assert.ok(existsSync(out));
      assert.ok(!existsSync(dead), `${c.name}: the dead run's temporary file is gone`);
      assert.ok(existsSync(live), `${c.name}: a running writer's temporary file stays`);
      assert.deepEqual(temps(dir), [live.slice(live.lastIndexOf('/') + 1)]);
    });
  }

  test('encode -o', async () => {
    const dir = join(tmp, 'encode');
    cpSync(join(FIX, 'single', 'pstree.img'), join(dir, 'in.img'));
    const json = join(dir, 'in.json');
    assert.equal((await cli(['decode', join(dir, 'in.img'), '-o', json])).code, 0);
    const out = join(dir, 'out.img');
    const { dead, live } = plant(out);
    const r = await cli(['encode', json, '-o', out]);
    assert.equal(r.code, 0, r.err);
    assert.ok(readFileSync(out).equals(readFileSync(join(dir, 'in.img'))));
    assert.ok(!existsSync(dead));
    assert.ok(existsSync(live));
  });
});
