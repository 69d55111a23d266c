/**
 * The S3 ObjectStore (src/source/s3/s3-store.ts) against a real S3 server, Swift 2.30 with s3api on
 * loopback (test/helpers/swift.ts): put/get/range/head/list/delete, a 20 MiB multipart upload, the
 * server killed mid-upload and restarted within the retry budget, the server down for good (one
 * line), bad credentials (PAGESTACK_STORE_AUTH without the secret), no conditional PUT on Swift.
 * The same contract checks run on the in-memory store (test/helpers/mem-store.ts) that unit
 * tests of the layout use. Servers that answer 503 or never answer (plain node:http on loopback)
 * count the tries; a child process shows that the SDK is loaded only when an s3:// store is opened.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PagestackError, StoreError } from '../src/errors.js';
import { type ObjectStore, type OpenS3Options, openS3Store } from '../src/source/s3/object-store.js';
import type { S3ObjectStore } from '../src/source/s3/s3-store.js';
import { testDir } from './helpers/files.js';
import { FIX } from './helpers/fixtures.js';
import { MemObjectStore } from './helpers/mem-store.js';
import { SKIP_SWIFT, SWIFT_SECRET, type SwiftServer, swiftServer } from './helpers/swift.js';

const tmp = testDir('s3-store');
const ROOT = join(import.meta.dirname, '..');

async function storeError(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof StoreError, `a StoreError, got ${String(e)}`);
    assert.doesNotMatch(e.message, /\n/, 'one line');
    return e;
  }
  assert.fail('expected a StoreError');
}

async function collect(it: AsyncIterable<{ key: string; size: number }>): Promise<[string, number][]> {
  const out: [string, number][] = [];
  for await (const o of it) out.push([o.key, o.size]);
  return out;
}

const enc = (s: string) => new TextEncoder().encode(s);

/** What every ObjectStore must do, on the in-memory store and on Swift alike. */
async function contract(store: ObjectStore): Promise<void> {
  const body = randomBytes(10_000);
  await store.put('c/one', body);
  await store.put('c/two', enc('two'), { contentType: 'text/plain' });
  await store.put('c/sub/three', enc('three'));
  await store.put('d/other', enc('x'));
  assert.deepEqual(Buffer.from(await store.get('c/one')), body);
  assert.deepEqual(
    Buffer.from(await store.get('c/one', { start: 4096, end: 8192 })),
    body.subarray(4096, 8192),
  );
  assert.deepEqual(await store.get('c/one', { start: 5, end: 5 }), new Uint8Array(0));
  const h = await store.head('c/one');
  assert.equal(h?.key, 'c/one');
  assert.equal(h?.size, 10_000);
  assert.ok(h?.modified instanceof Date);
  assert.equal(await store.head('c/none'), null);
  assert.deepEqual(await collect(store.list('c/')), [
    ['c/one', 10_000],
    ['c/sub/three', 5],
    ['c/two', 3],
  ]);
  // idempotent: the same key again
  await store.put('c/two', enc('two'));
  assert.equal(new TextDecoder().decode(await store.get('c/two')), 'two');

  const missing = await storeError(store.get('c/none'));
  assert.equal(missing.code, 'PAGESTACK_STORE_NOT_FOUND');
  assert.match(missing.message, new RegExp(`^${store.location}/c/none: GET: no such object$`));
  const short = await storeError(store.get('c/two', { start: 1, end: 10 }));
  assert.equal(short.code, 'PAGESTACK_STORE_CORRUPT');
  assert.match(short.message, /c\/two: GET bytes 1-9: expected 9 bytes, got 2/);

  await store.delete(['c/one', 'c/two', 'c/sub/three', 'c/never-there']);
  assert.deepEqual(await collect(store.list('c/')), []);
  assert.deepEqual(await collect(store.list('')), [['d/other', 1]]);
  await store.delete(['d/other']);
}

