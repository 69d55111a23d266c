/**
 * Bad input for `pagestack decode` and `pagestack encode`: every case gives exactly one line on
 * stderr naming the file, the byte offset (or JSON path / line and column) and what was expected,
 * exit status 1 (2 for usage errors), no stack trace, no hang. Most cases run the CLI in-process
 * (runCli with captured streams); a few run the real program to check the process side.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { entryLength, readFraming } from '../src/image/image.js';
import { type CliRun, cli } from './helpers/cli.js';

const FIX = join(import.meta.dirname, 'fixtures', 'criu-4.2');
const REPO = join(import.meta.dirname, '..');
const PAGEMAP = join(FIX, 'single', 'pagemap-24588.img');
const CORE = join(FIX, 'single', 'core-24588.img');
const tmp = mkdtempSync(join(tmpdir(), 'pagestack-bad-input-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes `bytes` to a fresh file in the temp dir and returns its path. */
let seq = 0;
function file(name: string, bytes: Uint8Array | string): string {
  const p = join(tmp, `${seq++}-${name}`);
  writeFileSync(p, bytes);
  return p;
}

/** The run failed cleanly: status, one line, the file named, every `parts` in the line, no trace. */
function assertOneLine(r: CliRun, code: number, ...parts: (string | RegExp)[]): string {
  assert.equal(r.code, code, `exit status (stderr: ${r.err})`);
  assert.equal(r.bytes.length, 0, 'nothing on stdout');
  assert.match(r.err, /^pagestack: [^\n]+\n$/, `exactly one line on stderr, got ${JSON.stringify(r.err)}`);
  assert.doesNotMatch(r.err, /\bat .*:\d+:\d+|internal error/, 'no stack trace');
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(r.err.includes(p), `${JSON.stringify(r.err)} should mention ${p}`);
    else assert.match(r.err, p);
  }
  return r.err;
}

const pagemap = new Uint8Array(readFileSync(PAGEMAP));
const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const HEADER = [...pagemap.subarray(0, 8)]; // common magic + PAGEMAP

/** A pagemap image: header, then entries with the given message bytes. */
function image(...entries: number[][]): Uint8Array {
  const out = [...HEADER];
  for (const e of entries) out.push(...u32(e.length), ...e);
  return new Uint8Array(out);
}

/** Offsets of the length prefixes of every entry of an image. */
function entryOffsets(buf: Uint8Array): number[] {
  const offs: number[] = [];
  let off = readFraming(buf).start;
  for (let i = 0; off < buf.length; i++) {
    offs.push(off);
    off += 4 + entryLength(buf, off, i);
  }
  return offs;
}

