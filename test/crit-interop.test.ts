/**
 * Interop with a real crit: Debian's crit 3.17 (`/usr/bin/crit`, package criu).
 *
 * - Fixture images whose types crit 3.17 reads the same way as 4.2 (fdinfo, files, fs, ids, mm,
 *   pstree, seccomp, timens, stats): our plain JSON equals `crit decode`, and `crit encode` of our
 *   JSON gives back the original bytes.
 * - Synthetic images of every type crit 3.17 has a handler for, every field filled (fields that
 *   only CRIU 4.2 has left out): our plain and pretty JSON equal crit's, and crit encodes our
 *   pretty JSON to our bytes.
 * - Pagemaps (3.17 lacks `nr_pages`, so it is not asked): our decode against each fixture dir's
 *   expected.json, which crit 4.2 made.
 *
 * crit runs a few processes at a time, all started from `before` hooks. Without /usr/bin/crit the
 * crit tests are skipped (CI installs it); the rest still runs.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { EXTRA_PAYLOAD_TYPES } from '../src/image/extra.js';
import { decodeImage, decodeToJsonText, encodeFromJsonText, encodeImage } from '../src/image/image.js';
import { parseJson } from '../src/image/jsontext.js';
import { decodePagemap, PE_PARENT, PE_PRESENT } from '../src/image/pagemap.js';
import type { FieldSchema, Message, MessageSchema, ScalarValue } from '../src/image/schema.js';
import { IMAGE_SCHEMAS } from '../src/image/schemas/index.js';
import { assertSameBytes, assertSameJson } from './helpers/assert.js';
import { type CritRun, critOk, HAVE_CRIT, runCrit, SKIP_CRIT } from './helpers/crit.js';
import { testDir } from './helpers/files.js';
import { expectedOf, FIX, fixtureImages } from './helpers/fixtures.js';

const CRIT_JOBS = Math.max(2, Math.min(4, availableParallelism()));

// ---------------------------------------------------------------------------------------------
// helpers

/** Runs the jobs at most `limit` at a time. */
async function inBatches<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

const workDir = testDir('crit');
function tmp(name: string): string {
  return join(workDir, name);
}

// ---------------------------------------------------------------------------------------------
// fixtures: crit 3.17 decodes and encodes these types as 4.2 does

const SAME_IN_317 = new Set(['FDINFO', 'FILES', 'FS', 'IDS', 'MM', 'PSTREE', 'SECCOMP', 'TIMENS', 'STATS']);

interface FixtureCase {
  rel: string;
  /** other fixture files with the same bytes (crit runs once for all of them) */
  same: string[];
  buf: Uint8Array;
}

const FIXTURE_CASES: FixtureCase[] = [];
{
  const byContent = new Map<string, FixtureCase>();
  for (const rel of fixtureImages()) {
    const buf = new Uint8Array(readFileSync(join(FIX, rel)));
    if (!SAME_IN_317.has(decodeImage(buf).magic)) continue;
    const key = Buffer.from(buf).toString('base64');
    const seen = byContent.get(key);
    if (seen) seen.same.push(rel);
    else {
      const c = { rel, same: [], buf };
      byContent.set(key, c);
      FIXTURE_CASES.push(c);
    }
  }
}

describe('crit 3.17 reads and writes the fixture images as we do', { skip: SKIP_CRIT }, () => {
  const decoded = new Map<string, CritRun>();
  const encoded = new Map<string, CritRun & { bytes?: Uint8Array }>();

  before(async () => {
    if (!HAVE_CRIT) return;
    const jobs = FIXTURE_CASES.map((c, i) => async () => {
      decoded.set(c.rel, await runCrit(['decode', '-i', join(FIX, c.rel)]));
      const json = tmp(`fixture-${i}.json`);
      const out = tmp(`fixture-${i}.img`);
      writeFileSync(json, decodeToJsonText(c.buf, false));
      const run = await runCrit(['encode', '-i', json, '-o', out]);
      encoded.set(c.rel, run.ok ? { ...run, bytes: new Uint8Array(readFileSync(out)) } : run);
    });
    await inBatches(jobs, CRIT_JOBS);
  });

  test('covers every one of those image types in the fixtures', () => {
    const magics = new Set(FIXTURE_CASES.map((c) => decodeImage(c.buf).magic));
    assert.deepEqual([...magics].sort(), [...SAME_IN_317].sort());
    assert.ok(FIXTURE_CASES.reduce((n, c) => n + 1 + c.same.length, 0) >= 100);
  });

  for (const c of FIXTURE_CASES) {
    const name = c.same.length ? `${c.rel} (+${c.same.length} byte-identical: ${c.same.join(', ')})` : c.rel;
    test(name, () => {
      const theirs = critOk(decoded.get(c.rel), 'crit decode');
      assertSameJson(parseJson(decodeToJsonText(c.buf, false)), parseJson(theirs));
      const enc = encoded.get(c.rel);
      critOk(enc, 'crit encode of our JSON');
      assertSameBytes(enc!.bytes!, c.buf, 'crit encode of our JSON');
    });
  }
});

