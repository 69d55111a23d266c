/**
 * SocketFeed (src/server/socket-feed.ts) on its own, over loopback: a random byte stream, sent in
 * random pieces, arrives whole and in order through random targets (the consumer's own memory,
 * parts of the scratch buffer) with random pauses, in both modes (user buffers, the stream); no
 * target is asked for while paused and the first read after a pause lands in scratch, not in
 * consumer memory; then EOF, finish() and a peer reset end run() as they should.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { rng } from '../bench/gen.js';
import { SocketFeed } from '../src/server/socket-feed.js';

/** A server whose first accepted socket becomes a feed; and a client connected to it. */
async function pair(userBuffers: boolean): Promise<{ feed: SocketFeed; client: Socket; server: Server }> {
  let accepted!: (f: SocketFeed) => void;
  const got = new Promise<SocketFeed>((ok) => {
    accepted = ok;
  });
  const server = createServer({ pauseOnConnect: true }, (raw) =>
    accepted(SocketFeed.adopt(raw, { userBuffers })),
  );
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  const client = connect(port, '127.0.0.1');
  client.on('error', () => undefined);
  const feed = await got;
  return { feed, client, server };
}

async function send(client: Socket, data: Uint8Array, rand: () => number): Promise<void> {
  let at = 0;
  while (at < data.length) {
    const n = Math.min(data.length - at, 1 + Math.floor(rand() * 300_000));
    if (!client.write(data.subarray(at, at + n))) await new Promise((ok) => client.once('drain', ok));
    at += n;
    if (rand() < 0.1) await new Promise((ok) => setTimeout(ok, 1));
  }
  client.end();
}

for (const userBuffers of [true, false]) {
  describe(`SocketFeed (${userBuffers ? 'user buffers' : 'stream'})`, () => {
    test('random pieces, targets and pauses: every byte, in order, where it was read', async () => {
      const rand = rng(userBuffers ? 0xfeed : 0xf00d);
      const data = new Uint8Array(6 << 20);
      for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >>> 12)) & 0xff;
      const { feed, client, server } = await pair(userBuffers);
      assert.equal(feed.userBuffers, userBuffers);
      const mine = new Uint8Array(64 << 10);
      const got: Uint8Array[] = [];
      let total = 0;
      let paused = false;
      let afterPause = false;
      let inMine = 0;
      try {
        const sent = send(client, data, rand);
        await feed.run({
          target: (scratch) => {
            assert.equal(paused, false, 'target asked for while paused');
            const r = rand();
            if (r < 0.4) return mine.subarray(0, 1 + Math.floor(rand() * mine.length));
            if (r < 0.7) return scratch.subarray(0, 1 + Math.floor(rand() * 5000));
            return scratch;
          },
          bytes: (view) => {
            assert.ok(view.length > 0);
            if (view.buffer === mine.buffer) {
              assert.equal(afterPause, false, 'a read after a pause landed in consumer memory');
              assert.equal(view.byteOffset, 0);
              inMine += view.length;
            }
            afterPause = false;
            got.push(Buffer.from(view)); // a copy (Buffer.slice would be a view)
            total += view.length;
            if (rand() < 0.2) {
              paused = true;
              setTimeout(() => {
                paused = false;
                afterPause = userBuffers;
                mine.fill(0xee); // consumer memory may change while paused: nothing reads into it
                feed.resume();
              }, 0);
              return false;
            }
            return true;
          },
        });
        await sent;
      } finally {
        client.destroy();
        feed.socket.destroy();
        server.close();
      }
      assert.equal(total, data.length);
      const all = Buffer.concat(got);
      let d = 0;
      while (d < data.length && all[d] === data[d]) d++;
      assert.equal(d, data.length, `first difference at byte ${d}`);
      if (userBuffers) assert.ok(inMine > 0, 'no read landed in consumer memory');
      else assert.equal(inMine, 0);
    });

    test('EOF resolves run(); finish() resolves it at once; a reset rejects it', async () => {
      {
        const { feed, client, server } = await pair(userBuffers);
        client.end(Buffer.from('abc'));
        let seen = '';
        await feed.run({
          bytes: (v) => {
            seen += Buffer.from(v).toString();
            return true;
          },
        });
        assert.equal(seen, 'abc');
        feed.socket.destroy();
        server.close();
      }
      {
        const { feed, client, server } = await pair(userBuffers);
        client.write('x'); // and the connection stays open
        await feed.run({
          bytes: () => {
            feed.finish();
            return false;
          },
        });
        client.destroy();
        feed.socket.destroy();
        server.close();
      }
      {
        // closed before run(): run() says so at once instead of waiting forever
        const { feed, client, server } = await pair(userBuffers);
        feed.socket.destroy();
        await new Promise((ok) => feed.socket.once('close', ok));
        await assert.rejects(feed.run({ bytes: () => true }), /closed/);
        client.destroy();
        server.close();
      }
      {
        const { feed, client, server } = await pair(userBuffers);
        client.write('y');
        const run = feed.run({
          bytes: () => {
            client.resetAndDestroy();
            return true;
          },
        });
        await assert.rejects(run);
        feed.socket.destroy();
        server.close();
      }
    });
  });
}
