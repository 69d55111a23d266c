/**
 * Which message schema each image type's entries use (by crit's magic name).
 * An image type listed in magic.ts but not here still decodes: its entries become raw fields.
 */
import type { MessageSchema } from '../schema.js';
import { pagemapEntry, pagemapHead } from './pagemap.js';

export interface ImageSchema {
  /** Schema of the first entry, when it differs from the rest (pagemap's head). */
  readonly head?: MessageSchema;
  readonly entry: MessageSchema;
}

export const IMAGE_SCHEMAS: Readonly<Record<string, ImageSchema>> = {
  PAGEMAP: { head: pagemapHead, entry: pagemapEntry },
};
