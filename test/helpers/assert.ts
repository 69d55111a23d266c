/** Assertions that say where two values differ. */
import assert from 'node:assert/strict';
import type { JsonValue } from '../../src/image/jsontext.js';

/** Asserts equal bytes, naming the first offset that differs. */
export function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (Buffer.from(actual).equals(Buffer.from(expected))) return;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  assert.fail(
    `${what}: ${actual.length} bytes vs ${expected.length} expected, first difference at offset ${i}`,
  );
}

/**
 * Deep equality of parsed JSON that also requires the same key order and the same kinds of value
 * (a string "5" is not the number 5). Integers compare exactly (parseJson keeps big ones as bigint).
 */
export function assertSameJson(actual: JsonValue, expected: JsonValue, path = '$'): void {
  const kind = (v: JsonValue): string =>
    v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'bigint' ? 'number' : typeof v;
  assert.equal(kind(actual), kind(expected), `${path}: ${kind(actual)} instead of ${kind(expected)}`);
  if (Array.isArray(expected)) {
    const a = actual as JsonValue[];
    assert.equal(a.length, expected.length, `${path}: ${a.length} elements instead of ${expected.length}`);
    for (const [i, e] of expected.entries()) assertSameJson(a[i]!, e, `${path}[${i}]`);
  } else if (kind(expected) === 'object') {
    const a = actual as { [k: string]: JsonValue };
    const e = expected as { [k: string]: JsonValue };
    assert.deepEqual(Object.keys(a), Object.keys(e), `${path}: keys (in order)`);
    for (const k of Object.keys(e)) assertSameJson(a[k]!, e[k]!, `${path}.${k}`);
  } else if (kind(expected) === 'number') {
    assert.ok(
      BigInt(actual as number | bigint) === BigInt(expected as number | bigint),
      `${path}: ${actual} !== ${expected}`,
    );
  } else {
    assert.equal(actual, expected, path);
  }
}
