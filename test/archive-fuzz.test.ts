/**
 * Fuzzing the archive reader: mutated copies of the fixture archives (bit flips and byte changes
 * in tar headers with the checksum recomputed so the damage gets past it, size / typeflag /
 * name / linkname changes, truncations, flips in the gzip and zstd streams, damaged image members)
 * through openArchiveSource -> openStack -> inspect -> a page read -> search.
 *
 * Allowed outcomes: success, or a PagestackError (ArchiveError, StackError, ImageFormatError,
 * MemoryAccessError) whose message names the archive. Never another exception, and no temp dir
 * left behind. Deterministic: seed printed (PAGESTACK_FUZZ_SEED=<n> to choose); stops after CASES
 * cases or PAGESTACK_FUZZ_MS (default 6000) ms, whichever comes first.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { rng } from '../bench/gen.js';
import { PagestackError } from '../src/errors.js';
import { inspectStack } from '../src/ops/inspect.js';
import { compilePattern, searchStack } from '../src/ops/search.js';
import { indexTar, openArchiveSource, pendingTempDirs } from '../src/source/archive/index.js';
import { MemoryContainer } from '../src/source/archive/unpack.js';
import { openStack } from '../src/stack/stack.js';
import { testDir } from './helpers/files.js';
import { ROOT } from './helpers/fixtures.js';

const ARCHIVES = join(ROOT, 'test', 'fixtures', 'archives');
const CASES = 3000;
const BUDGET_MS = Number(process.env['PAGESTACK_FUZZ_MS'] ?? 6000);

function fixChecksum(b: Uint8Array, h: number): void {
  b.fill(0x20, h + 148, h + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[h + i]!;
  const t = `${sum.toString(8).padStart(6, '0')}\0 `;
  for (let i = 0; i < 8; i++) b[h + 148 + i] = t.charCodeAt(i);
}

test('fuzz: mutated fixture archives give a clean error or a valid result', {
  timeout: 120_000,
}, async () => {
  const seed = Number(process.env['PAGESTACK_FUZZ_SEED'] ?? Date.now() % 1_000_000);
  console.log(`archive fuzz seed ${seed} (PAGESTACK_FUZZ_SEED=${seed} to repeat)`);
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const dir = testDir('archive-fuzz');
  const tar = new Uint8Array(readFileSync(join(ARCHIVES, 'podman-series-step0.tar')));
  const gz = new Uint8Array(readFileSync(join(ARCHIVES, 'podman-series-step0.tar.gz')));
  const zst = new Uint8Array(readFileSync(join(ARCHIVES, 'podman-series-step0.tar.zst')));
  const index = indexTar(new MemoryContainer(tar), 'step0.tar');
  const headers = index.members.map((m) => m.headerOffset);
  const dataMembers = index.members.filter((m) => m.type === 'file' && m.size > 0);
  const before = pendingTempDirs().length;
  const start = Date.now();
  let cases = 0;
  const outcomes = new Map<string, number>();
  for (; cases < CASES && Date.now() - start < BUDGET_MS; cases++) {
    const kind = pick([
      'header-field',
      'header-flip',
      'truncate',
      'data',
      'gz',
      'zst',
      'zst-truncate',
    ] as const);
    let bytes: Uint8Array;
    let name = `case-${cases}.tar`;
    if (kind === 'gz' || kind === 'zst' || kind === 'zst-truncate') {
      bytes = new Uint8Array(kind === 'gz' ? gz : zst);
      name = `case-${cases}.${kind === 'gz' ? 'tar.gz' : 'tar.zst'}`;
      if (kind === 'zst-truncate') bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
      else
        for (let k = 0; k < 1 + Math.floor(rand() * 4); k++)
          bytes[Math.floor(rand() * bytes.length)] ^= 1 << Math.floor(rand() * 8);
    } else {
      bytes = new Uint8Array(tar);
      if (kind === 'truncate') bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
      else if (kind === 'data') {
        const m = pick(dataMembers);
        for (let k = 0; k < 1 + Math.floor(rand() * 8); k++)
          bytes[m.offset + Math.floor(rand() * m.size)] = Math.floor(rand() * 256);
      } else {
        const h = pick(headers);
        if (kind === 'header-flip') bytes[h + Math.floor(rand() * 512)] ^= 1 << Math.floor(rand() * 8);
        else {
          const field = pick([
            [0, 100],
            [124, 12],
            [156, 1],
            [157, 100],
            [345, 155],
            [100, 8],
          ] as const);
          const at = h + field[0] + Math.floor(rand() * field[1]);
          bytes[at] = pick([
            0,
            0x2e,
            0x2f,
            0x30,
            0x31,
            0x32,
            0x35,
            0x37,
            0x78,
            0x4c,
            0x80,
            0xff,
            Math.floor(rand() * 256),
          ]);
          fixChecksum(bytes, h);
        }
      }
    }
    const path = join(dir, name);
    writeFileSync(path, bytes);
    let outcome = 'ok';
    try {
      const src = await openArchiveSource(path, {
        memoryLimit: rand() < 0.3 ? 0 : undefined,
        limit: 64 << 20,
      });
      try {
        const stack = await openStack(src);
        try {
          const r = await inspectStack(stack, path, { archive: src.archive });
          for (const p of r.processes) {
            const mem = await stack.process(p.pid);
            await mem.read(0x300000000000, 4096, { zero: true });
          }
          await searchStack(stack, compilePattern('HOSTNAME'), { onMatch: () => {} });
        } finally {
          await stack.close();
        }
      } finally {
        await src.close();
      }
    } catch (e) {
      if (!(e instanceof PagestackError)) {
        assert.fail(`seed ${seed} case ${cases} (${kind}): ${(e as Error)?.stack ?? String(e)}`);
      }
      assert.ok(e.message.length > 0 && !e.message.includes('\n'), `case ${cases}: one line: ${e.message}`);
      outcome = e.name;
    }
    outcomes.set(`${kind}:${outcome}`, (outcomes.get(`${kind}:${outcome}`) ?? 0) + 1);
  }
  console.log(
    `archive fuzz: ${cases} cases in ${Date.now() - start} ms: ${[...outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}`,
  );
  assert.ok(cases >= 50, `only ${cases} cases ran`);
  assert.equal(pendingTempDirs().length, before, 'no temp dir left');
});
