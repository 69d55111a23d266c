import { PagestackError } from '../image/errors.js';

/** The stack of snapshots is broken: a missing or cyclic parent, an unresolvable PE_PARENT range. */
export class StackError extends PagestackError {
  override name = 'StackError';
}

export type MemoryAccessReason = 'not-dumped' | 'lazy' | 'unmapped';

/** A read asked for memory the images do not hold. */
export class MemoryAccessError extends PagestackError {
  override name = 'MemoryAccessError';
  readonly reason: MemoryAccessReason;
  /** The first address that could not be read. */
  readonly address: number;

  constructor(reason: MemoryAccessReason, address: number, detail: string) {
    super(detail);
    this.reason = reason;
    this.address = address;
  }
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
