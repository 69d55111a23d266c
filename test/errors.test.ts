/**
 * Errors with codes (src/errors.ts): what real fixtures and bad input raise carries a stable code
 * and the place in `data`, survives JSON, and its message names no CLI flag; the CLI adds the flag
 * hints (src/cli/errors.ts) and prints the same lines as before.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cliMessage } from '../src/cli/errors.js';
import {
  ERROR_CODES,
  ImageFormatError,
  MemoryAccessError,
  PagestackError,
  StackError,
} from '../src/errors.js';
import { decodeImage } from '../src/image/image.js';
import { squash } from '../src/ops/squash.js';
import { openStackDir } from '../src/source/open.js';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { FIX, fixture } from './helpers/fixtures.js';

const tmp = testDir('errors');

async function caught(p: Promise<unknown> | (() => unknown)): Promise<PagestackError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.ok(e instanceof PagestackError, `a PagestackError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

describe('error codes and data', () => {
  test('every code is listed once, with what it means', () => {
    for (const [code, what] of Object.entries(ERROR_CODES)) {
      assert.match(code, /^PAGESTACK_[A-Z0-9_]+$/);
      assert.ok(what.length > 10, code);
    }
  });

  test('a cut image: PAGESTACK_IMAGE_FORMAT with the file and offset, also in JSON', async () => {
    const bytes = readFileSync(join(FIX, 'single', 'pstree.img')).subarray(0, 10);
    const e = await caught(() => {
      try {
        decodeImage(bytes);
      } catch (err) {
        if (err instanceof ImageFormatError) throw err.withFile('cut/pstree.img');
        throw err;
      }
    });
    assert.equal(e.code, 'PAGESTACK_IMAGE_FORMAT');
    assert.equal(e.data.file, 'cut/pstree.img');
    assert.equal(typeof e.data.offset, 'number');
    const json = JSON.parse(JSON.stringify(e)) as { code: string; data: { file: string }; message: string };
    assert.equal(json.code, 'PAGESTACK_IMAGE_FORMAT');
    assert.equal(json.data.file, 'cut/pstree.img');
    assert.equal(json.message, e.message);
  });

  test('reads: not dumped, lazy and unmapped each have their code and the address', async () => {
    const cases: [string, number, string][] = [
      ['single', 0x1000, 'PAGESTACK_MEMORY_UNMAPPED'],
      ['lazy', -1, 'PAGESTACK_MEMORY_LAZY'],
    ];
    for (const [dir, at, code] of cases) {
      const s = await openStackDir(fixture(dir));
      try {
        const mem = await s.process(await s.pickPid());
        let addr = at;
        if (addr < 0) {
          // the first lazy page of the private pagemap
          const x = mem.private.extents;
          let i = 0;
          while (x.layer[i]! >= 0) i++;
          addr = x.start[i]! * 4096;
        }
        const e = await caught(mem.read(addr, 16));
        assert.ok(e instanceof MemoryAccessError);
        assert.equal(e.code, code);
        assert.equal(e.data.address, addr);
      } finally {
        await s.close();
      }
    }
  });

  test('library messages name no flags; the CLI adds them by code', async () => {
    const s = await openStackDir(fixture('tree'));
    try {
      const e = await caught(s.pickPid());
      assert.equal(e.code, 'PAGESTACK_PID_REQUIRED');
      assert.doesNotMatch(e.message, /--/);
      assert.equal(cliMessage(e), 'the stack has 3 processes, choose one with --pid: 25155, 25158, 25159');
    } finally {
      await s.close();
    }
    const st = await openStackDir(fixture('series-stack', '3'));
    try {
      const e = await caught(squash(st, { out: join(tmp, 'never'), keepBelow: 7 }));
      assert.ok(e instanceof StackError);
      assert.equal(e.code, 'PAGESTACK_LAYER_OUT_OF_RANGE');
      assert.doesNotMatch(e.message, /--/);
      assert.match(
        cliMessage(e),
        /^--keep-below 7: the stack of .* has layers 0 \(top\) to 2; choose one from 1 to 2$/,
      );
    } finally {
      await st.close();
    }
    const r = await cli([
      'squash',
      fixture('series-stack', '3'),
      '-o',
      join(tmp, 'never'),
      '--keep-below',
      '7',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^pagestack: --keep-below 7: the stack of .* choose one from 1 to 2\n$/);
  });
});
