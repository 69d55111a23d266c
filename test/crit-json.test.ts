/**
 * Our crit JSON against crit 4.2's own output for every fixture image (plain and --pretty), and
 * the crit display conventions one at a time on synthetic entries (expected strings as Python's
 * pb2dict makes them: quopri, ipaddress, os.major/minor, "0x%x", base64.encodebytes).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { decodeToJsonText, encodeFromJsonText, encodeImage } from '../src/image/image.js';
import { type JsonValue, parseJson } from '../src/image/jsontext.js';
import type { Message } from '../src/image/schema.js';
import { assertSameJson } from './helpers/assert.js';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { FIX, fixtureImages } from './helpers/fixtures.js';

const CRIT_JSON = join(FIX, 'crit-json');

const IMAGES = fixtureImages();

describe('our crit JSON equals crit 4.2 output for every fixture image', () => {
  test('there is a crit 4.2 JSON pair for every fixture image and nothing else', () => {
    const expected = IMAGES.flatMap((rel) => [`${rel}.json`, `${rel}.pretty.json`]).sort();
    const present = readdirSync(CRIT_JSON, { recursive: true, encoding: 'utf8' })
      .filter((p) => p.endsWith('.json'))
      .sort();
    assert.equal(IMAGES.length, 138);
    assert.deepEqual(present, expected);
  });

  for (const rel of IMAGES) {
    test(rel, () => {
      const buf = new Uint8Array(readFileSync(join(FIX, rel)));
      for (const pretty of [false, true]) {
        const ours = decodeToJsonText(buf, pretty);
        const crit = readFileSync(join(CRIT_JSON, `${rel}${pretty ? '.pretty' : ''}.json`), 'utf8');
        assertSameJson(parseJson(ours), parseJson(crit), pretty ? '$pretty' : '$');
      }
    });
  }

  test("the text itself is crit's, byte for byte (Python json.dumps layout)", () => {
    for (const rel of IMAGES) {
      const buf = new Uint8Array(readFileSync(join(FIX, rel)));
      for (const pretty of [false, true]) {
        const crit = readFileSync(join(CRIT_JSON, `${rel}${pretty ? '.pretty' : ''}.json`), 'utf8');
        assert.equal(decodeToJsonText(buf, pretty), crit.trimEnd(), `${rel}${pretty ? ' --pretty' : ''}`);
      }
    }
  });

  test("`decode -o FILE` writes crit's `decode -o` file byte for byte (no newline at the end)", async () => {
    const dir = testDir('crit-json-o');
    const some = IMAGES.filter((rel) => /(^|\/)(pagemap-|core-|pstree|mm-)/.test(rel));
    assert.ok(some.length >= 8);
    for (const rel of some) {
      for (const pretty of [false, true]) {
        const out = join(dir, 'out.json');
        const r = await cli(['decode', join(FIX, rel), '-o', out, ...(pretty ? ['--pretty'] : [])]);
        assert.equal(r.code, 0, r.err);
        const crit = readFileSync(join(CRIT_JSON, `${rel}${pretty ? '.pretty' : ''}.json`));
        assert.ok(readFileSync(out).equals(crit), `${rel}${pretty ? ' --pretty' : ''}`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// crit's conventions, one by one

/** One-entry image -> [plain JSON of the entry, pretty JSON of the entry]; checks both re-encode. */
function entryJson(magic: string, entry: Message): [JsonValue, JsonValue] {
  const buf = encodeImage({ magic, framing: 'common', entries: [entry] });
  const out = [false, true].map((pretty) => {
    const text = decodeToJsonText(buf, pretty);
    assert.deepEqual(
      encodeFromJsonText(text),
      buf,
      `${magic} ${pretty ? 'pretty' : 'plain'} JSON re-encodes`,
    );
    const doc = parseJson(text) as { magic: string; entries: JsonValue[] };
    assert.equal(doc.magic, magic);
    return doc.entries[0]!;
  });
  return [out[0]!, out[1]!];
}

