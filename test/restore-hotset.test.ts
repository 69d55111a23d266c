/**
 * src/stack/hotset.ts: the hot-set codec round-trips, rejects every kind of damage with a
 * `<file>: offset N: ...` line (code PAGESTACK_HOTSET), and prefetchRuns takes the fault runs,
 * each page once, merged.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 as zlibCrc } from 'node:zlib';
import { ImageFormatError } from '../src/errors.js';
import { crc32, decodeHotSet, encodeHotSet, type HotSet, prefetchRuns } from '../src/stack/hotset.js';

const H: HotSet = {
  windowMs: 10_000,
  runs: [
    { pid: 3861, vaddr: 0x7f621f5e4000, pages: 1, ms: 3, kind: 'fault' },
    { pid: 3861, vaddr: 0x300000000000, pages: 16, ms: 4, kind: 'background' },
    { pid: 3861, vaddr: 0x300000010000, pages: 1, ms: 9, kind: 'fault' },
    { pid: 3861, vaddr: 0x300000011000, pages: 1, ms: 9, kind: 'fault' },
    { pid: 12, vaddr: 0x1000, pages: 1, ms: 11, kind: 'fault' },
    { pid: 3861, vaddr: 0x300000010000, pages: 1, ms: 12, kind: 'fault' },
    { pid: 3861, vaddr: 2 ** 52, pages: 1024, ms: 4_000_000, kind: 'background' },
  ],
};

test('hotset: encode -> decode round trip; the layout of the head comment', () => {
  const b = encodeHotSet(H);
  assert.equal(b.length, 24 + 24 * H.runs.length + 4);
  assert.equal(Buffer.from(b.subarray(0, 8)).toString('latin1'), 'PSHOTSET');
  const dv = new DataView(b.buffer, b.byteOffset);
  assert.equal(dv.getUint32(16, true), H.runs.length);
  assert.equal(dv.getBigUint64(24 + 8, true), 0x7f621f5e4000n);
  assert.equal(dv.getUint32(b.length - 4, true), zlibCrc(Buffer.from(b.subarray(0, b.length - 4))) >>> 0);
  assert.deepEqual(decodeHotSet(b), H);
  assert.deepEqual(decodeHotSet(encodeHotSet({ windowMs: 0, runs: [] })), { windowMs: 0, runs: [] });
});

test("hotset: crc32 is zlib's", () => {
  for (const s of ['', 'a', 'pagestack hot set', 'x'.repeat(1000)]) {
    assert.equal(crc32(Buffer.from(s)), zlibCrc(Buffer.from(s)) >>> 0);
  }
});

test('hotset: damage is refused with the file and the offset', () => {
  const good = encodeHotSet(H);
  const cases: [string, Uint8Array, RegExp][] = [
    ['short', good.subarray(0, 20), /^L\/\.pagestack-hotset: offset 0: 20 bytes: too short/],
    [
      'magic',
      Uint8Array.from(good, (x, i) => (i === 0 ? 0x58 : x)),
      /offset 0: expected the magic "PSHOTSET"/,
    ],
    ['version', Uint8Array.from(good, (x, i) => (i === 8 ? 2 : x)), /offset 8: version 2: expected 1/],
    ['truncated', good.subarray(0, good.length - 1), /offset 16: 7 runs make 196 bytes, the file has 195/],
    [
      'flipped',
      Uint8Array.from(good, (x, i) => (i === 40 ? x ^ 1 : x)),
      /offset 192: checksum 0x[0-9a-f]+ does not match/,
    ],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(
      () => decodeHotSet(bytes, 'L/.pagestack-hotset'),
      (e: unknown) => e instanceof ImageFormatError && e.code === 'PAGESTACK_HOTSET' && re.test(e.message),
      what,
    );
  }
  // a bad kind with a correct checksum (written by something else): still refused, at its byte
  const odd = Uint8Array.from(good);
  odd[24 + 20] = 7;
  new DataView(odd.buffer).setUint32(odd.length - 4, crc32(odd, odd.length - 4), true);
  assert.throws(() => decodeHotSet(odd), /offset 44: kind 7: expected 1 \(fault\) or 2 \(background\)/);
  assert.throws(
    () => encodeHotSet({ windowMs: 1, runs: [{ pid: 1, vaddr: 4097, pages: 1, ms: 0, kind: 'fault' }] }),
    RangeError,
  );
});

test('hotset: prefetchRuns: fault pages only, each once, per pid, adjacent pages merged', () => {
  assert.deepEqual(prefetchRuns(H), [
    { pid: 12, vaddr: 0x1000, pages: 1 },
    { pid: 3861, vaddr: 0x300000010000, pages: 2 },
    { pid: 3861, vaddr: 0x7f621f5e4000, pages: 1 },
  ]);
});
