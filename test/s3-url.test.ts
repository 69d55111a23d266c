/**
 * `s3://` URLs (src/source/s3/object-store.ts): taken apart into bucket, prefix, name and layer;
 * what S3 cannot name, or what would put credentials into messages, refused with one line.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ERROR_CODES, StoreError, UsageError } from '../src/errors.js';
import { isS3Url, parseS3Url } from '../src/source/s3/object-store.js';

describe('parseS3Url', () => {
  test('bucket, prefix, name and layer', () => {
    assert.deepEqual(parseS3Url('s3://my-bucket/team/ckpt/web@3'), {
      bucket: 'my-bucket',
      path: 'team/ckpt/web',
      prefix: 'team/ckpt',
      name: 'web',
      layer: 3,
      location: 's3://my-bucket/team/ckpt/web',
    });
    assert.deepEqual(parseS3Url('s3://my-bucket/web'), {
      bucket: 'my-bucket',
      path: 'web',
      prefix: '',
      name: 'web',
      layer: undefined,
      location: 's3://my-bucket/web',
    });
    const root = parseS3Url('s3://b.example-1/');
    assert.equal(root.bucket, 'b.example-1');
    assert.equal(root.path, '');
    assert.equal(root.name, '');
    assert.equal(root.location, 's3://b.example-1');
    assert.equal(parseS3Url('s3://bkt/a/b/').path, 'a/b');
    assert.equal(parseS3Url('s3://bkt/a@0').layer, 0);
  });

  test('isS3Url tells a URL from a path', () => {
    assert.equal(isS3Url('s3://bkt/x'), true);
    assert.equal(isS3Url('./s3:/bkt'), false);
    assert.equal(isS3Url('/tmp/stack'), false);
  });

  test('what S3 cannot name, or what is ambiguous, is one usage line', () => {
    const cases: [string, RegExp][] = [
      ['http://bkt/x', /expected s3:\/\/BUCKET/],
      ['s3://b1/x', /bucket "b1"/],
      ['s3://Upper/x', /bucket "Upper"/],
      ['s3://-bkt/x', /bucket "-bkt"/],
      [`s3://${'a'.repeat(64)}/x`, /bucket/],
      ['s3://bkt/a//b', /segment/],
      ['s3://bkt/a/../b', /segment/],
      ['s3://bkt/./b', /segment/],
      ['s3://bkt/x@', /not a layer number/],
      ['s3://bkt/x@-1', /not a layer number/],
      ['s3://bkt/x@01', /not a layer number/],
      ['s3://bkt/x@top', /not a layer number/],
      ['s3://bkt/a@1/b', /not a layer number/],
      ['s3://bkt/a@b/c@1', /"@" only before a layer number/],
      ['s3://bkt/x?versionId=1', /query/],
      ['s3://bkt/x\n', /control/],
      ['s3://localhost:9000/x', /port/],
      [`s3://bkt/${'x'.repeat(513)}`, /longer than 512/],
    ];
    for (const [url, re] of cases) {
      assert.throws(
        () => parseS3Url(url),
        (e: unknown) => {
          assert.ok(e instanceof UsageError, url);
          assert.match(e.message, re, url);
          assert.doesNotMatch(e.message, /\n/);
          return true;
        },
      );
    }
  });

  test('credentials in a URL never reach the message', () => {
    assert.throws(
      () => parseS3Url('s3://AKIAXXXX:s3cr3tKey@bkt/x'),
      (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.doesNotMatch(e.message, /s3cr3tKey|AKIAXXXX/);
        assert.doesNotMatch(JSON.stringify(e), /s3cr3tKey|AKIAXXXX/);
        assert.match(e.message, /credentials/);
        return true;
      },
    );
  });
});

describe('StoreError', () => {
  test('the store codes are there, and a StoreError without one is PAGESTACK_STORE', () => {
    for (const c of [
      'PAGESTACK_STORE',
      'PAGESTACK_STORE_NOT_FOUND',
      'PAGESTACK_STORE_CONFLICT',
      'PAGESTACK_STORE_UNAVAILABLE',
      'PAGESTACK_STORE_AUTH',
      'PAGESTACK_STORE_CORRUPT',
    ]) {
      assert.ok(c in ERROR_CODES, c);
    }
    const e = new StoreError('s3://bkt/x: GET: not there', undefined, { object: 's3://bkt/x' });
    assert.equal(e.code, 'PAGESTACK_STORE');
    assert.equal(e.name, 'StoreError');
    assert.equal(new StoreError('x', 'PAGESTACK_STORE_AUTH').code, 'PAGESTACK_STORE_AUTH');
    assert.equal(JSON.parse(JSON.stringify(e)).data.object, 's3://bkt/x');
  });
});