describe('the in-memory store keeps the contract', () => {
  test('put/get/range/head/list/delete and the error lines', async () => {
    const m = new MemObjectStore();
    await contract(m);
    assert.ok(m.stats.put >= 5 && m.stats.get >= 3);
  });

  test('conditional writes when it says it has them', async () => {
    const m = new MemObjectStore('s3://mem-bucket/x', { conditional: true });
    await m.put('ref', enc('1'), { ifNoneMatch: true });
    const e = await storeError(m.put('ref', enc('2'), { ifNoneMatch: true }));
    assert.equal(e.code, 'PAGESTACK_STORE_CONFLICT');
    const noCas = new MemObjectStore('s3://mem-bucket/x', { conditional: false });
    assert.equal(await noCas.conditionalPut(), false);
    await noCas.put('ref', enc('1'), { ifNoneMatch: true });
    await noCas.put('ref', enc('2'), { ifNoneMatch: true });
  });
});

/** A loopback HTTP server answering every request with `answer`; counts requests. */
async function fakeServer(answer: (req: IncomingMessage, res: import('node:http').ServerResponse) => void) {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    answer(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { endpoint: `http://127.0.0.1:${port}`, seen };
}

function fakeCredentials(): void {
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE',
    AWS_SECRET_ACCESS_KEY: 'fake-secret-never-shown',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(tmp, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: join(tmp, 'none'),
  });
  delete process.env['AWS_PROFILE'];
}

describe('how failures are sorted', () => {
  test('server answers and socket errors: code and whether to try again', async () => {
    const { classify } = await import('../src/source/s3/s3-store.js');
    const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });
    const cases: [unknown, string, boolean][] = [
      [{ name: 'NoSuchKey', ...meta(404) }, 'PAGESTACK_STORE_NOT_FOUND', false],
      [{ name: 'NotFound', ...meta(404) }, 'PAGESTACK_STORE_NOT_FOUND', false],
      [{ name: 'NoSuchBucket', ...meta(404) }, 'PAGESTACK_STORE_NOT_FOUND', false],
      [{ name: 'SignatureDoesNotMatch', ...meta(403) }, 'PAGESTACK_STORE_AUTH', false],
      [{ name: 'Forbidden', ...meta(403) }, 'PAGESTACK_STORE_AUTH', false],
      [{ name: 'CredentialsProviderError' }, 'PAGESTACK_STORE_AUTH', false],
      [{ name: 'PreconditionFailed', ...meta(412) }, 'PAGESTACK_STORE_CONFLICT', false],
      [{ name: 'InternalError', ...meta(500) }, 'PAGESTACK_STORE_UNAVAILABLE', true],
      [{ name: 'ServiceUnavailable', ...meta(503) }, 'PAGESTACK_STORE_UNAVAILABLE', true],
      [{ name: 'SlowDown', ...meta(503) }, 'PAGESTACK_STORE_UNAVAILABLE', true],
      [{ name: 'TooManyRequests', ...meta(429) }, 'PAGESTACK_STORE_UNAVAILABLE', true],
      [{ name: 'RequestTimeout', ...meta(400) }, 'PAGESTACK_STORE_UNAVAILABLE', true],
      [{ name: 'TimeoutError' }, 'PAGESTACK_STORE_UNAVAILABLE', true],
      [
        Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
        'PAGESTACK_STORE_UNAVAILABLE',
        true,
      ],
      [Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'PAGESTACK_STORE_UNAVAILABLE', true],
      [{ name: 'NotImplemented', ...meta(501) }, 'PAGESTACK_STORE', false],
      [{ name: 'InvalidRequest', ...meta(400) }, 'PAGESTACK_STORE', false],
    ];
    for (const [e, code, retry] of cases) {
      const f = classify(e);
      assert.equal(f.code, code, JSON.stringify(e));
      assert.equal(f.retry, retry, JSON.stringify(e));
    }
  });
});

