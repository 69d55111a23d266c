/**
 * The registry client against Debian's docker-registry (distribution 2.8) on loopback: blob
 * uploads (monolithic and chunked), ranged reads, manifests, tags; `export --image` of a podman
 * archive pushed there and read back by oci:// (inspect, export equal to the archive's);
 * a second push sends no layer bytes. And a hostile registry (node http): 401 with and without
 * a bearer challenge, 404, 416, a manifest of the wrong media type, a blob whose bytes do not
 * match its digest, a huge manifest, a registry that ignores Range: one line naming the
 * reference and what was expected, exit 1, never wrong bytes.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RegistryError } from '../src/errors.js';
import { parseChallenge } from '../src/source/oci/auth.js';
import { MT } from '../src/source/oci/media.js';
import { parseImageRef } from '../src/source/oci/ref.js';
import { RegistryClient, sha256Digest } from '../src/source/oci/registry.js';
import { cli } from './helpers/cli.js';
import { ROOT } from './helpers/fixtures.js';
import {
  type BadRegistry,
  type Registry,
  SKIP_REGISTRY,
  startBadRegistry,
  startRegistry,
} from './helpers/registry.js';

const ARCH = join(ROOT, 'test', 'fixtures', 'archives');
const STEP0 = join(ARCH, 'podman-series-step0.tar');

const mem = (b: Uint8Array) => ({
  size: b.length,
  digest: sha256Digest(b),
  read: async (p: number, n: number) => b.subarray(p, p + n),
});

describe('references and challenges', () => {
  test('oci:// references', () => {
    assert.deepEqual(parseImageRef('oci://localhost:5000/a/b:t1'), {
      registry: 'localhost:5000',
      repository: 'a/b',
      tag: 't1',
      digest: null,
    });
    const d = `sha256:${'a'.repeat(64)}`;
    assert.equal(parseImageRef(`oci://reg.example/x@${d}`).digest, d);
    assert.equal(parseImageRef('oci://reg.example/x').tag, 'latest');
    assert.throws(() => parseImageRef('oci://x/y:t'), /not a registry host/);
    assert.throws(() => parseImageRef('oci://reg.example/Upper'), /repository "Upper"/);
    assert.throws(() => parseImageRef('oci://reg.example/x@sha256:12'), /digest/);
  });
  test('WWW-Authenticate', () => {
    assert.deepEqual(
      parseChallenge('Bearer realm="https://a/token",service="reg",scope="repository:x:pull"'),
      {
        scheme: 'bearer',
        params: { realm: 'https://a/token', service: 'reg', scope: 'repository:x:pull' },
      },
    );
    assert.equal(parseChallenge('Basic realm="r"')?.scheme, 'basic');
  });
});

describe('docker-registry on loopback', { skip: SKIP_REGISTRY }, () => {
  let reg: Registry;
  let tmp: string;
  before(async () => {
    reg = await startRegistry();
    tmp = mkdtempSync(join(tmpdir(), 'psoci-'));
  });
  after(async () => {
    await reg?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('blobs: monolithic and chunked uploads, ranged reads, whole reads verified', async () => {
    const c = new RegistryClient(parseImageRef(`oci://${reg.host}/t/blobs:x`), {
      tlsVerify: false,
      credentials: null,
      chunkBytes: 64 * 1024,
    });
    await c.ping();
    const small = randomBytes(5000);
    const big = randomBytes(300 * 1024 + 17);
    assert.equal(await c.pushBlob(mem(small)), true);
    assert.equal(await c.pushBlob(mem(big)), true, 'chunked: 5 PATCHes');
    assert.equal(await c.pushBlob(mem(big)), false, 'already there: nothing sent');
    const d = { digest: sha256Digest(big), size: big.length };
    assert.deepEqual(Buffer.from(await c.getBlob(d)), big);
    assert.deepEqual(Buffer.from(await c.readRange(d, 4096, 8192)), big.subarray(4096, 8192));
    assert.equal(c.rangeSupported, true);
    assert.deepEqual(
      Buffer.from(await c.readRange(d, big.length - 3, big.length)),
      big.subarray(big.length - 3),
    );
    await assert.rejects(c.readRange(d, 0, big.length + 1), { code: 'PAGESTACK_REGISTRY_RANGE' });
    await assert.rejects(c.getBlob({ digest: sha256Digest(randomBytes(8)), size: 8 }), {
      code: 'PAGESTACK_REGISTRY_NOT_FOUND',
    });
  });

  test('export --image pushes a checkpoint image podman would restore; oci:// reads it like the archive', async () => {
    const ref = `${reg.host}/ckpt/series:step0`;
    const r = await cli(['--tls-verify=false', 'export', STEP0, '--image', ref]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /checkpoint image of .*593 pages present/);
    // the manifest as podman reads it
    const c = new RegistryClient(parseImageRef(`oci://${ref}`), { tlsVerify: false, credentials: null });
    const m = await c.getManifest();
    assert.equal(m.mediaType, MT.ociManifest);
    const man = m.doc as { layers: { mediaType: string }[]; annotations: Record<string, string> };
    assert.equal(man.layers.length, 1);
    assert.equal(man.layers[0]!.mediaType, MT.ociLayerTar);
    assert.equal(man.annotations['io.podman.annotations.checkpoint.runtime.name'], 'runc');
    assert.equal(man.annotations['io.podman.annotations.checkpoint.name'], 'ps1');
    assert.equal(man.annotations['io.kubernetes.cri-o.annotations.checkpoint.name'], 'ps1');
    assert.equal(man.annotations['org.criu.checkpoint.container.name'], 'ps1');
    assert.deepEqual(await c.listTags(), ['step0']);

    // the image as a target: inspect names it, export equals the archive's
    const insp = await cli(['--tls-verify=false', 'inspect', `oci://${ref}`, '--json']);
    assert.equal(insp.code, 0, insp.err);
    const j = JSON.parse(insp.out) as {
      engine: string;
      image: { digest: string };
      container: { name: string };
    };
    assert.equal(j.engine, 'podman');
    assert.equal(j.image.digest, m.digest);
    assert.equal(j.container.name, 'ps1');
    const a = join(tmp, 'a.core');
    const b = join(tmp, 'b.core');
    assert.equal((await cli(['export', STEP0, '-o', a])).code, 0);
    const e = await cli(['--tls-verify=false', 'export', `oci://${ref}`, '-o', b]);
    assert.equal(e.code, 0, e.err);
    assert.deepEqual(sha(a), sha(b));
    // by digest too
    const byDigest = await cli(['--tls-verify=false', 'show', `oci://${reg.host}/ckpt/series@${m.digest}`]);
    assert.equal(byDigest.code, 0, byDigest.err);

    // a second push of the same checkpoint sends no layer bytes
    const again = await cli([
      '--tls-verify=false',
      'export',
      STEP0,
      '--image',
      `${reg.host}/ckpt/series:again`,
    ]);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /, [0-9.]+ (KiB|B) uploaded/);

    // without --tls-verify=false: https to a plain-HTTP registry, one line
    const tls = await cli(['show', `oci://${ref}`]);
    assert.equal(tls.code, 1);
    assert.match(
      tls.err,
      /^pagestack: oci:\/\/127\.0\.0\.1:\d+\/ckpt\/series:step0: manifest step0: .*--tls-verify=false/,
    );
    assert.equal(tls.err.trim().split('\n').length, 1);
    // no such tag
    const nf = await cli(['--tls-verify=false', 'show', `oci://${reg.host}/ckpt/series:nope`]);
    assert.equal(nf.code, 1);
    assert.match(nf.err, /series:nope: manifest nope: HTTP 404 not found/);
  });

  test('delta: a series of checkpoint images becomes one small stack linked to the image by digest', async () => {
    for (const step of [0, 1, 2]) {
      const r = await cli([
        '--tls-verify=false',
        'export',
        join(ARCH, `podman-series-step${step}.tar`),
        '--image',
        `${reg.host}/ckpt/steps:${step}`,
      ]);
      assert.equal(r.code, 0, r.err);
    }
    const s = join(tmp, 'stack');
    mkdirSync(s);
    const d1 = await cli([
      '--tls-verify=false',
      'delta',
      `oci://${reg.host}/ckpt/steps:0`,
      `oci://${reg.host}/ckpt/steps:1`,
      '-o',
      join(s, '1'),
    ]);
    assert.equal(d1.code, 0, d1.err);
    const d2 = await cli([
      '--tls-verify=false',
      'delta',
      join(s, '1'),
      `oci://${reg.host}/ckpt/steps:2`,
      '-o',
      join(s, '2'),
    ]);
    assert.equal(d2.code, 0, d2.err);
    for (const d of [d1, d2]) {
      const kept = Number(/(\d+) pages kept/.exec(d.out)?.[1]);
      assert.ok(kept > 0 && kept < 200, d.out);
    }
    assert.match(
      readlinkSync(join(s, '1', 'parent')),
      new RegExp(`^oci://${reg.host}/ckpt/steps@sha256:[0-9a-f]{64}$`),
    );
    const show = await cli(['--tls-verify=false', 'show', join(s, '2')]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /3 layers/);
    const a = join(tmp, 'd-a.core');
    const b = join(tmp, 'd-b.core');
    assert.equal((await cli(['export', join(ARCH, 'podman-series-step2.tar'), '-o', a])).code, 0);
    const e = await cli(['--tls-verify=false', 'export', join(s, '2'), '-o', b]);
    assert.equal(e.code, 0, e.err);
    assert.deepEqual(sha(a), sha(b));
  });

  test('export --image-archive writes an OCI layout tar that reads back the same', async () => {
    const out = join(tmp, 'img.tar');
    const r = await cli(['export', STEP0, '--image-archive', `${out}:v1`]);
    assert.equal(r.code, 0, r.err);
    const a = join(tmp, 'la.core');
    const b = join(tmp, 'lb.core');
    assert.equal((await cli(['export', STEP0, '-o', a])).code, 0);
    const e = await cli(['export', `${out}:v1`, '-o', b]);
    assert.equal(e.code, 0, e.err);
    assert.deepEqual(sha(a), sha(b));
    const bad = await cli(['show', `${out}:v2`]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /no manifest tagged "v2" in index.json \(tags: v1\)/);
  });
});

function sha(p: string): string {
  return createHash('sha256').update(readFileSync(p)).digest('hex');
}

describe('a hostile registry', () => {
  let bad: BadRegistry;
  let mode = '';
  const blob = Buffer.from('the real bytes of a blob');
  const blobDigest = sha256Digest(blob);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: blobDigest, size: blob.length },
      layers: [{ mediaType: MT.ociLayerTar, digest: blobDigest, size: blob.length }],
    }),
  );
  let tokenAsked = 0;
  before(async () => {
    bad = await startBadRegistry((req, res) => {
      const url = req.url ?? '';
      if (url.startsWith('/token')) {
        tokenAsked++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'tok' }));
        return;
      }
      switch (mode) {
        case '401':
          res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
          return;
        case 'bearer':
          if (req.headers.authorization === 'Bearer tok') {
            res
              .writeHead(403)
              .end('{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}');
          } else {
            res
              .writeHead(401, {
                'www-authenticate': `Bearer realm="http://${bad.host}/token",service="bad",scope="repository:r/x:pull"`,
              })
              .end();
          }
          return;
        case '404':
          res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
          return;
        case 'mediatype':
          res
            .writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' })
            .end(manifest);
          return;
        case 'huge':
          res.writeHead(200, { 'content-type': MT.ociManifest });
          res.end(Buffer.alloc(5 * 1024 * 1024, 0x20));
          return;
        case 'wrongblob':
          if (url.includes('/manifests/'))
            res.writeHead(200, { 'content-type': MT.ociManifest }).end(manifest);
          else
            res.writeHead(200).end(Buffer.from('other bytes of the same length!!').subarray(0, blob.length));
          return;
        case '416':
          res.writeHead(416).end();
          return;
        case 'norange':
          res.writeHead(200).end(blob);
          return;
        case 'badrange':
          res.writeHead(206, { 'content-range': `bytes 0-3/${blob.length}` }).end(blob.subarray(0, 4));
          return;
      }
      res.writeHead(500).end();
    });
  });
  after(async () => {
    await bad?.stop();
  });

  const run = async (m: string, args: string[]) => {
    mode = m;
    const r = await cli(['--tls-verify=false', ...args]);
    assert.equal(r.code, 1, `${m}: ${r.out}${r.err}`);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.equal(r.out, '');
    return r.err;
  };

  test('401, bearer then 403, 404, wrong media type, huge manifest, digest mismatch: one line each, exit 1', async () => {
    const ref = `oci://${bad.host}/r/x:t`;
    assert.match(
      await run('401', ['show', ref]),
      /^pagestack: oci:\/\/.*\/r\/x:t: manifest t: HTTP 401 unauthorized \(no credentials/,
    );
    assert.match(
      await run('bearer', ['show', ref]),
      /manifest t: HTTP 403 denied \(DENIED: requested access to the resource is denied\); expected access to r\/x/,
    );
    assert.ok(tokenAsked >= 1);
    assert.match(
      await run('404', ['show', ref]),
      /manifest t: HTTP 404 not found \(MANIFEST_UNKNOWN: manifest unknown\)/,
    );
    assert.match(
      await run('mediatype', ['inspect', ref]),
      /manifest of media type application\/vnd.docker.distribution.manifest.v1\+prettyjws, expected an OCI or Docker image manifest or index/,
    );
    assert.match(await run('huge', ['show', ref]), /above the 4194304-byte manifest limit/);
    assert.match(
      await run('wrongblob', ['show', ref]),
      new RegExp(`blob ${blobDigest}: its bytes hash to sha256:[0-9a-f]{64}; expected ${blobDigest}`),
    );
  });

  test('ranged reads: 416, a wrong Content-Range, and a registry that ignores Range', async () => {
    const c = new RegistryClient(parseImageRef(`oci://${bad.host}/r/x:t`), {
      tlsVerify: false,
      credentials: null,
    });
    const d = { digest: blobDigest, size: blob.length };
    mode = '416';
    await assert.rejects(
      c.readRange(d, 0, 4),
      (e: RegistryError) => e.code === 'PAGESTACK_REGISTRY_RANGE' && /HTTP 416/.test(e.message),
    );
    mode = 'badrange';
    await assert.rejects(c.readRange(d, 4, 8), /Content-Range bytes 0-3\/24; expected bytes 4-7\/24/);
    mode = 'norange';
    const c2 = new RegistryClient(parseImageRef(`oci://${bad.host}/r/x:t`), {
      tlsVerify: false,
      credentials: null,
    });
    assert.deepEqual(Buffer.from(await c2.readRange(d, 4, 8)), blob.subarray(4, 8));
    assert.equal(c2.rangeSupported, false);
    const before = bad.seen.length;
    assert.deepEqual(Buffer.from(await c2.readRange(d, 10, 20)), blob.subarray(10, 20));
    assert.equal(bad.seen.length, before, 'served from the whole-blob cache');
    mode = 'wrongblob';
    const c3 = new RegistryClient(parseImageRef(`oci://${bad.host}/r/x:t`), {
      tlsVerify: false,
      credentials: null,
    });
    await assert.rejects(c3.readRange(d, 0, 4), { code: 'PAGESTACK_REGISTRY_DIGEST' });
  });

  test('credentials from REGISTRY_AUTH_FILE are sent as Basic', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'psauth-'));
    const file = join(dir, 'auth.json');
    const prev = process.env['REGISTRY_AUTH_FILE'];
    process.env['REGISTRY_AUTH_FILE'] = file;
    try {
      let sawAuth = '';
      mode = '';
      const s = await startBadRegistry((req, res) => {
        if (req.headers.authorization) {
          sawAuth = req.headers.authorization;
          res.writeHead(404).end();
        } else res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      });
      writeFileSync(
        file,
        JSON.stringify({ auths: { [s.host]: { auth: Buffer.from('u:p').toString('base64') } } }),
      );
      try {
        const r = await cli(['--tls-verify=false', 'show', `oci://${s.host}/r/x:t`]);
        assert.equal(r.code, 1);
        assert.equal(sawAuth, `Basic ${Buffer.from('u:p').toString('base64')}`);
        assert.match(r.err, /HTTP 404/);
      } finally {
        await s.stop();
      }
    } finally {
      if (prev === undefined) delete process.env['REGISTRY_AUTH_FILE'];
      else process.env['REGISTRY_AUTH_FILE'] = prev;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