describe('decode: bad image bytes', () => {
  test('wrong magic', async () => {
    const f = file('bad-magic.img', 'abcdefgh\x04\x00\x00\x00\x08\x01\x10\x02');
    assertOneLine(await cli(['decode', f]), 1, f, 'offset 0', 'unknown magic 0x64636261', 'expected');
  });

  test('unknown type magic after the common magic', async () => {
    const f = file('bad-type.img', new Uint8Array([...HEADER.slice(0, 4), 1, 2, 3, 4, 0, 0, 0, 0]));
    assertOneLine(await cli(['decode', f]), 1, f, 'offset 4', 'unknown image magic 0x04030201');
  });

  test('empty file and truncated headers', async () => {
    for (const n of [0, 1, 3]) {
      const f = file(`short-${n}.img`, pagemap.subarray(0, n));
      assertOneLine(await cli(['decode', f]), 1, f, 'offset 0', 'truncated header', 'expected at least 4');
    }
    for (const n of [4, 5, 7]) {
      const f = file(`short-${n}.img`, pagemap.subarray(0, n));
      assertOneLine(await cli(['decode', f]), 1, f, 'offset 0', 'truncated header', 'expected 8');
    }
  });

  test('truncated entry header (fewer than 4 bytes of length)', async () => {
    const offs = entryOffsets(pagemap);
    const f = file('trunc-hdr.img', pagemap.subarray(0, offs[5]! + 2));
    assertOneLine(
      await cli(['decode', f]),
      1,
      f,
      `offset ${offs[5]}`,
      'truncated entry header: 2 bytes left',
      'expected a 4-byte length',
    );
  });

  test('an entry length past the end of the file, at every cut inside an entry', async () => {
    const offs = entryOffsets(pagemap);
    const k = 7;
    const len = offs[k + 1]! - offs[k]! - 4;
    for (let cut = offs[k]! + 4; cut < offs[k + 1]!; cut++) {
      const f = file('trunc.img', pagemap.subarray(0, cut));
      assertOneLine(
        await cli(['decode', f]),
        1,
        f,
        `offset ${offs[k]}: entry ${k} claims ${len} bytes but only ${cut - offs[k]! - 4} remain`,
      );
    }
  });

  test('a claimed 4 GiB entry in a 1 KiB file: an error at once, nothing allocated', async () => {
    const b = new Uint8Array(1024);
    b.set(pagemap.subarray(0, 8));
    b.set(u32(0xffffffff), 8);
    const f = file('huge.img', b);
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    const r = await cli(['decode', f]);
    assert.ok(performance.now() - t0 < 5000);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 << 20, 'no big allocation');
    assertOneLine(r, 1, f, 'offset 8', 'entry 0 claims 4294967295 bytes but only 1012 remain in the file');
  });

  test('invalid varints: longer than 10 bytes, more than 64 bits, cut short', async () => {
    // pagemap_head { pages_id: varint } at offset 12 (key), 13 (value)
    let f = file('varint-11.img', image([0x08, ...new Array(10).fill(0xff), 0x01]));
    assertOneLine(await cli(['decode', f]), 1, f, 'offset 13', 'invalid varint', 'expected at most 10');
    f = file('varint-65.img', image([0x08, ...new Array(9).fill(0xff), 0x02]));
    assertOneLine(await cli(['decode', f]), 1, f, 'offset 13', 'invalid varint: more than 64 bits');
    f = file('varint-cut.img', image([0x08, 0xff, 0xff]));
    assertOneLine(await cli(['decode', f]), 1, f, 'offset 13', 'truncated varint');
    // in a pagemap_entry: vaddr cut short (the entry starts at 18: 12 + 2 + 4 length)
    f = file('varint-entry.img', image([0x08, 0x01], [0x08, 0x80, 0x80]));
    assertOneLine(await cli(['decode', f]), 1, f, 'offset 19', 'truncated varint');
  });

  test('invalid wire types and field numbers', async () => {
    let f = file('wire-3.img', image([0x0b, 0x01]));
    assertOneLine(
      await cli(['decode', f]),
      1,
      f,
      'offset 12',
      'invalid wire type 3 for field 1',
      'expected 0, 1, 2 or 5',
    );
    f = file('wire-4.img', image([0x08, 0x01], [0x0c]));
    assertOneLine(await cli(['decode', f]), 1, f, 'offset 18', 'invalid wire type 4');
    f = file('field-0.img', image([0x08, 0x01], [0x00, 0x01]));
    assertOneLine(
      await cli(['decode', f]),
      1,
      f,
      'offset 18',
      'invalid field number 0',
      'expected 1 or more',
    );
    // a known field with the wrong wire type: vaddr as length-delimited
    f = file('wire-mismatch.img', image([0x08, 0x01], [0x0a, 0x01, 0x00]));
    assertOneLine(
      await cli(['decode', f]),
      1,
      f,
      'offset 18',
      'pagemap_entry.vaddr: wire type 2, expected 0',
    );
    // a length-delimited field whose length runs past the message
    f = file('len-past.img', image([0x08, 0x01], [0x32, 0x7f, 0x00]));
    assertOneLine(await cli(['decode', f]), 1, f, 'offset 19', 'length 127 runs past the end of the message');
    // a fixed64 cut short
    f = file('fixed-cut.img', image([0x08, 0x01], [0x31, 0x00, 0x00]));
    assertOneLine(await cli(['decode', f]), 1, f, 'offset 19', 'truncated fixed64: expected 8 bytes, 2 left');
  });

  test('a string that is not UTF-8', async () => {
    // core_entry.tc (field 3) .comm (field 6, string); type magic CORE
    const core = new Uint8Array(readFileSync(CORE));
    const header = [...core.subarray(0, 8)];
    const msg = [0x1a, 0x04, 0x32, 0x02, 0xc3, 0x28];
    const f = file('bad-utf8.img', new Uint8Array([...header, ...u32(msg.length), ...msg]));
    const r = await cli(['decode', f]);
    assertOneLine(r, 1, f, 'offset 15', 'comm: string is not valid UTF-8');
  });

  test('a pages file is named as raw pages', async () => {
    const f = join(FIX, 'single', 'pages-1.img');
    assertOneLine(await cli(['decode', f]), 1, f, 'raw memory pages');
  });

  test('odd images that are valid decode (unknown fields kept, repeated fields)', async () => {
    const f = file('odd.img', image([0x08, 0x01], [0x08, 0x80, 0x20, 0x10, 0x00, 0x98, 0x06, 0x05]));
    const r = await cli(['decode', f]);
    assert.equal(r.code, 0, r.err);
    assert.equal(
      r.out,
      '{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"vaddr": 4096, "compat_nr_pages": 0, "_unknown": [[99, 0, "05"]]}]}\n',
    );
  });
});

