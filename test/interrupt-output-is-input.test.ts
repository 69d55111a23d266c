/**
 * `-o` naming an input (issue 17, 6): an output that is an input file, a link to one, or a file
 * inside an input image directory (any layer of the input stack) is refused by the one atomic
 * writer (src/engine/output.ts refuseInputs) before anything is written: the input keeps its
 * bytes and no temporary is left beside it.
 */
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, linkSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { refuseInputs } from '../src/engine/output.js';
import { cli } from './helpers/cli.js';
import { hashDir, testDir } from './helpers/files.js';
import { FIX } from './helpers/fixtures.js';
import { archiveOfStack } from './helpers/tar.js';

const W = testDir('out-in');

/** Runs `args`; expects exit 1 and the one refusal line, and `dir` unchanged (no temporaries). */
async function refused(args: string[], dir: string): Promise<string> {
  const before = hashDir(dir);
  const r = await cli(args);
  assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
  assert.match(
    r.err,
    /^pagestack: [^\n]*: (is the input|is inside the input directory|is a hard link to)[^\n]*an input of this command; write the output elsewhere\n$/,
  );
  assert.deepEqual(hashDir(dir), before, `${args.join(' ')}: ${dir} changed`);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes('.pagestack-')),
    [],
    'a temporary was left',
  );
  return r.err;
}

describe('-o naming an input is refused before anything is written', () => {
  const stack = join(W, 'stack');
  cpSync(join(FIX, 'series-stack'), stack, { recursive: true, verbatimSymlinks: true });
  const tarDir = join(W, 'tars');
  cpSync(join(FIX, 'single'), join(W, 'single'), { recursive: true });

  test('export, read and decode of an archive onto the archive itself', async () => {
    mkdirSync(tarDir);
    const tar = join(tarDir, 'A.tar');
    copyFileSync(archiveOfStack(join(FIX, 'single')), tar);
    await refused(['export', tar, '-o', tar], tarDir);
    await refused(['export', tar, '--format', 'raw', '-o', tar, '--force'], tarDir);
    await refused(['read', tar, '0x7f0000000000', '4096', '-o', tar, '--zero'], tarDir);
    await refused(['decode', tar, 'pstree.img', '-o', tar], tarDir);
    // a symbolic link to it, and a hard link to it, are the input too
    symlinkSync('A.tar', join(tarDir, 'sym.tar'));
    await refused(['decode', tar, 'pstree.img', '-o', join(tarDir, 'sym.tar')], tarDir);
    linkSync(tar, join(tarDir, 'hard.tar'));
    await refused(['export', tar, '-o', join(tarDir, 'hard.tar')], tarDir);
  });

  test('decode, encode and export onto a file of an input image directory, any layer', async () => {
    const single = join(W, 'single');
    const pm = readdirSync(single).find((n) => n.startsWith('pagemap-'))!;
    await refused(['decode', join(single, pm), '-o', join(single, pm)], single);
    mkdirSync(join(W, 'json'));
    const json = join(W, 'json', 'pm.json');
    const r = await cli(['decode', join(single, pm), '-o', json]);
    assert.equal(r.code, 0, r.err);
    await refused(['encode', json, '-o', json], join(W, 'json'));
    // the bottom layer of a stack, reached through the top's parent links
    const bottom = join(stack, '1');
    await refused(['export', join(stack, '3'), '-o', join(bottom, 'core.elf')], bottom);
    await refused(['read', join(stack, '3'), '0x0', '4096', '--zero', '-o', join(bottom, 'x.raw')], bottom);
  });

  test('outputs elsewhere still work, and refuseInputs ignores sources that are no local files', async () => {
    const out = join(W, 'fine.json');
    const single = join(W, 'single');
    const r = await cli(['decode', join(single, 'pstree.img'), '-o', out]);
    assert.equal(r.code, 0, r.err);
    await refuseInputs(join(W, 'x'), [
      { name: 's3://bucket/layer', id: 's3://bucket/layer' } as never,
      join(W, 'fine.json'),
    ]);
    writeFileSync(join(W, 'y'), 'y');
    await assert.rejects(refuseInputs(join(W, 'y'), [join(W, 'y')]), { code: 'PAGESTACK_OUTPUT_IS_INPUT' });
  });
});
