/**
 * src/store/envelope.ts: AES-256-GCM envelopes under keys derived from the user key and the
 * object's hash. Round trips; a wrong key, no envelope, an altered byte anywhere, a truncation and
 * another object's hash are each one EncryptionError line, never bytes; dedup within one key (the
 * derived key depends only on key + hash); key files in three spellings.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { EncryptionError } from '../src/errors.js';
import { ENVELOPE_OVERHEAD, EnvelopeKey, isEnvelope, parseKeyFile } from '../src/store/envelope.js';

const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

async function rejectsWith(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof EncryptionError, String(e));
    assert.match(e.message, re);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
}

test('envelope: seal -> open gives the plaintext back; sizes, ids, fresh IVs', async () => {
  const key = await EnvelopeKey.fromBytes(randomBytes(32));
  for (const size of [0, 1, 4095, 4096, 1 << 20]) {
    const plain = randomBytes(size);
    const h = sha(plain);
    const env = await key.seal(h, plain);
    assert.equal(env.length, size + ENVELOPE_OVERHEAD);
    assert.ok(isEnvelope(env));
    assert.deepEqual(Buffer.from(env.subarray(8, 16)), Buffer.from(key.id));
    if (size >= 16) assert.equal(Buffer.from(env).indexOf(plain.subarray(0, 16)), -1, 'plaintext visible');
    assert.deepEqual(Buffer.from(await key.open(h, env, `obj-${size}`)), plain);
    // a second seal: another IV, another ciphertext, the same plaintext
    const env2 = await key.seal(h, plain);
    assert.notDeepEqual(Buffer.from(env2.subarray(16, 28)), Buffer.from(env.subarray(16, 28)));
    assert.deepEqual(Buffer.from(await key.open(h, env2, 'again')), plain);
  }
});

test('envelope: the same key bytes open what another instance sealed (dedup within one key)', async () => {
  const raw = randomBytes(32);
  const a = await EnvelopeKey.fromBytes(raw);
  const b = await EnvelopeKey.fromBytes(raw);
  assert.equal(a.idHex, b.idHex);
  const plain = Buffer.from('the same frame pushed twice');
  assert.deepEqual(Buffer.from(await b.open(sha(plain), await a.seal(sha(plain), plain), 'x')), plain);
});

test('envelope: wrong key, no envelope, altered bytes, truncation, another hash: one clear line each', async () => {
  const key = await EnvelopeKey.fromBytes(randomBytes(32));
  const other = await EnvelopeKey.fromBytes(randomBytes(32));
  assert.notEqual(key.idHex, other.idHex);
  const plain = randomBytes(10_000);
  const h = sha(plain);
  const env = await key.seal(h, plain);
  await rejectsWith(
    other.open(h, env, 'blobs/ab'),
    /^blobs\/ab: offset 8: encrypted under another key \(key id [0-9a-f]{16}; the key given has id [0-9a-f]{16}\)$/,
  );
  await rejectsWith(key.open(h, plain, 'blobs/cd'), /^blobs\/cd: offset 0: not encrypted/);
  // every region: header (id excluded: that is "another key"), IV, ciphertext, tag
  for (const at of [0, 4, 5, 16, 27, 28, 5000, env.length - 17, env.length - 1]) {
    const bad = Uint8Array.from(env);
    bad[at]! ^= 0x01;
    await assert.rejects(key.open(h, bad, 'blobs/ef'), EncryptionError, `flip at ${at}`);
  }
  await rejectsWith(key.open(h, env.subarray(0, env.length - 1), 'blobs/gh'), /authentication failed/);
  await rejectsWith(
    key.open(h, env.subarray(0, 30), 'blobs/gh'),
    /^blobs\/gh: offset 30: truncated envelope/,
  );
  await rejectsWith(key.open(sha(Buffer.from('another')), env, 'blobs/ij'), /authentication failed/);
});

test('envelope: key files: 32 raw bytes, 64 hex digits, base64; anything else refused naming the file', async () => {
  const raw = randomBytes(32);
  assert.deepEqual(Buffer.from(parseKeyFile(raw, 'k')), raw);
  assert.deepEqual(Buffer.from(parseKeyFile(Buffer.from(`${raw.toString('hex')}\n`), 'k')), raw);
  assert.deepEqual(Buffer.from(parseKeyFile(Buffer.from(` ${raw.toString('base64')}\n`), 'k')), raw);
  for (const bad of [Buffer.alloc(0), randomBytes(16), Buffer.from('x'.repeat(64)), randomBytes(33)]) {
    assert.throws(
      () => parseKeyFile(bad, '/etc/key'),
      (e: unknown) =>
        e instanceof EncryptionError &&
        e.code === 'PAGESTACK_ENCRYPTION_KEY' &&
        /^\/etc\/key: offset 0: expected a 32-byte key/.test(e.message),
    );
  }
  await assert.rejects(EnvelopeKey.fromBytes(randomBytes(31)), EncryptionError);
});
