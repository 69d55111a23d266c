/**
 * Typed errors of the image codec. Every error carries where it happened (a byte offset into the
 * image, or a JSON path) so that the CLI can print one line naming the file and the place.
 */

/** Base class of every error pagestack raises on purpose (bad input, broken stacks, usage). */
export class PagestackError extends Error {
  override name = 'PagestackError';
}

/** The bytes of an image do not follow the framing or the protobuf wire format. */
export class ImageFormatError extends PagestackError {
  override name = 'ImageFormatError';
  /** Byte offset into the image where the problem was found. */
  readonly offset: number;
  /** The file name, when known (filled in by whoever read the file). */
  file: string | undefined;
  readonly detail: string;

  constructor(detail: string, offset: number, file?: string) {
    super('');
    this.detail = detail;
    this.offset = offset;
    this.file = file;
    this.message = this.format();
  }

  withFile(file: string): this {
    this.file = file;
    this.message = this.format();
    return this;
  }

  private format(): string {
    return `${this.file ?? '<image>'}: offset ${this.offset}: ${this.detail}`;
  }
}

/** A JSON document does not describe a valid image (wrong type, unknown field, bad value). */
export class ImageJsonError extends PagestackError {
  override name = 'ImageJsonError';
  /** JSON path of the offending value, e.g. `$.entries[3].vaddr`. */
  readonly path: string;
  file: string | undefined;
  readonly detail: string;

  constructor(detail: string, path: string, file?: string) {
    super('');
    this.detail = detail;
    this.path = path;
    this.file = file;
    this.message = this.format();
  }

  withFile(file: string): this {
    this.file = file;
    this.message = this.format();
    return this;
  }

  private format(): string {
    return `${this.file ?? '<json>'}: ${this.path}: ${this.detail}`;
  }
}