describe('decode and encode: bad paths', () => {
  test('a directory', async () => {
    const d = join(tmp, 'a-dir');
    mkdirSync(d);
    assertOneLine(await cli(['decode', d]), 1, d, 'is a directory', 'expected a file');
    assertOneLine(await cli(['encode', d]), 1, d, 'is a directory');
  });

  test('a missing file, a dangling symlink, a path through a regular file', async () => {
    const missing = join(tmp, 'no-such.img');
    assertOneLine(await cli(['decode', missing]), 1, missing, 'no such file or directory');
    const link = join(tmp, 'dangling.img');
    symlinkSync(join(tmp, 'nowhere'), link);
    assertOneLine(await cli(['decode', link]), 1, link, 'no such file or directory');
    assertOneLine(await cli(['encode', link]), 1, link, 'no such file or directory');
    const through = join(PAGEMAP, 'x.img');
    assertOneLine(await cli(['decode', through]), 1, through, 'not a directory');
    const loop = join(tmp, 'loop.img');
    symlinkSync(loop, loop);
    assertOneLine(await cli(['decode', loop]), 1, loop, 'too many levels of symbolic links');
  });

  test('a character device is refused, not read forever', async () => {
    assertOneLine(
      await cli(['decode', '/dev/zero']),
      1,
      '/dev/zero',
      'character device',
      'expected a regular file',
    );
  });

  test('an output path that cannot be written', async () => {
    const out = join(PAGEMAP, 'out.json');
    assertOneLine(await cli(['decode', PAGEMAP, '-o', out]), 1, out, 'cannot write', 'not a directory');
    const out2 = join(tmp, 'no-dir', 'x.img');
    const json = file('ok.json', '{"magic": "PAGEMAP", "entries": [{"pages_id": 1}]}');
    assertOneLine(await cli(['encode', json, '-o', out2]), 1, out2, 'cannot write', 'no such file');
  });
});

describe('usage errors exit 2', () => {
  test('missing argument, extra argument, unknown option, unknown command', async () => {
    assertOneLine(await cli(['decode']), 2, "missing required argument 'file'");
    assertOneLine(await cli(['encode']), 2, "missing required argument 'file'");
    // decode ARCHIVE MEMBER takes two; a third is too many
    assertOneLine(await cli(['decode', 'a', 'b', 'c']), 2, 'too many arguments');
    assertOneLine(await cli(['decode', PAGEMAP, '--bogus']), 2, "unknown option '--bogus'");
    assertOneLine(await cli(['decod', PAGEMAP]), 2, "unknown command 'decod'");
    assertOneLine(await cli(['decode', PAGEMAP, '-o']), 2, 'argument missing');
  });
});

