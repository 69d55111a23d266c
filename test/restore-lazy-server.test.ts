/**
 * The page server's two lazy options restore uses: `lazy.stack` (serve a stack opened by the
 * caller, from any source, with no STACK directory at all) and `lazy.onGet` (one call per GET
 * answered: what was asked and served, from which layers). Over the real series stack (CRIU 4.2
 * images, 3 layers), without CRIU.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeIov } from '../src/protocol/pageserver/iov.js';
import { closeRequest, getRequest } from '../src/protocol/pageserver/writer.js';
import { type LazyGet, PageServer } from '../src/server/page-server.js';
import { openTarget } from '../src/source/open.js';
import { FIX } from './helpers/fixtures.js';

const PID = 25238;

function exchange(port: number, bytes: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    const s = connect({ port, host: '127.0.0.1' }, () => s.write(bytes));
    s.on('data', (d: Buffer) => {
      got.push(d);
      // GET answer (32 + 64 pages) + CLOSE answer (4)
      if (Buffer.concat(got).length >= 32 + 64 * 4096 + 4) s.end();
    });
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(got)));
  });
}

test('lazy.stack + lazy.onGet: a stack given open is served (no STACK directory); each GET reported', async () => {
  const stack = await openTarget(join(FIX, 'series-stack', '3'));
  const gets: LazyGet[] = [];
  const server = await PageServer.start({
    stack: '/nonexistent/only-a-name',
    port: 0,
    lazy: { stack, onGet: (g) => gets.push(g) },
  });
  try {
    const out = await exchange(
      server.port,
      Buffer.concat([getRequest(PID, 0x300000000000n, 64), closeRequest()]),
    );
    const h = decodeIov(out, 0, 'iov32');
    assert.equal(h.nrPages, 64n);
    assert.equal(h.vaddr, 0x300000000000n);
    const mem = await stack.memory(`pagemap-${PID}.img`);
    assert.ok(
      out.subarray(32, 32 + 64 * 4096).equals(Buffer.from(await mem.read(0x300000000000, 64 * 4096))),
    );
    assert.equal(gets.length, 1);
    const g = gets[0]!;
    assert.deepEqual([g.pid, g.vaddr, g.asked, g.served], [PID, 0x300000000000, 64, 64]);
    assert.equal(
      g.layers.reduce((n, [, k]) => n + k, 0),
      64,
    );
    assert.ok(g.layers.every(([l]) => stack.layers.some((x) => x.source.name === l)));
  } finally {
    await server.close();
  }
  // the server did not close the stack it was given: it still reads
  const mem = await stack.memory(`pagemap-${PID}.img`);
  assert.equal((await mem.read(0x300000000000, 4096)).length, 4096);
  await stack.close();
});
