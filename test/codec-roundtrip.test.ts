/**
 * Byte-exact round trips of every CRIU 4.2 fixture image through the schema-driven codec and
 * through crit JSON text (plain and pretty), plus the pagemap fast path against the generic
 * decoder on the fixtures and on generated pagemaps with legacy and unusual entries.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  type CriuImage,
  decodeImage,
  decodeToJsonText,
  encodeFromJsonText,
  encodeImage,
} from '../src/image/image.js';
import { decodePagemap, PE_LAZY, PE_PARENT, PE_PRESENT } from '../src/image/pagemap.js';
import { type Message, UNKNOWN, type UnknownField } from '../src/image/schema.js';
import { IMAGE_SCHEMAS } from '../src/image/schemas/index.js';
import { WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT } from '../src/image/wire.js';
import { assertSameBytes } from './helpers/assert.js';
import { FIX, fixtureImages } from './helpers/fixtures.js';
import { varint } from './helpers/images.js';

const IMAGES = fixtureImages();
const read = (rel: string): Uint8Array => new Uint8Array(readFileSync(join(FIX, rel)));

/** Paths of `_unknown` fields anywhere in a decoded message (fields no schema knows). */
function unknownPaths(v: unknown, path: string, out: string[]): string[] {
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) unknownPaths(x, `${path}[${i}]`, out);
  } else if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    for (const [k, x] of Object.entries(v)) {
      if (k === UNKNOWN) out.push(`${path}: fields ${(x as UnknownField[]).map((u) => u.no).join(', ')}`);
      else unknownPaths(x, `${path}.${k}`, out);
    }
  }
  return out;
}

test('the fixture set is all there', () => {
  assert.equal(IMAGES.length, 138);
  const dirs = new Set(IMAGES.map((p) => p.slice(0, p.lastIndexOf('/'))));
  assert.deepEqual([...dirs].sort(), [
    'lazy',
    'pageserver',
    'series-stack/1',
    'series-stack/2',
    'series-stack/3',
    'series/1',
    'series/2',
    'series/3',
    'single',
    'tree',
  ]);
});

describe('every fixture image round-trips to identical bytes', () => {
  for (const rel of IMAGES) {
    test(rel, () => {
      const buf = read(rel);
      const img = decodeImage(buf);
      assert.ok(IMAGE_SCHEMAS[img.magic], `no schema registered for ${img.magic}`);
      assert.deepEqual(unknownPaths(img.entries, '$.entries', []), [], 'fields the schema does not know');
      assertSameBytes(encodeImage(img), buf, 'decode -> encode');
      for (const pretty of [false, true]) {
        const text = decodeToJsonText(buf, pretty);
        assertSameBytes(
          encodeFromJsonText(text),
          buf,
          `decode -> ${pretty ? 'pretty' : 'plain'} JSON -> encode`,
        );
      }
    });
  }
});

test('the fixtures hold these 13 image types', () => {
  const magics = new Set(IMAGES.map((rel) => decodeImage(read(rel)).magic));
  assert.deepEqual([...magics].sort(), [
    'CORE',
    'FDINFO',
    'FILES',
    'FS',
    'IDS',
    'INVENTORY',
    'MEMFD_INODE',
    'MM',
    'PAGEMAP',
    'PSTREE',
    'SECCOMP',
    'STATS',
    'TIMENS',
  ]);
});

// ---------------------------------------------------------------------------------------------
// pagemap: generic decoder vs decodePagemap

interface NormalisedPagemap {
  pagesId: number;
  /** [vaddr, nr_pages, flags] with CRIU's read-side normalisation applied */
  entries: [bigint, bigint, number][];
}

function viaGeneric(buf: Uint8Array): NormalisedPagemap {
  const img = decodeImage(buf);
  assert.equal(img.magic, 'PAGEMAP');
  const [head, ...rest] = img.entries;
  return {
    pagesId: head!['pages_id'] as number,
    entries: rest.map((e) => {
      const nr =
        e['nr_pages'] !== undefined ? (e['nr_pages'] as bigint) : BigInt(e['compat_nr_pages'] as number);
      const flags =
        e['flags'] !== undefined ? (e['flags'] as number) : e['in_parent'] === true ? PE_PARENT : PE_PRESENT;
      return [e['vaddr'] as bigint, nr, flags];
    }),
  };
}

function viaFastPath(buf: Uint8Array): NormalisedPagemap {
  const cols = decodePagemap(buf);
  const entries: [bigint, bigint, number][] = [];
  for (let i = 0; i < cols.count; i++) {
    entries.push([BigInt(cols.vpage[i]!) * 4096n, BigInt(cols.nrPages[i]!), cols.flags[i]!]);
  }
  return { pagesId: cols.pagesId, entries };
}