describe('encode: bad JSON', () => {
  const enc = async (name: string, text: string | Uint8Array): Promise<[CliRun, string]> => {
    const f = file(name, text);
    return [await cli(['encode', f]), f];
  };

  test('invalid JSON names line and column', async () => {
    let [r, f] = await enc('cut.json', '{"magic": "PAGEMAP",\n "entries": [');
    assertOneLine(r, 1, f, 'invalid JSON at line 2 column 14', 'unexpected end of input');
    [r, f] = await enc('trailing.json', '{"magic": "PAGEMAP", "entries": []} x');
    assertOneLine(r, 1, f, 'line 1 column 37', 'trailing characters');
    [r, f] = await enc('comma.json', '{"magic": "PAGEMAP" "entries": []}');
    assertOneLine(r, 1, f, 'line 1 column 21', "expected ',' or '}'");
    [r, f] = await enc('empty.json', '');
    assertOneLine(r, 1, f, 'line 1 column 1');
    [r, f] = await enc('deep.json', '['.repeat(100_000));
    assertOneLine(r, 1, f, 'nested too deep');
    [r, f] = await enc('string.json', '{"magic": "PAGE');
    assertOneLine(r, 1, f, 'unterminated string');
  });

  test('not UTF-8', async () => {
    const [r, f] = await enc(
      'latin1.json',
      new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d]),
    );
    assertOneLine(r, 1, f, 'invalid UTF-8 at byte offset 6', 'expected JSON text');
  });

  test('wrong shapes and field types name the JSON path', async () => {
    const cases: [string, string, string[]][] = [
      ['[1, 2]', '$', ['expected an object']],
      ['{"entries": []}', '$.magic', ['expected the image magic name']],
      ['{"magic": "NOPE", "entries": []}', '$.magic', ["unknown magic 'NOPE'"]],
      ['{"magic": "PAGEMAP", "entries": {}}', '$.entries', ['expected an array']],
      ['{"magic": "PAGEMAP", "entries": [7]}', '$.entries[0]', ['expected an object']],
      [
        '{"magic": "PAGEMAP", "entries": [{"pages_id": "x"}]}',
        '$.entries[0].pages_id',
        ['expected an integer'],
      ],
      [
        '{"magic": "PAGEMAP", "entries": [{"pages_id": 1.5}]}',
        '$.entries[0].pages_id',
        ['expected an integer'],
      ],
      [
        '{"magic": "PAGEMAP", "entries": [{"pages_id": 4294967296}]}',
        '$.entries[0].pages_id',
        ['out of range for uint32'],
      ],
      [
        '{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"vaddr": [1]}]}',
        '$.entries[1].vaddr',
        ['expected an integer'],
      ],
      [
        '{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"vaddr": -1}]}',
        '$.entries[1].vaddr',
        ['out of range for uint64'],
      ],
      [
        '{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"vaddr": 0, "in_parent": "yes"}]}',
        '$.entries[1].in_parent',
        ['expected true or false'],
      ],
      [
        '{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"flags": "PE_BOGUS"}]}',
        '$.entries[1].flags',
        ['expected an integer'],
      ],
      // names that exist on every object's prototype are nothing special
      ['{"magic": "__proto__", "entries": [{}]}', '$.magic', ["unknown magic '__proto__'"]],
      ['{"magic": "constructor", "entries": [{}]}', '$.magic', ["unknown magic 'constructor'"]],
      [
        '{"magic": "CORE", "entries": [{"mtype": "toString"}]}',
        '$.entries[0].mtype',
        ["'toString' is not a value"],
      ],
      [
        '{"magic": "PAGEMAP", "entries": [{"pages_id": 1, "__proto__": {"x": 1}}]}',
        '$.entries[0].__proto__',
        ["has no field '__proto__'"],
      ],
      [
        '{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"colour": 1}]}',
        '$.entries[1].colour',
        ["has no field 'colour'"],
      ],
      [
        '{"magic": "PAGEMAP", "entries": [{"pages_id": 1, "_unknown": [[9, 0, ""]]}]}',
        '$.entries[0]._unknown[0][2]',
        ['expected exactly one varint'],
      ],
      [
        '{"magic": "PAGEMAP", "entries": [{"pages_id": 1, "_unknown": [[9, 5, "0102"]]}]}',
        '$.entries[0]._unknown[0][2]',
        ['expected 4 bytes for wire type 5'],
      ],
      [
        '{"magic": "PAGEMAP", "entries": [{"pages_id": 1, "_unknown": [[9, 3, ""]]}]}',
        '$.entries[0]._unknown[0]',
        ['expected [field number, wire type 0/1/2/5'],
      ],
    ];
    for (const [text, path, parts] of cases) {
      const [r, f] = await enc('shape.json', text);
      assertOneLine(r, 1, `${f}: ${path}: `, ...parts);
    }
  });

  test('bad JSON on stdin is named <stdin>', async () => {
    const r = await cli(['encode', '-'], new TextEncoder().encode('{"magic": 1}'));
    assertOneLine(r, 1, '<stdin>: $.magic: expected the image magic name as a string');
  });

  test('bytes fields: bad base64, bad hex', async () => {
    let [r, f] = await enc('b64.json', '{"magic": "TTY_DATA", "entries": [{"tty_id": 1, "data": "!!"}]}');
    assertOneLine(r, 1, `${f}: $.entries[0].data: `, 'expected base64');
    [r, f] = await enc(
      'hex.json',
      '{"magic": "PAGEMAP", "entries": [{"pages_id": 1, "_unknown": [[9, 2, "zz"]]}]}',
    );
    assertOneLine(r, 1, `${f}: $.entries[0]._unknown[0][2]: `, 'expected hex bytes');
  });
});

describe('the real program', () => {
  const main = join(REPO, 'src', 'cli', 'main.ts');
  const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', main, ...args],
        { cwd: REPO, encoding: 'utf8', timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });

  test('bad image: exit 1, one line, no stack trace', async () => {
    const f = file('p-trunc.img', pagemap.subarray(0, 100));
    const r = await run(['decode', f]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      new RegExp(
        `^pagestack: ${f}: offset \\d+: entry \\d+ claims \\d+ bytes but only \\d+ remain in the file\\n$`,
      ),
    );
  });

  test('usage error: exit 2, one line', async () => {
    const r = await run(['decode']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "pagestack: error: missing required argument 'file'\n");
  });

  test('bad JSON: exit 1, one line', async () => {
    const f = file('p-bad.json', '{"magic": "PAGEMAP", "entries": [{"pages_id": "one"}]}');
    const r = await run(['encode', f]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `pagestack: ${f}: $.entries[0].pages_id: expected an integer, got "one"\n`);
  });
});
