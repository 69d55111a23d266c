/**
 * The page server's ingest thread (src/server/ingest-thread.ts) on its own: random batches
 * against a file below, checked against a reference (which pages are equal, what the pages file
 * holds afterwards, in batch order, across two pages files); then failures: a pages file it cannot
 * write and a file below it cannot read end in the typed errors, and the thread stops.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { rng } from '../bench/gen.js';
import { IngestError, LayerWriteError } from '../src/errors.js';
import { type BelowRead, IngestThread } from '../src/server/ingest-thread.js';
import { testDir } from './helpers/files.js';

const P = 4096;
const SLOT = 16 * P;
const tmp = testDir('ingest-thread');

function pageOf(tag: number): Uint8Array {
  const b = new Uint8Array(P);
  for (let i = 0; i < P; i += 4) new DataView(b.buffer).setUint32(i, (tag * 2654435761 + i) >>> 0, true);
  return b;
}

describe('IngestThread', () => {
  test('random batches: equal pages found, the others appended in order to their pages file', async () => {
    const rand = rng(0x1a7e);
    const BELOW = 200;
    const below = new Uint8Array(BELOW * P);
    for (let p = 0; p < BELOW; p++) below.set(pageOf(p), p * P);
    const belowPath = join(tmp, 'below.img');
    writeFileSync(belowPath, below);
    const belowFd = openSync(belowPath, 'r');
    const outs = [join(tmp, 'pages-a.img'), join(tmp, 'pages-b.img')];
    const fds = outs.map((f) => openSync(f, 'w+'));
    const want: number[][] = [[], []]; // bytes expected per pages file
    const t = new IngestThread(3, SLOT, 2 * SLOT);
    try {
      const expectSame: Uint8Array[] = [];
      for (let seq = 0; seq < 60; seq++) {
        const key = seq < 30 ? 0 : 1;
        const pages = 1 + Math.floor(rand() * (SLOT / P));
        const stage = await t.nextBuffer();
        const same = new Uint8Array(pages);
        const reads: BelowRead[] = [];
        // each page: equal to some page below (read where it sits), changed, or not below at all
        const first = Math.floor(rand() * (BELOW - pages));
        for (let p = 0; p < pages; p++) {
          const r = rand();
          const page = pageOf(first + p);
          if (r < 0.2) page[5] ^= 0xff; // differs
          stage.set(page, p * P);
          if (r < 0.85) reads.push({ fd: belowFd, pos: (first + p) * P, at: p * P, len: P });
          if (r >= 0.2 && r < 0.85) same[p] = 1;
          if (!same[p]) want[key]!.push(...page);
        }
        // merge neighbouring reads sometimes (one read over several pages)
        const merged: BelowRead[] = [];
        for (const r of reads) {
          const l = merged[merged.length - 1];
          if (l && rand() < 0.5 && l.at + l.len === r.at && l.pos + l.len === r.pos) l.len += r.len;
          else merged.push({ ...r });
        }
        t.name(key, outs[key]!);
        t.publish(stage, key, fds[key]!, pages, merged);
        expectSame.push(same);
        // as before a pages file is closed: every batch answered, no fdatasync in flight
        if (seq === 29 || seq === 45) await t.settle();
      }
      await t.settle();
      assert.equal(t.doneCount, t.publishedCount);
      await t.waitDone(t.publishedCount);
      for (let seq = 0; seq < 60; seq++) {
        assert.deepEqual([...t.takeResult(seq)!], [...expectSame[seq]!], `batch ${seq}`);
      }
      await t.finish();
    } finally {
      await t.stop();
      for (const fd of [...fds, belowFd]) closeSync(fd);
    }
    for (let k = 0; k < 2; k++) {
      assert.ok(readFileSync(outs[k]!).equals(Buffer.from(want[k]!)), `pages file ${k}`);
    }
  });

  test('a pages file it cannot write: LayerWriteError naming it; the thread stops', async () => {
    const path = join(tmp, 'ro.img');
    writeFileSync(path, '');
    const ro = openSync(path, 'r');
    const t = new IngestThread(2, SLOT, 0);
    try {
      const stage = await t.nextBuffer();
      stage.set(pageOf(1), 0);
      t.name(7, path);
      t.publish(stage, 7, ro, 1, []);
      await assert.rejects(t.waitDone(1), (e: Error) => {
        assert.ok(e instanceof LayerWriteError, String(e));
        assert.match(e.message, /ro\.img: write: EBADF/);
        return true;
      });
      await assert.rejects(t.nextBuffer(), LayerWriteError);
    } finally {
      await t.stop();
      closeSync(ro);
    }
  });

  test('a file below it cannot read: IngestError', async () => {
    const out = join(tmp, 'w.img');
    const fd = openSync(out, 'w');
    const t = new IngestThread(2, SLOT, 0);
    try {
      const stage = await t.nextBuffer();
      // a write-only descriptor as the file below: its read fails with EBADF
      t.publish(stage, 1, fd, 1, [{ fd, pos: 0, at: 0, len: P }]);
      await assert.rejects(t.finish(), (e: Error) => {
        assert.ok(e instanceof IngestError, String(e));
        assert.match(e.message, /reading the stack below: EBADF/);
        return true;
      });
    } finally {
      await t.stop();
      closeSync(fd);
    }
  });
});