describe('decodePagemap agrees with the generic decoder', () => {
  const pagemaps = IMAGES.filter((rel) => /\/pagemap-[^/]*\.img$/.test(rel));

  test('on all fixture pagemaps', () => {
    assert.equal(pagemaps.length, 13);
    for (const rel of pagemaps) {
      const buf = read(rel);
      const fast = viaFastPath(buf);
      assert.deepEqual(fast, viaGeneric(buf), rel);
      assert.ok(fast.entries.length > 0, rel);
    }
  });

  test('series-stack layers have PE_PARENT entries, lazy/ has PE_LAZY-only entries', () => {
    const flagsOf = (rel: string): Set<number> => new Set(viaFastPath(read(rel)).entries.map((e) => e[2]));
    assert.ok(flagsOf('series-stack/2/pagemap-25238.img').has(PE_PARENT));
    assert.ok(flagsOf('series-stack/3/pagemap-25238.img').has(PE_PARENT));
    assert.ok(flagsOf('lazy/pagemap-25494.img').has(PE_LAZY));
  });

  const pagemap = (pagesId: number, entries: Message[], headExtra: Message = {}): Uint8Array =>
    encodeImage({
      magic: 'PAGEMAP',
      framing: 'common',
      entries: [{ pages_id: pagesId, ...headExtra }, ...entries],
    } satisfies CriuImage);

  const varintBytes = (v: bigint): Uint8Array => Uint8Array.from(varint([], v));

  const cases: [string, Uint8Array, [bigint, bigint, number][]][] = [
    [
      'legacy entries: in_parent without flags, compat_nr_pages without nr_pages',
      pagemap(3, [
        { vaddr: 0x1000n, compat_nr_pages: 3, in_parent: true },
        { vaddr: 0x10000n, compat_nr_pages: 1, in_parent: false },
        { vaddr: 0x20000n, compat_nr_pages: 2 },
        { vaddr: 0x30000n, compat_nr_pages: 5, in_parent: true, flags: PE_PRESENT | PE_LAZY },
        { vaddr: 0x40000n, compat_nr_pages: 9, flags: PE_PARENT, nr_pages: 4n },
      ]),
      [
        [0x1000n, 3n, PE_PARENT],
        [0x10000n, 1n, PE_PRESENT],
        [0x20000n, 2n, PE_PRESENT],
        [0x30000n, 5n, PE_PRESENT | PE_LAZY],
        [0x40000n, 4n, PE_PARENT],
      ],
    ],
    [
      'unknown extra fields of every wire type, small and multi-byte keys, in entries and head',
      pagemap(
        7,
        [
          {
            vaddr: 0x7f0000000000n,
            compat_nr_pages: 2,
            flags: PE_PRESENT,
            nr_pages: 2n,
            [UNKNOWN]: [
              { no: 6, wire: WIRE_VARINT, data: varintBytes(-1n) },
              { no: 7, wire: WIRE_I64, data: new Uint8Array(8).fill(0xff) },
              { no: 8, wire: WIRE_I32, data: Uint8Array.of(1, 2, 3, 4) },
              { no: 9, wire: WIRE_LEN, data: Uint8Array.of(0x08, 0x01, 0x10, 0x02) },
              { no: 2000, wire: WIRE_LEN, data: new Uint8Array(300) },
              { no: 123456, wire: WIRE_VARINT, data: varintBytes(2n ** 63n) },
            ],
          },
          {
            vaddr: 0x7f0000010000n,
            compat_nr_pages: 1,
            [UNKNOWN]: [{ no: 15, wire: WIRE_VARINT, data: varintBytes(5n) }],
          },
        ],
        { [UNKNOWN]: [{ no: 2, wire: WIRE_LEN, data: Uint8Array.of(0x61) }] },
      ),
      [
        [0x7f0000000000n, 2n, PE_PRESENT],
        [0x7f0000010000n, 1n, PE_PRESENT],
      ],
    ],
    [
      'nr_pages above 2^32 (compat_nr_pages truncated)',
      pagemap(1, [
        { vaddr: 0x100000000000n, compat_nr_pages: 7, flags: PE_PRESENT, nr_pages: 2n ** 32n + 7n },
        { vaddr: 0x200000000000n, compat_nr_pages: 0, flags: PE_LAZY, nr_pages: 2n ** 40n },
      ]),
      [
        [0x100000000000n, 2n ** 32n + 7n, PE_PRESENT],
        [0x200000000000n, 2n ** 40n, PE_LAZY],
      ],
    ],
    [
      'vaddr near the top of the 64-bit address space',
      pagemap(65537, [
        { vaddr: 2n ** 63n, compat_nr_pages: 1, flags: PE_PRESENT, nr_pages: 1n },
        { vaddr: 2n ** 64n - 8192n, compat_nr_pages: 1, flags: PE_PARENT },
        { vaddr: 2n ** 64n - 4096n, compat_nr_pages: 1, flags: PE_PRESENT, nr_pages: 1n },
      ]),
      [
        [2n ** 63n, 1n, PE_PRESENT],
        [2n ** 64n - 8192n, 1n, PE_PARENT],
        [2n ** 64n - 4096n, 1n, PE_PRESENT],
      ],
    ],
    ['a pagemap with no entries after the head', pagemap(2, []), []],
  ];

  for (const [name, buf, expected] of cases) {
    test(name, () => {
      const fast = viaFastPath(buf);
      assert.deepEqual(fast, viaGeneric(buf));
      assert.deepEqual(fast.entries, expected);
      assertSameBytes(encodeImage(decodeImage(buf)), buf, 'generic re-encode');
      for (const pretty of [false, true]) {
        assertSameBytes(encodeFromJsonText(decodeToJsonText(buf, pretty)), buf, `JSON (pretty ${pretty})`);
      }
    });
  }
});