// ---------------------------------------------------------------------------------------------
// pagemaps against expected.json (made with crit 4.2)

describe('fixture pagemaps decode to what expected.json lists', () => {
  const dirs = [...new Set(fixtureImages().map((rel) => rel.slice(0, rel.lastIndexOf('/'))))].filter((dir) =>
    existsSync(join(FIX, dir, 'expected.json')),
  );

  test('expected.json exists for the 7 dump dirs', () => {
    assert.deepEqual(dirs, ['lazy', 'pageserver', 'series/1', 'series/2', 'series/3', 'single', 'tree']);
  });

  for (const dir of dirs) {
    test(dir, () => {
      const exp = expectedOf(dir);
      const all = [...exp.processes, ...(exp.shmem ?? [])];
      assert.ok(all.length > 0);
      for (const p of all) {
        const buf = new Uint8Array(readFileSync(join(FIX, dir, p.pagemap)));
        const img = decodeImage(buf);
        const [head, ...entries] = img.entries;
        assert.equal(head!['pages_id'], p.pages_id, `${p.pagemap} pages_id`);
        assert.equal(entries.length, p.n_entries, `${p.pagemap} entry count`);
        const ours = entries.map((e) => [
          Number(e['vaddr'] as bigint),
          Number((e['nr_pages'] as bigint | undefined) ?? BigInt(e['compat_nr_pages'] as number)),
          (e['flags'] as number | undefined) ?? (e['in_parent'] ? PE_PARENT : PE_PRESENT),
        ]);
        assert.deepEqual(ours, p.entries, `${p.pagemap} entries`);
        assert.equal(
          ours.reduce((n, e) => n + e[1]!, 0),
          p.total_pages,
          `${p.pagemap} total pages`,
        );
        const cols = decodePagemap(buf);
        assert.equal(cols.pagesId, p.pages_id);
        assert.deepEqual(
          Array.from({ length: cols.count }, (_, i) => [
            cols.vpage[i]! * 4096,
            cols.nrPages[i]!,
            cols.flags[i]!,
          ]),
          p.entries,
          `${p.pagemap} via decodePagemap`,
        );
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// synthetic images: every field of every message filled in

/** Fields CRIU 4.2 has and crit 3.17 does not: left out of what crit 3.17 is shown. */
const NOT_IN_317 = new Set([
  'inventory_entry.plugins_entry',
  'inventory_entry.dump_criu_run_id',
  'inventory_entry.allow_uprobes',
  'core_entry.ti_loongarch64',
  'core_entry.ti_riscv64',
  'user_x86_xsave_entry.cet',
  'thread_info_aarch64.pac_keys',
  'task_core_entry.stop_signo',
  'task_core_entry.membarrier_registration_mask',
  'thread_core_entry.cg_set',
  'creds_entry.no_new_privs',
  'creds_entry.cap_amb',
  'cg_controller_entry.is_threaded',
  'inet_sk_entry.tcp_opts',
  'ip_opts_entry.pktinfo',
  'ip_opts_entry.tos',
  'ip_opts_entry.ttl',
  'netns_entry.ipv4_sysctl',
  'file_entry.pidfd',
  'memfd_inode_entry.mode',
]);

/** Image types crit 3.17 has a plain entry handler for (no extra payload), as CRIU 4.2 writes them. */
const CRIT_317_TYPES = [
  'APPARMOR',
  'AUTOFS',
  'BPFMAP_FILE',
  'CGROUP',
  'CORE',
  'CPUINFO',
  'CREDS',
  'EVENTFD_FILE',
  'EVENTPOLL_FILE',
  'EVENTPOLL_TFD',
  'EXT_FILES',
  'FANOTIFY_FILE',
  'FANOTIFY_MARK',
  'FDINFO',
  'FIFO',
  'FILES',
  'FILE_LOCKS',
  'FS',
  'IDS',
  'INETSK',
  'INOTIFY_FILE',
  'INOTIFY_WD',
  'INVENTORY',
  'IPC_VAR',
  'IRMAP_CACHE',
  'ITIMERS',
  'MEMFD_INODE',
  'MM',
  'MNTS',
  'NETDEV',
  'NETLINK_SK',
  'NETNS',
  'NS_FILES',
  'PACKETSK',
  'PIDNS',
  'PIPES',
  'POSIX_TIMERS',
  'PSTREE',
  'REG_FILES',
  'REMAP_FPATH',
  'RLIMIT',
  'SECCOMP',
  'SIGACT',
  'SIGNALFD',
  'STATS',
  'TIMENS',
  'TIMERFD',
  'TTY_DATA',
  'TTY_FILES',
  'TTY_INFO',
  'TUNFILE',
  'UNIXSK',
  'USERNS',
  'UTSNS',
  'VMAS',
];

/** Flag bits crit 4.2 names and crit 3.17 does not (MAP_DROPPABLE, VMA_AREA_MEMFD/SHSTK/UPROBES). */
const FLAG_BITS_NOT_IN_317: Readonly<Record<string, number>> = {
  'mmap.flags': 0x08,
  'mmap.status': (1 << 14) | (1 << 15) | (1 << 17),
};

interface SynthOptions {
  /** `message.field` names to leave out */
  skip: ReadonlySet<string>;
  /** flags table -> bits to keep clear */
  clearBits: Readonly<Record<string, number>>;
}

const ALL_FIELDS: SynthOptions = { skip: new Set(), clearBits: {} };
const CRIT_317_FIELDS: SynthOptions = { skip: NOT_IN_317, clearBits: FLAG_BITS_NOT_IN_317 };

const MAX_DEPTH = 3;

/**
 * A value for every field, in two variants: 0 = extremes (all ones, most negative, long text and
 * bytes, several elements), 1 = small ones (zero, false, empty, one element).
 */
function scalarFor(f: FieldSchema, variant: 0 | 1, k: number, opts: SynthOptions): ScalarValue {
  const n = f.no + k;
  switch (f.type) {
    case 'uint32':
    case 'fixed32':
      if (f.flags) return variant === 0 ? (0xffffffff & ~(opts.clearBits[f.flags] ?? 0)) >>> 0 : 0;
      return variant === 0 ? 0xffffffff - n : n;
    case 'int32':
    case 'sfixed32':
      return variant === 0 ? -2147483648 + n : 2147483647 - n;
    case 'sint32':
      return variant === 0 ? -1 - n : 2147483647;
    case 'uint64':
    case 'fixed64':
      return variant === 0 ? 2n ** 64n - 1n - BigInt(n) : BigInt(n) << 40n;
    case 'int64':
    case 'sfixed64':
      return variant === 0 ? -(2n ** 63n) + BigInt(n) : 2n ** 62n + BigInt(n);
    case 'sint64':
      return variant === 0 ? -1n - BigInt(n) : 2n ** 63n - 1n;
    case 'bool':
      return variant === 0;
    case 'string':
      return variant === 0 ? `${f.name} \u00e9\u4e2d\ud83d\ude00 "q" \\ /\n\t${k}` : '';
    case 'bytes': {
      if (variant === 1) return f.conv ? Buffer.from('/tmp/s.sock') : new Uint8Array(0);
      const b = Uint8Array.from({ length: 100 + k }, (_, i) => (i * 37 + f.no) & 0xff);
      // (quopri, which crit uses for these, turns "\r\n" into "\n" and back into "\r\n": keep it out)
      if (f.conv) b.set(Buffer.from('\0ab= \t.\n\r.'), 0);
      return b;
    }
    case 'enum': {
      const values = Object.values(f.enum!.values);
      return values[Math.min(values.length - 1, variant === 0 ? 1 : 0)]!;
    }
    default:
      throw new Error(`no synthetic value for ${f.type}`);
  }
}

function synth(schema: MessageSchema, variant: 0 | 1, opts: SynthOptions, depth = 0): Message {
  const msg: Message = {};
  for (const f of schema.fields) {
    if (opts.skip.has(`${schema.name}.${f.name}`)) continue;
    if (f.type === 'message') {
      if (depth >= MAX_DEPTH && f.label !== 'required') continue;
      const sub = f.message!();
      if (f.label === 'repeated') {
        msg[f.name] = Array.from({ length: 2 - variant }, () => synth(sub, variant, opts, depth + 1));
      } else msg[f.name] = synth(sub, variant, opts, depth + 1);
    } else if (f.label === 'repeated') {
      const count = f.ipadd ? (variant === 0 ? 4 : 1) : 3 - 2 * variant;
      msg[f.name] = Array.from({ length: count }, (_, k) => scalarFor(f, variant, k, opts)) as ScalarValue[];
    } else {
      msg[f.name] = scalarFor(f, variant, 0, opts);
    }
  }
  return msg;
}

function synthImage(magic: string, opts: SynthOptions): Uint8Array {
  const entry = IMAGE_SCHEMAS[magic]!.entry;
  return encodeImage({
    magic,
    framing: 'common',
    entries: [synth(entry, 0, opts), synth(entry, 1, opts)],
  });
}

/** Whether plain JSON shows anything differently from pretty besides numbers: bytes, addresses. */
function hasBytesOrAddresses(schema: MessageSchema, seen = new Set<MessageSchema>()): boolean {
  if (seen.has(schema)) return false;
  seen.add(schema);
  return schema.fields.some((f) =>
    f.type === 'message' ? hasBytesOrAddresses(f.message!(), seen) : f.type === 'bytes' || f.ipadd === true,
  );
}

describe('synthetic images of every registered type round-trip through our JSON', () => {
  // (types with raw data after entries: test/extra-payload.test.ts)
  const types = Object.keys(IMAGE_SCHEMAS).filter((m) => !IMAGE_SCHEMAS[m]!.head);
  for (const magic of types.filter((m) => !EXTRA_PAYLOAD_TYPES.includes(m))) {
    test(magic, () => {
      const buf = synthImage(magic, ALL_FIELDS);
      const img = decodeImage(buf);
      assert.equal(img.magic, magic);
      assert.equal(img.entries.length, 2);
      assertSameBytes(encodeImage(img), buf, 'decode -> encode');
      for (const pretty of [false, true]) {
        const text = decodeToJsonText(buf, pretty);
        assert.ok(!text.includes('_unknown'), 'every field known');
        assertSameBytes(encodeFromJsonText(text), buf, `${pretty ? 'pretty' : 'plain'} JSON -> encode`);
      }
    });
  }
});

/** crit's handler table (pycriu images.py): magic -> entry message, and whether data follows entries. */
const CRIT_IMAGES_PY = '/usr/lib/python3/dist-packages/pycriu/images/images.py';

function critHandlers(): Map<string, { message: string; extra: boolean }> {
  const table = new Map<string, { message: string; extra: boolean }>();
  const src = readFileSync(CRIT_IMAGES_PY, 'utf8');
  for (const m of src.matchAll(/'(\w+)':\s*entry_handler\(\s*pb\.(\w+)\s*(,)?/g)) {
    table.set(m[1]!, { message: m[2]!, extra: m[3] === ',' });
  }
  return table;
}

/** Messages nested anywhere in `msg`, with their schemas; not below a `(criu).hex` field. */
function nestedMessages(schema: MessageSchema, msg: Message, out: [MessageSchema, Message][] = []) {
  for (const f of schema.fields) {
    const v = msg[f.name];
    if (f.type !== 'message' || f.hex || v === undefined) continue;
    const sub = f.message!();
    for (const m of (Array.isArray(v) ? v : [v]) as Message[]) {
      out.push([sub, m]);
      nestedMessages(sub, m, out);
    }
  }
  return out;
}

describe('crit 3.17 agrees with us on synthetic images of every type it knows', { skip: SKIP_CRIT }, () => {
  const entries = new Map(
    CRIT_317_TYPES.map((m) => [
      m,
      [
        synth(IMAGE_SCHEMAS[m]!.entry, 0, CRIT_317_FIELDS),
        synth(IMAGE_SCHEMAS[m]!.entry, 1, CRIT_317_FIELDS),
      ],
    ]),
  );
  const images = new Map(
    [...entries].map(([magic, es]) => [magic, encodeImage({ magic, framing: 'common', entries: es })]),
  );
  /**
   * A type whose synthetic entries already sit, field for field, inside another type's synthetic
   * entries (reg_file_entry inside file_entry, sa_entry inside core_entry, ...) is checked there:
   * crit only runs on the others (fewer processes). Which message each type maps to is checked
   * against crit's handler table.
   */
  const insideOf = (magic: string, others: readonly string[]): string | undefined => {
    const schema = IMAGE_SCHEMAS[magic]!.entry;
    return others.find(
      (other) =>
        other !== magic &&
        entries
          .get(magic)!
          .every((mine, v) =>
            nestedMessages(IMAGE_SCHEMAS[other]!.entry, entries.get(other)![v]!).some(
              ([s, m]) => s === schema && isDeepStrictEqual(m, mine),
            ),
          ),
    );
  };
  const roots = CRIT_317_TYPES.filter((m) => insideOf(m, CRIT_317_TYPES) === undefined);
  // pretty output is compared for every type; plain output where it shows more than numbers
  const plainToo = new Set(roots.filter((m) => hasBytesOrAddresses(IMAGE_SCHEMAS[m]!.entry)));
  const runs = new Map<
    string,
    { plain?: CritRun; pretty: CritRun; encoded: CritRun & { bytes?: Uint8Array } }
  >();

  before(async () => {
    if (!HAVE_CRIT) return;
    const jobs = roots.map((magic) => async () => {
      const buf = images.get(magic)!;
      const img = tmp(`synth-${magic}.img`);
      const json = tmp(`synth-${magic}.pretty.json`);
      const out = tmp(`synth-${magic}.out.img`);
      writeFileSync(img, buf);
      writeFileSync(json, decodeToJsonText(buf, true));
      const plain = plainToo.has(magic) ? await runCrit(['decode', '-i', img]) : undefined;
      const pretty = await runCrit(['decode', '--pretty', '-i', img]);
      const enc = await runCrit(['encode', '-i', json, '-o', out]);
      runs.set(magic, {
        plain,
        pretty,
        encoded: enc.ok ? { ...enc, bytes: new Uint8Array(readFileSync(out)) } : enc,
      });
    });
    await inBatches(jobs, CRIT_JOBS);
  });

  test("every type maps to the message crit's handler table names (extra-payload ones too)", {
    skip: existsSync(CRIT_IMAGES_PY) ? false : `${CRIT_IMAGES_PY} not found`,
  }, () => {
    const table = critHandlers();
    assert.ok(table.size >= 60, `only ${table.size} handlers found in ${CRIT_IMAGES_PY}`);
    const plainHandlers = [...table].filter(([, h]) => !h.extra).map(([m]) => m);
    // MEMFD_FILE has a handler but no magic in CRIU (memfd files live in files.img)
    assert.deepEqual(plainHandlers.filter((m) => m !== 'MEMFD_FILE').sort(), [...CRIT_317_TYPES].sort());
    for (const m of CRIT_317_TYPES) assert.equal(IMAGE_SCHEMAS[m]!.entry.name, table.get(m)!.message, m);
    for (const [m, h] of table) {
      if (!h.extra) continue;
      assert.ok(EXTRA_PAYLOAD_TYPES.includes(m), `${m} carries raw data`);
      assert.equal(IMAGE_SCHEMAS[m]!.entry.name, h.message, m);
    }
    const noCritHandler = ['PAGEMAP', 'SIGNAL', 'BINFMT_MISC', 'PIDFD'];
    assert.deepEqual(
      Object.keys(IMAGE_SCHEMAS)
        .filter((m) => !noCritHandler.includes(m) && !EXTRA_PAYLOAD_TYPES.includes(m))
        .sort(),
      [...CRIT_317_TYPES].sort(),
    );
  });

  test('crit runs on the types not already inside another one', () => {
    assert.ok(roots.includes('CORE') && roots.includes('FILES') && roots.includes('MM'));
    assert.ok(roots.length < CRIT_317_TYPES.length);
  });

  for (const magic of CRIT_317_TYPES) {
    const inside = roots.includes(magic) ? undefined : insideOf(magic, roots);
    test(inside ? `${magic} (its entries are inside the ${inside} image)` : magic, () => {
      if (!roots.includes(magic)) {
        assert.ok(inside, `${magic} is inside no type crit runs on`);
        return;
      }
      const buf = images.get(magic)!;
      const run = runs.get(magic);
      if (plainToo.has(magic)) {
        assertSameJson(parseJson(decodeToJsonText(buf, false)), parseJson(critOk(run?.plain, 'crit decode')));
      }
      assertSameJson(
        parseJson(decodeToJsonText(buf, true)),
        parseJson(critOk(run?.pretty, 'crit decode --pretty')),
        '$pretty',
      );
      critOk(run?.encoded, 'crit encode of our pretty JSON');
      assertSameBytes(run!.encoded.bytes!, buf, 'crit encode of our pretty JSON');
    });
  }
});
