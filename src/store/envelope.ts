/**
 * Encryption at rest for the object store: one envelope per object, AES-256-GCM under a key
 * derived (HKDF-SHA256) from the user's key and the object's plaintext hash. Equal plaintexts get
 * the same derived key, so content addressing still finds an object already pushed under the same
 * user key (dedup works within one key); the hash is bound into the tag, so an envelope cannot be
 * passed off as another object.
 *
 *   user key (32 bytes, from the key file)
 *     |-- HKDF(salt = "",   info = "pagestack key id v1")   -> key id (8 bytes, stored: tells a wrong key apart)
 *     `-- HKDF(salt = hash, info = "pagestack object v1")   -> AES-256 key of this object
 *
 *   envelope:
 *     offset size
 *          0    4  magic "PSEN"
 *          4    1  version 1
 *          5    1  suite 1 = HKDF-SHA256 + AES-256-GCM
 *          6    2  zero
 *          8    8  key id
 *         16   12  IV (random per seal: never reused under a derived key, even if a caller
 *                  seals two different plaintexts under one hash by mistake)
 *         28    n  ciphertext
 *       28+n   16  GCM tag; additional data = bytes 0..28 of the envelope + the hash
 *
 * A wrong key, a missing key (an envelope read without one), or an altered object is one
 * EncryptionError line naming the object, never garbage: GCM authenticates before anything is
 * returned. The user key never leaves this module's CryptoKey objects (not extractable).
 *
 * WebCrypto only (`crypto.subtle`, in Node 20 and browsers); no Node APIs.
 */
import { EncryptionError } from '../errors.js';

const MAGIC = [0x50, 0x53, 0x45, 0x4e]; // "PSEN"
const VERSION = 1;
const SUITE = 1;
export const ENVELOPE_HEAD = 28;
const TAG = 16;
/** Bytes an envelope adds to its plaintext. */
export const ENVELOPE_OVERHEAD = ENVELOPE_HEAD + TAG;

const te = new TextEncoder();
const subtle = (): SubtleCrypto => globalThis.crypto.subtle;

/** `b` as WebCrypto takes it (a view of an ArrayBuffer, not a SharedArrayBuffer). */
function bs(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : new Uint8Array(b);
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * The 32-byte key in a key file: 32 raw bytes, or 64 hex digits, or 44 characters of base64
 * (surrounding white space ignored). `file` names it in errors.
 */
export function parseKeyFile(bytes: Uint8Array, file: string): Uint8Array {
  if (bytes.length === 32) return bytes.slice();
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes).trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) {
    const k = new Uint8Array(32);
    for (let i = 0; i < 32; i++) k[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
    return k;
  }
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) {
    const bin = atob(text);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
  throw new EncryptionError(
    `${file}: offset 0: expected a 32-byte key (32 raw bytes, 64 hex digits or 44 base64 characters), found ${bytes.length} bytes`,
    'PAGESTACK_ENCRYPTION_KEY',
    { file },
  );
}

/** Whether `bytes` start like an envelope (magic and version). */
export function isEnvelope(bytes: Uint8Array): boolean {
  return bytes.length >= ENVELOPE_OVERHEAD && MAGIC.every((m, i) => bytes[i] === m) && bytes[4] === VERSION;
}

/** A user key, ready to seal and open objects. */
export class EnvelopeKey {
  /** 8 bytes that name the key (derived, not secret); stored in every envelope. */
  readonly id: Uint8Array;
  private readonly hkdf: CryptoKey;

  private constructor(hkdf: CryptoKey, id: Uint8Array) {
    this.hkdf = hkdf;
    this.id = id;
  }

  /** From the 32 key bytes (parseKeyFile). */
  static async fromBytes(raw: Uint8Array): Promise<EnvelopeKey> {
    if (raw.length !== 32) {
      throw new EncryptionError(`key: ${raw.length} bytes, expected 32`, 'PAGESTACK_ENCRYPTION_KEY', {});
    }
    const hkdf = await subtle().importKey('raw', bs(raw), 'HKDF', false, ['deriveBits', 'deriveKey']);
    const bits = await subtle().deriveBits(
      { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: te.encode('pagestack key id v1') },
      hkdf,
      64,
    );
    return new EnvelopeKey(hkdf, new Uint8Array(bits));
  }

