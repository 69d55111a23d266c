/**
 * Shorthand for writing message schemas: `req(1, 'pid', 'uint32')`, `opt(3, 'reg', () => regFile)`,
 * `rep(4, 'tls', () => userDesc)`, `req(1, 'type', fdTypes)`. A thunk makes a message field, an
 * `EnumSchema` an enum field, a type name a scalar field. The result is plain `FieldSchema` data.
 *
 * CRIU's .proto files declare no `[packed = true]` field, so every repeated scalar here is written
 * unpacked (one key per element), as protobuf-c writes it.
 */
import type { EnumSchema, FieldSchema, MessageSchema, ScalarType } from '../schema.js';

export type FieldKind = ScalarType | EnumSchema | (() => MessageSchema);

/** The `(criu).xxx` display options (and `packed`) a field may carry. */
export type FieldOptions = Pick<
  FieldSchema,
  'packed' | 'hex' | 'flags' | 'dev' | 'odev' | 'dict' | 'conv' | 'ipadd'
>;

function field(
  label: FieldSchema['label'],
  no: number,
  name: string,
  kind: FieldKind,
  opts?: FieldOptions,
): FieldSchema {
  if (typeof kind === 'function') return { no, name, type: 'message', label, message: kind, ...opts };
  if (typeof kind === 'object') return { no, name, type: 'enum', label, enum: kind, ...opts };
  return { no, name, type: kind, label, ...opts };
}

export function req(no: number, name: string, kind: FieldKind, opts?: FieldOptions): FieldSchema {
  return field('required', no, name, kind, opts);
}

export function opt(no: number, name: string, kind: FieldKind, opts?: FieldOptions): FieldSchema {
  return field('optional', no, name, kind, opts);
}

export function rep(no: number, name: string, kind: FieldKind, opts?: FieldOptions): FieldSchema {
  return field('repeated', no, name, kind, opts);
}

export function enumOf(name: string, values: Record<string, number>): EnumSchema {
  return { name, values };
}

/** Required fields of one type numbered `first`, `first + 1`, ... in the order given (register sets). */
export function seq(first: number, type: ScalarType, names: readonly string[]): FieldSchema[] {
  return names.map((name, i) => req(first + i, name, type));
}

export const HEX: FieldOptions = { hex: true };
