/**
 * The specialised pagemap -> JSON writer (decodeToJsonChunks) against the generic path
 * (decodeToJsonText): the same bytes for every pagemap, plain and pretty, including edge values,
 * missing, repeated and unknown fields; and `pagestack decode` prints exactly that text.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { makePagemap } from '../bench/pagemap-gen.js';
import { decodeToJsonText, encodeImage } from '../src/image/image.js';
import { decodeToJsonChunks, emitJsonChunks, pagemapLayoutMatchesSchema } from '../src/image/pagemap-json.js';
import type { Message } from '../src/image/schema.js';
import { cli } from './helpers/cli.js';
import { FIX } from './helpers/fixtures.js';
import { pagemapImage } from './helpers/images.js';

const utf8 = new TextDecoder();

function agree(buf: Uint8Array, what: string): void {
  for (const pretty of [false, true]) {
    let generic: string | Error;
    let fast: string | Error;
    try {
      generic = decodeToJsonText(buf, pretty);
    } catch (e) {
      generic = e as Error;
    }
    try {
      fast = utf8.decode(Buffer.concat(decodeToJsonChunks(buf, pretty)));
    } catch (e) {
      fast = e as Error;
    }
    // the streaming form (one refilled buffer) gives the same bytes, or fails the same way
    let streamed: string | Error;
    try {
      const parts: Buffer[] = [];
      emitJsonChunks(buf, pretty, (c) => parts.push(Buffer.from(c)));
      streamed = utf8.decode(Buffer.concat(parts));
    } catch (e) {
      streamed = e as Error;
    }
    if (typeof fast === 'string') assert.equal(streamed, fast, `${what}: emitJsonChunks`);
    else assert.equal((streamed as Error).message, fast.message, `${what}: emitJsonChunks`);
    if (typeof generic === 'string') assert.equal(fast, generic, `${what}${pretty ? ' (pretty)' : ''}`);
    else {
      assert.ok(
        fast instanceof Error,
        `${what}: the generic path fails (${generic.message}), the writer not`,
      );
      assert.equal(fast.message, generic.message, what);
    }
  }
}

const pagemap = (entries: Message[]): Uint8Array =>
  encodeImage({ magic: 'PAGEMAP', framing: 'common', entries });

/** A pagemap from raw entry messages (bytes), after a head { pages_id: 1 }. */
const rawPagemap = (...entries: number[][]): Uint8Array => pagemapImage(1, entries);

describe('pagemap JSON writer', () => {
  test('the writer still matches the pagemap schema', () => {
    assert.equal(pagemapLayoutMatchesSchema(), true);
  });

  test('every fixture pagemap, plain and pretty', () => {
    let n = 0;
    for (const dir of readdirSync(FIX, { recursive: true }) as string[]) {
      if (!/(^|\/)pagemap-[^/]*\.img$/.test(dir) || dir.startsWith('crit-json')) continue;
      agree(new Uint8Array(readFileSync(join(FIX, dir))), dir);
      n++;
    }
    assert.ok(n >= 10, `found ${n} pagemaps`);
  });

  test('a generated pagemap of 50,000 entries', () => {
    agree(makePagemap(50_000, 3), 'generated');
  });

  test('edge values of every field', () => {
    const u64 = [
      0n,
      1n,
      9n,
      10n,
      99n,
      100n,
      4095n,
      4096n,
      2n ** 31n,
      2n ** 32n - 1n,
      2n ** 32n,
      2n ** 32n + 4096n,
      99_999_999n,
      100_000_000n,
      4_294_967_296_00n,
      2n ** 47n,
      2n ** 52n - 1n,
      2n ** 53n - 1n,
      2n ** 53n,
      2n ** 53n + 1n,
      10n ** 16n,
      10n ** 19n,
      2n ** 63n,
      2n ** 64n - 4096n,
      2n ** 64n - 1n,
    ];
    const u32 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255, 65535, 65536, 2 ** 31, 2 ** 32 - 1];
    const entries: Message[] = [{ pages_id: 4294967295 }];
    for (const v of u64) entries.push({ vaddr: v, compat_nr_pages: 0, flags: 6, nr_pages: v });
    for (const v of u32) entries.push({ vaddr: 4096n, compat_nr_pages: v, flags: v, nr_pages: 1n });
    // every combination of present fields
    for (let mask = 0; mask < 32; mask++) {
      const m: Message = {};
      if (mask & 1) m['vaddr'] = 0x7f0000001000n;
      if (mask & 2) m['compat_nr_pages'] = 3;
      if (mask & 4) m['in_parent'] = (mask & 8) !== 0;
      if (mask & 8) m['flags'] = 1;
      if (mask & 16) m['nr_pages'] = 7n;
      entries.push(m);
    }
    agree(pagemap(entries), 'edge values');
    // a pagemap with only its head, and one with no entries at all
    agree(pagemap([{ pages_id: 1 }]), 'head only');
    agree(pagemap([]), 'no entries');
  });

  test('entries the writer hands to the generic path: repeated, unknown, odd varints', () => {
    agree(
      rawPagemap(
        [0x08, 0x80, 0x20, 0x08, 0x80, 0x40, 0x10, 0x00], // vaddr twice: the last wins
        [0x08, 0x80, 0x20, 0x10, 0x00, 0x98, 0x06, 0x05], // unknown field 99
        [0x08, 0x80, 0x20, 0x10, 0x00, 0x32, 0x01, 0xaa], // unknown length-delimited field 6
        [0x08, 0x80, 0xa0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x10, 0x00], // 10-byte varint
        [0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // compat: 2^63, low 32 bits 0
        [0x18, 0x80, 0x80, 0x80, 0x80, 0x10], // in_parent with only high bits set
        [], // empty entry
      ),
      'odd entries',
    );
  });

  test('bad entries fail with the generic path’s errors', () => {
    const bad = [
      [0x08], // truncated varint
      [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // more than 64 bits
      [0x08, ...new Array(10).fill(0xff), 0x01], // longer than 10 bytes
      [0x0a, 0x01, 0x00], // vaddr with wire type 2
      [0x0b], // wire type 3
      [0x00, 0x01], // field 0
      [0x32, 0x05, 0x00], // length past the message
    ];
    for (const e of bad) agree(rawPagemap([0x08, 0x80, 0x20, 0x10, 0x00], e), `bad entry ${e.join(',')}`);
    // framing: cut inside the second entry, and a trailing partial length
    const ok = makePagemap(5, 1);
    agree(ok.subarray(0, ok.length - 3), 'cut entry');
    agree(new Uint8Array([...ok, 1, 0]), 'partial length');
  });

  test('`pagestack decode` prints the generic text plus a newline, to stdout and to -o', async () => {
    const f = join(FIX, 'single', 'pagemap-24588.img');
    const buf = new Uint8Array(readFileSync(f));
    for (const pretty of [false, true]) {
      const r = await cli(['decode', f, ...(pretty ? ['--pretty'] : [])]);
      assert.equal(r.err, '');
      assert.equal(r.code, 0);
      assert.equal(r.out, `${decodeToJsonText(buf, pretty)}\n`);
    }
  });
});