  /** The key id as hex (for messages: it names the key without revealing it). */
  get idHex(): string {
    return hex(this.id);
  }

  private objectKey(hash: Uint8Array, use: KeyUsage): Promise<CryptoKey> {
    return subtle().deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: bs(hash), info: te.encode('pagestack object v1') },
      this.hkdf,
      { name: 'AES-GCM', length: 256 },
      false,
      [use],
    );
  }

  /** The envelope of `plain`, whose content hash (the object's address) is `hash`. */
  async seal(hash: Uint8Array, plain: Uint8Array): Promise<Uint8Array> {
    const head = new Uint8Array(ENVELOPE_HEAD);
    head.set(MAGIC, 0);
    head[4] = VERSION;
    head[5] = SUITE;
    head.set(this.id, 8);
    globalThis.crypto.getRandomValues(head.subarray(16, 28));
    const key = await this.objectKey(hash, 'encrypt');
    const ct = new Uint8Array(
      await subtle().encrypt(
        { name: 'AES-GCM', iv: head.subarray(16, 28), additionalData: aad(head, hash), tagLength: 128 },
        key,
        bs(plain),
      ),
    );
    const out = new Uint8Array(ENVELOPE_HEAD + ct.length);
    out.set(head, 0);
    out.set(ct, ENVELOPE_HEAD);
    return out;
  }

  /**
   * The plaintext of the envelope `sealed` of object `name` (for messages) with content hash `hash`;
   * an EncryptionError (PAGESTACK_DECRYPT) when it is not an envelope, is under another key, or
   * was altered.
   */
  async open(hash: Uint8Array, sealed: Uint8Array, name: string): Promise<Uint8Array> {
    if (sealed.length >= 5 && MAGIC.every((m, i) => sealed[i] === m) && sealed.length < ENVELOPE_OVERHEAD) {
      throw new EncryptionError(
        `${name}: offset ${sealed.length}: truncated envelope (${sealed.length} bytes, at least ${ENVELOPE_OVERHEAD})`,
        'PAGESTACK_DECRYPT',
        { file: name, offset: sealed.length },
      );
    }
    if (!isEnvelope(sealed)) {
      throw new EncryptionError(
        `${name}: offset 0: not encrypted (no envelope); it was stored without an encryption key`,
        'PAGESTACK_DECRYPT',
        { file: name, offset: 0 },
      );
    }
    if (sealed[5] !== SUITE) {
      throw new EncryptionError(
        `${name}: offset 5: cipher suite ${sealed[5]}, expected ${SUITE}`,
        'PAGESTACK_DECRYPT',
        {
          file: name,
          offset: 5,
        },
      );
    }
    const id = sealed.subarray(8, 16);
    if (!id.every((b, i) => b === this.id[i])) {
      throw new EncryptionError(
        `${name}: offset 8: encrypted under another key (key id ${hex(id)}; the key given has id ${this.idHex})`,
        'PAGESTACK_DECRYPT',
        { file: name, offset: 8 },
      );
    }
    const head = sealed.subarray(0, ENVELOPE_HEAD);
    const key = await this.objectKey(hash, 'decrypt');
    try {
      return new Uint8Array(
        await subtle().decrypt(
          { name: 'AES-GCM', iv: bs(head.subarray(16, 28)), additionalData: aad(head, hash), tagLength: 128 },
          key,
          bs(sealed.subarray(ENVELOPE_HEAD)),
        ),
      );
    } catch {
      throw new EncryptionError(
        `${name}: offset ${ENVELOPE_HEAD}: authentication failed: the object was altered or truncated, or is not the object of this hash`,
        'PAGESTACK_DECRYPT',
        { file: name, offset: ENVELOPE_HEAD },
      );
    }
  }
}

function aad(head: Uint8Array, hash: Uint8Array): Uint8Array<ArrayBuffer> {
  const a = new Uint8Array(head.length + hash.length);
  a.set(head, 0);
  a.set(hash, head.length);
  return a;
}