describe('retries against servers that fail (plain node:http on loopback)', () => {
  const quick: OpenS3Options = { maxAttempts: 3, retryBaseMs: 20, requestTimeoutMs: 2000 };

  test('503 SlowDown on every request: exactly maxAttempts tries, then one UNAVAILABLE line', async () => {
    fakeCredentials();
    const s = await fakeServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce</Message></Error>');
    });
    const e = await storeError(openS3Store('s3://slow-bucket/p', { ...quick, endpoint: s.endpoint }));
    assert.equal(e.code, 'PAGESTACK_STORE_UNAVAILABLE');
    assert.equal(s.seen.length, 3, s.seen.join(', '));
    assert.match(
      e.message,
      /^s3:\/\/slow-bucket: HEAD bucket: the server failed \(.*HTTP 503\) after 3 tries$/,
    );
    assert.doesNotMatch(JSON.stringify(e), /fake-secret-never-shown/);
  });

  test('a server that never answers: the request times out, tried again, then one line', async () => {
    fakeCredentials();
    const s = await fakeServer(() => {
      // never answers
    });
    const t0 = Date.now();
    const e = await storeError(
      openS3Store('s3://mute-bucket', {
        maxAttempts: 2,
        retryBaseMs: 10,
        requestTimeoutMs: 300,
        endpoint: s.endpoint,
      }),
    );
    assert.equal(e.code, 'PAGESTACK_STORE_UNAVAILABLE');
    assert.match(e.message, /^s3:\/\/mute-bucket: HEAD bucket: the request timed out after 2 tries$/);
    assert.equal(s.seen.length, 2);
    assert.ok(Date.now() - t0 < 10_000);
  });

  test('a refused connection: retried, then one line naming the object', async () => {
    fakeCredentials();
    const s = await fakeServer((_req, res) => res.end());
    const port = Number(new URL(s.endpoint).port);
    // a port nobody listens on: take one, close it
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    assert.notEqual(port, deadPort);
    const e = await storeError(
      openS3Store('s3://gone-bucket/a', { ...quick, endpoint: `http://127.0.0.1:${deadPort}` }),
    );
    assert.equal(e.code, 'PAGESTACK_STORE_UNAVAILABLE');
    assert.match(
      e.message,
      /^s3:\/\/gone-bucket: HEAD bucket: connection failed \(ECONNREFUSED\) after 3 tries$/,
    );
  });

  test('a 403 is not retried and is an AUTH line', async () => {
    fakeCredentials();
    const s = await fakeServer((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>');
    });
    const e = await storeError(openS3Store('s3://deny-bucket', { ...quick, endpoint: s.endpoint }));
    assert.equal(e.code, 'PAGESTACK_STORE_AUTH');
    assert.equal(s.seen.length, 1);
  });

  test('no credentials anywhere: one AUTH line, and nothing sent', async () => {
    fakeCredentials();
    delete process.env['AWS_ACCESS_KEY_ID'];
    delete process.env['AWS_SECRET_ACCESS_KEY'];
    const s = await fakeServer((_req, res) => res.end());
    const e = await storeError(openS3Store('s3://anon-bucket', { ...quick, endpoint: s.endpoint }));
    assert.equal(e.code, 'PAGESTACK_STORE_AUTH');
    assert.match(e.message, /^s3:\/\/anon-bucket: HEAD bucket: no credentials/);
    assert.equal(s.seen.length, 0);
  });

  test('an endpoint with credentials in it is refused without echoing them', async () => {
    const e = await openS3Store('s3://some-bucket', {
      endpoint: 'http://AKIAX:hunter2secret@127.0.0.1:1',
    }).then(
      () => assert.fail('expected an error'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof PagestackError);
    assert.equal(e.code, 'PAGESTACK_USAGE');
    assert.doesNotMatch(e.message, /hunter2secret|AKIAX/);
  });
});

