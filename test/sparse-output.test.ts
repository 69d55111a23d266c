/**
 * Sparse pages files in, sparse pages files out: a stack whose pages files are holes (read as
 * zeros) squashed or delta'd is not written out densely (issue: a 1 TiB sparse pages file was
 * written until the disk was full). Chunks of zeros become holes in the layer writer; the memory
 * read back is the same.
 */
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateStack } from '../bench/gen.js';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { assertSameMemory } from './helpers/stacks.js';

const SIZE = 256 << 20;

test('squash and delta of a stack with sparse pages files write holes, not zeros', async () => {
  const root = join(testDir('sparse-output'), 'stack');
  mkdirSync(root, { recursive: true });
  const g = await generateStack(root, { bytes: SIZE, layers: 2, sparse: true, dirtyMin: 0.1, dirtyMax: 0.1 });
  for (const f of g.pagesFiles) assert.ok(statSync(f).blocks * 512 < 1 << 20, `${f} is sparse`);

  const flat = join(testDir('sparse-output'), 'flat');
  const sq = await cli(['squash', g.top, '-o', flat]);
  assert.equal(sq.code, 0, sq.err);
  const st = statSync(join(flat, 'pages-1.img'));
  assert.equal(st.size, SIZE, 'every page is present');
  assert.ok(st.blocks * 512 < 1 << 20, `squash wrote ${st.blocks * 512} bytes of zeros`);
  await assertSameMemory(g.top, flat);

  const d = join(testDir('sparse-output'), 'delta');
  const dl = await cli(['delta', g.dirs[0]!, flat, '-o', d, '--force']);
  assert.equal(dl.code, 0, dl.err);
  const dst = statSync(join(d, 'pages-1.img'));
  assert.ok(dst.blocks * 512 < 1 << 20, `delta wrote ${dst.blocks * 512} bytes of zeros`);
  await assertSameMemory(flat, d);
});