const fown = { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 };
const skOpts = {
  so_sndbuf: 1,
  so_rcvbuf: 2,
  so_snd_tmo_sec: 0n,
  so_snd_tmo_usec: 0n,
  so_rcv_tmo_sec: 0n,
  so_rcv_tmo_usec: 0n,
};

describe('crit display conventions', () => {
  test('unix socket names are quoted-printable (quopri), not base64', () => {
    const name = Uint8Array.from([0, ...Buffer.from('/run/sock=1 \t'), 0xff]);
    const long = new Uint8Array(80).fill(0x78);
    for (const [bytes, text] of [
      [name, '=00/run/sock=3D1 \t=FF'],
      [long, `${'x'.repeat(75)}=\n${'x'.repeat(5)}`],
      [Buffer.from('.'), '=2E'],
      [Buffer.from('/tmp/a b \n'), '/tmp/a b=20\n'],
    ] as const) {
      const entry = {
        id: 1,
        ino: 2,
        type: 1,
        state: 7,
        flags: 0,
        uflags: 0,
        backlog: 0,
        peer: 0,
        fown,
        opts: skOpts,
        name: new Uint8Array(bytes),
      };
      const [plain, pretty] = entryJson('UNIXSK', entry);
      assert.equal((plain as Record<string, JsonValue>)['name'], text);
      assert.equal((pretty as Record<string, JsonValue>)['name'], text);
      assert.equal((pretty as Record<string, JsonValue>)['type'], 'STREAM');
      assert.equal((pretty as Record<string, JsonValue>)['state'], 'CLOSE');
    }
  });

  test('(criu).ipadd: one word is IPv4, four are IPv6 in compressed form; dict "sk" names', () => {
    const cases: [number[], string][] = [
      [[16777343], '127.0.0.1'],
      [[50462986], '10.1.2.3'],
      [[3087860000, 0, 0, 16777216], '2001:db8::1'],
      [[0, 0, 0, 16777216], '::1'],
      [[0, 0, 4294901760, 67305985], '::ffff:102:304'],
      [[256, 33554432, 0, 50331648], '1:0:0:2::3'],
      [[256, 33554432, 0, 67109632], '1::2:0:0:3:4'],
      [[0, 0, 0, 0], '::'],
      [[33022, 0, 256, 0], 'fe80::1:0:0:0'],
    ];
    for (const [words, text] of cases) {
      const entry = {
        id: 1,
        ino: 2,
        family: words.length === 1 ? 2 : 10,
        type: 1,
        proto: 6,
        state: 10,
        src_port: 80,
        dst_port: 0,
        flags: 0x800,
        backlog: 128,
        src_addr: words,
        dst_addr: words,
        fown,
        opts: skOpts,
      };
      const [plain, pretty] = entryJson('INETSK', entry) as Record<string, JsonValue>[];
      assert.deepEqual(plain!['src_addr'], words);
      assert.deepEqual(pretty!['src_addr'], [text]);
      assert.deepEqual(pretty!['dst_addr'], [text]);
      assert.equal(pretty!['family'], words.length === 1 ? 'INET' : 'INET6');
      assert.equal(pretty!['proto'], 'TCP');
      assert.equal(pretty!['state'], 'LISTEN');
      assert.equal(pretty!['flags'], '0x800');
      assert.equal(plain!['family'], words.length === 1 ? 2 : 10);
    }
  });

  test('(criu).dict values outside the table stay numbers', () => {
    const entry = {
      id: 1,
      ino: 2,
      family: 99,
      type: 77,
      proto: 255,
      state: 0,
      src_port: 0,
      dst_port: 0,
      flags: 0,
      backlog: 0,
      fown,
      opts: skOpts,
    };
    const [, pretty] = entryJson('INETSK', entry) as Record<string, JsonValue>[];
    assert.equal(pretty!['family'], 99);
    assert.equal(pretty!['type'], 77);
    assert.equal(pretty!['proto'], 255);
    assert.equal(pretty!['state'], 0);
  });

  test('(criu).dev is major:minor with 20 minor bits; with odev, glibc major()/minor()', () => {
    const [, mnt] = entryJson('MNTS', {
      fstype: 5,
      mnt_id: 1,
      root_dev: 0x12345678,
      parent_mnt_id: 0,
      flags: 0x1000,
      root: '/',
      mountpoint: '/tmp',
      source: 'tmpfs',
      options: 'mode=755',
    }) as Record<string, JsonValue>[];
    assert.equal(mnt!['root_dev'], '291:284280');
    assert.equal(mnt!['flags'], '0x1000');
    assert.equal(mnt!['fstype'], 5);
    const [plain, irmap] = entryJson('IRMAP_CACHE', { dev: 0x12345678, inode: 7n, path: '/x' }) as Record<
      string,
      JsonValue
    >[];
    assert.equal(irmap!['dev'], '1110:74616');
    assert.equal(plain!['dev'], 0x12345678);
  });

  test('(criu).flags tables, leftover bits in hex, 0 as ""', () => {
    const vma = (prot: number, flags: number, status: number): Message => ({
      start: 0x1000n,
      end: 0x3000n,
      pgoff: 0n,
      shmid: 0n,
      prot,
      flags,
      status,
      fd: -1n,
    });
    const [plain, pretty] = entryJson('VMAS', vma(7, 0x22 | 0x4000, 0x4081)) as Record<string, JsonValue>[];
    assert.equal(pretty!['prot'], 'PROT_READ | PROT_WRITE | PROT_EXEC');
    assert.equal(pretty!['flags'], 'MAP_PRIVATE | MAP_ANON | 0x4000');
    assert.equal(pretty!['status'], 'VMA_AREA_REGULAR | VMA_FILE_SHARED | VMA_AREA_MEMFD');
    assert.equal(pretty!['start'], '0x1000');
    assert.equal(pretty!['fd'], -1);
    assert.equal(plain!['fd'], -1);
    const [, zero] = entryJson('VMAS', vma(0, 0, 2 ** 31 + 2 ** 16)) as Record<string, JsonValue>[];
    assert.equal(zero!['prot'], '');
    assert.equal(zero!['flags'], '');
    assert.equal(zero!['status'], 'VMA_UNSUPP | 0x10000');
  });

  test('(criu).hex reaches everything nested under it, and only in pretty mode', () => {
    const regs: Message = {};
    const names = ['r15', 'r14', 'r13', 'r12', 'bp', 'bx', 'r11', 'r10', 'r9', 'r8', 'ax', 'cx', 'dx', 'si'];
    for (const n of [...names, 'di', 'orig_ax', 'ip', 'cs', 'flags', 'sp', 'ss', 'fs_base', 'gs_base']) {
      regs[n] = 0n;
    }
    for (const n of ['ds', 'es', 'fs', 'gs']) regs[n] = 0n;
    regs['ax'] = 2n ** 64n - 4n;
    regs['mode'] = 1;
    const core: Message = {
      mtype: 1,
      thread_info: {
        clear_tid_addr: 0x7f2272bf4990n,
        gpregs: regs,
        fpregs: { cwd: 895, swd: 0, twd: 0, fop: 0, rip: 0n, rdp: 0n, mxcsr: 8064, mxcsr_mask: 65535 },
      },
      tc: { task_state: 1, exit_code: 0, personality: 0, flags: 0x400040, blk_sigset: 0n, comm: 'x' },
    };
    const [plain, pretty] = entryJson('CORE', core) as Record<string, Record<string, JsonValue>>[];
    const ti = pretty!['thread_info'] as Record<string, Record<string, JsonValue>>;
    assert.equal(ti['clear_tid_addr'] as unknown, '0x7f2272bf4990');
    assert.equal(ti['gpregs']!['ax'], '0xfffffffffffffffc');
    assert.equal(ti['gpregs']!['r15'], '0x0');
    assert.equal(ti['gpregs']!['mode'], 'NATIVE');
    assert.equal(ti['fpregs']!['cwd'], 895);
    assert.equal(pretty!['tc']!['task_state'], 'Alive');
    assert.equal(pretty!['tc']!['flags'], 0x400040);
    assert.equal(pretty!['tc']!['blk_sigset'], '0x0');
    assert.equal(pretty!['mtype'] as unknown, 'X86_64');
    const pti = plain!['thread_info'] as Record<string, Record<string, JsonValue>>;
    assert.equal(pti['gpregs']!['ax'], 2n ** 64n - 4n);
    assert.equal(plain!['tc']!['task_state'], 1);
  });

  test('enums print by name; a value the enum lacks stays a number and re-encodes', () => {
    const [plain, pretty] = entryJson('FDINFO', { id: 1, flags: 0, type: 20, fd: 3 }) as Record<
      string,
      JsonValue
    >[];
    assert.equal(plain!['type'], 'PIDFD');
    assert.equal(pretty!['type'], 'PIDFD');
    const [odd] = entryJson('FDINFO', { id: 1, flags: 0, type: 4242, fd: 3 }) as Record<string, JsonValue>[];
    assert.equal(odd!['type'], 4242);
  });

  test('bytes are base64 in Python encodebytes layout: 76-character lines, each ending "\\n"', () => {
    const filter = Uint8Array.from({ length: 100 }, (_, i) => i);
    const [plain] = entryJson('SECCOMP', { seccomp_filters: [{ filter, prev: 0 }] }) as Record<
      string,
      Record<string, JsonValue>[]
    >[];
    assert.equal(
      plain!['seccomp_filters']![0]!['filter'],
      'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\n' +
        'OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiYw==\n',
    );
    const [empty] = entryJson('SECCOMP', { seccomp_filters: [{ filter: new Uint8Array(0) }] }) as Record<
      string,
      Record<string, JsonValue>[]
    >[];
    assert.equal(empty!['seccomp_filters']![0]!['filter'], '');
  });

  test('proto2 presence: an empty sub-message stays, an absent one stays absent, empty lists vanish', () => {
    const [withPlugins] = entryJson('INVENTORY', { img_version: 2, plugins_entry: {} }) as Record<
      string,
      JsonValue
    >[];
    assert.deepEqual(withPlugins, { img_version: 2, plugins_entry: {} });
    const [without] = entryJson('INVENTORY', { img_version: 2 }) as Record<string, JsonValue>[];
    assert.deepEqual(without, { img_version: 2 });
    const [tree] = entryJson('PSTREE', { pid: 1, ppid: 0, pgid: 1, sid: 1, threads: [] });
    assert.deepEqual(tree, { pid: 1, ppid: 0, pgid: 1, sid: 1 });
  });

  test('signed and 64-bit integers are exact in both directions', () => {
    const [plain, pretty] = entryJson('FILE_LOCKS', {
      flag: 1,
      type: 2,
      pid: -1,
      fd: -2147483648,
      start: -(2n ** 63n),
      len: 2n ** 63n - 1n,
    }) as Record<string, JsonValue>[];
    for (const doc of [plain!, pretty!]) {
      assert.equal(doc['pid'], -1);
      assert.equal(doc['fd'], -2147483648);
      assert.equal(doc['start'], -(2n ** 63n));
      assert.equal(doc['len'], 2n ** 63n - 1n);
    }
    const [stats] = entryJson('STATS', {
      dump: {
        freezing_time: 4294967295,
        frozen_time: 0,
        memdump_time: 0,
        memwrite_time: 0,
        pages_scanned: 2n ** 64n - 1n,
        pages_skipped_parent: 2n ** 53n + 1n,
        pages_written: 0n,
        pages_lazy: 0n,
      },
    }) as Record<string, Record<string, JsonValue>>[];
    assert.equal(stats!['dump']!['freezing_time'], 4294967295);
    assert.equal(stats!['dump']!['pages_scanned'], 2n ** 64n - 1n);
    assert.equal(stats!['dump']!['pages_skipped_parent'], 2n ** 53n + 1n);
  });
});