describe('the AWS SDK is loaded only for s3:// targets', () => {
  /** Runs `code` in a child node with a resolve hook that reports every @aws-sdk import. */
  function sdkImports(script: string): string[] {
    const hooks = join(tmp, 'hooks.mjs');
    writeFileSync(
      hooks,
      `export async function resolve(spec, ctx, next) {
  if (spec.startsWith('@aws-sdk/')) process.stderr.write('SDK-IMPORT ' + spec + '\\n');
  return next(spec, ctx);
}
`,
    );
    const reg = join(tmp, 'register.mjs');
    writeFileSync(
      reg,
      `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', reg, ...script.split(' ')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, AWS_ENDPOINT_URL: 'http://127.0.0.1:1' },
    });
    return r.stderr.split('\n').filter((l) => l.startsWith('SDK-IMPORT'));
  }

  test('`show DIR` never imports @aws-sdk; opening an s3:// store does (the check can fail)', () => {
    assert.deepEqual(sdkImports(`src/cli/main.ts show ${join(FIX, 'single')}`), []);
    const probe = join(tmp, 'probe.mts'); // .mts: an ES module wherever the temporary directory is
    writeFileSync(
      probe,
      `import { openS3Store } from ${JSON.stringify(join(ROOT, 'src/source/s3/object-store.ts'))};
await openS3Store('s3://probe-bucket', { maxAttempts: 1 }).catch(() => undefined);
`,
    );
    assert.ok(sdkImports(probe).some((l) => l.includes('@aws-sdk/client-s3')));
  });
});

describe('the S3 store against Swift 2.30 + s3api on loopback', { skip: SKIP_SWIFT }, () => {
  let swift: SwiftServer;
  const stores: ObjectStore[] = [];
  const open = async (url: string, opts: OpenS3Options = {}) => {
    const s = await openS3Store(url, { endpoint: swift.endpoint, ...opts });
    stores.push(s);
    return s;
  };

  before(async () => {
    swift = await swiftServer();
    swift.useCredentials();
  });
  after(async () => {
    for (const s of stores) await s.close();
  });

  test('a missing bucket: NOT_FOUND without create, created with create', async () => {
    const e = await storeError(open('s3://fresh-bucket/x'));
    assert.equal(e.code, 'PAGESTACK_STORE_NOT_FOUND');
    assert.equal(e.message, 's3://fresh-bucket: HEAD bucket: no such bucket');
    const s = await open('s3://fresh-bucket/x', { create: true });
    assert.equal(s.location, 's3://fresh-bucket/x');
    // a second create is fine
    await open('s3://fresh-bucket/x', { create: true });
  });

  test('put/get/range/head/list/delete (the contract), under a prefix', async () => {
    const s = await open('s3://contract-bucket/team/stacks', { create: true });
    await contract(s);
    // the keys really are under the prefix: a store at the bucket's root sees them there
    await s.put('k', enc('v'));
    const rootStore = await open('s3://contract-bucket');
    assert.deepEqual(await collect(rootStore.list('team/')), [['team/stacks/k', 1]]);
    await s.delete(['k']);
  });

  test('list pages through more keys than one answer holds', async () => {
    const s = await open('s3://list-bucket/p', { create: true, listPageSize: 7 });
    const keys = Array.from({ length: 23 }, (_, i) => `obj/${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((k) => s.put(k, enc(k))));
    const listed = await collect(s.list('obj/'));
    assert.deepEqual(
      listed.map(([k]) => k),
      keys,
    );
    const stats = (s as S3ObjectStore).stats;
    await s.delete(keys);
    assert.deepEqual(await collect(s.list('obj/')), []);
    // one DeleteObjects (with the Content-MD5 Swift requires), not 23 DELETEs
    assert.equal(stats.batchDeletes, 1);
    assert.equal(stats.singleDeletes, 0);
  });

  test('20 MiB goes multipart; whole and ranged reads give the bytes back', async () => {
    const s = await open('s3://multipart-bucket', { create: true });
    const body = randomBytes(20 * 1024 * 1024);
    await s.put('big', body);
    const h = await s.head('big');
    assert.equal(h?.size, body.length);
    // a multipart ETag is "md5-of-parts-N": 8 MiB parts make 3
    assert.match(h?.etag ?? '', /-3"$/);
    assert.ok(Buffer.from(await s.get('big')).equals(body));
    const a = 8 * 1024 * 1024 - 100;
    assert.ok(
      Buffer.from(await s.get('big', { start: a, end: a + 4096 })).equals(body.subarray(a, a + 4096)),
    );
    await s.delete(['big']);
  });

  test('If-None-Match: * is NotImplemented on Swift: conditionalPut() is false, and puts still write', async () => {
    const s = await open('s3://cond-bucket/r', { create: true });
    assert.equal(await s.conditionalPut(), false);
    await s.put('ref', enc('1'), { ifNoneMatch: true });
    await s.put('ref', enc('2'), { ifNoneMatch: true });
    assert.equal(new TextDecoder().decode(await s.get('ref')), '2');
    // the probe left nothing behind
    assert.deepEqual(await collect(s.list('')), [['ref', 1]]);
  });

  test('bad credentials: one PAGESTACK_STORE_AUTH line, without the secret', async () => {
    const saved = process.env['AWS_SECRET_ACCESS_KEY'];
    process.env['AWS_SECRET_ACCESS_KEY'] = 'wrong-secret-do-not-print';
    try {
      const e = await storeError(open('s3://contract-bucket/x'));
      assert.equal(e.code, 'PAGESTACK_STORE_AUTH');
      assert.match(e.message, /^s3:\/\/contract-bucket: HEAD bucket: the server refused the credentials/);
      assert.doesNotMatch(JSON.stringify(e), /wrong-secret-do-not-print/);
      assert.ok(!JSON.stringify(e).includes(SWIFT_SECRET));
    } finally {
      process.env['AWS_SECRET_ACCESS_KEY'] = saved;
    }
  });

  test('the object a store wrote is a file on the server disk (for corruption tests)', async () => {
    const s = await open('s3://disk-bucket/pre', { create: true });
    await s.put('obj', enc('original bytes'));
    const file = swift.objectFile('disk-bucket', 'pre/obj');
    assert.ok(file, 'the .data file');
    assert.equal(readFileSync(file).toString(), 'original bytes');
    writeFileSync(file, 'changed! bytes');
    assert.equal(new TextDecoder().decode(await s.get('obj')), 'changed! bytes');
  });

  test('an aborted GET stops at once', async () => {
    const s = await open('s3://contract-bucket/abort', { create: true });
    await s.put('a', enc('a'));
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await assert.rejects(s.get('a', undefined, ac.signal), /stop/);
  });

  test('the server killed mid-upload and restarted: the put retries and completes', async () => {
    const s = await open('s3://fault-bucket', { create: true, maxAttempts: 15, retryBaseMs: 1000 });
    const body = randomBytes(20 * 1024 * 1024);
    let settled = false;
    const put = s.put('big-fault', body).finally(() => {
      settled = true;
    });
    await sleep(50);
    assert.equal(settled, false, 'the upload is still in flight when the server is killed');
    await swift.killProxy();
    const killedAt = Date.now();
    await sleep(500);
    await swift.startProxy();
    const downMs = Date.now() - killedAt;
    await put;
    const stats = (s as S3ObjectStore).stats;
    assert.ok(stats.retries > 0, 'the outage made the put try again');
    assert.ok(Buffer.from(await s.get('big-fault')).equals(body), `whole after a ${downMs} ms outage`);
    const retriesBefore = stats.retries;
    // and a small put while the proxy is down, back within the budget
    await swift.killProxy();
    const small = s.put('small-fault', enc('small'));
    await sleep(300);
    await swift.startProxy();
    await small;
    assert.ok(stats.retries > retriesBefore);
    assert.equal(new TextDecoder().decode(await s.get('small-fault')), 'small');
  });

  test('the server down for good: one UNAVAILABLE line naming the object, after the tries', async () => {
    const s = await open('s3://fault-bucket/down', { create: true, maxAttempts: 3, retryBaseMs: 50 });
    await s.put('there', enc('x'));
    await swift.killProxy();
    try {
      const e = await storeError(s.get('there'));
      assert.equal(e.code, 'PAGESTACK_STORE_UNAVAILABLE');
      assert.match(
        e.message,
        /^s3:\/\/fault-bucket\/down\/there: GET: connection failed \(E[A-Z]+\) after 3 tries$/,
      );
      assert.equal(e.data['object'], 's3://fault-bucket/down/there');
      const p = await storeError(s.put('new', enc('y')));
      assert.match(p.message, /^s3:\/\/fault-bucket\/down\/new: PUT: connection failed/);
    } finally {
      await swift.startProxy();
    }
    assert.equal(new TextDecoder().decode(await s.get('there')), 'x');
  });
});
