/**
 * Typed errors of the image codec. Every error carries where it happened (a byte offset into the
 * image, or a JSON path) so that the CLI can print one line naming the file and the place:
 * `<file>: <where>: <what was expected>`.
 */

/** Base class of every error pagestack raises on purpose (bad input, broken stacks, usage). */
export class PagestackError extends Error {
  override name = 'PagestackError';
}

/** An error at a place in a file; the file name is filled in by whoever read the file. */
abstract class LocatedError extends PagestackError {
  /** The file name, when known. */
  file: string | undefined;
  readonly detail: string;

  constructor(detail: string, file: string | undefined) {
    super('');
    this.detail = detail;
    this.file = file;
  }

  /** Where in the file, e.g. "offset 12" or "$.entries[3].vaddr". */
  protected abstract where(): string;
  protected abstract readonly unnamed: string;

  withFile(file: string): this {
    this.file = file;
    this.message = this.format();
    return this;
  }

  protected format(): string {
    return `${this.file ?? this.unnamed}: ${this.where()}: ${this.detail}`;
  }
}

/** The bytes of an image do not follow the framing or the protobuf wire format. */
export class ImageFormatError extends LocatedError {
  override name = 'ImageFormatError';
  protected readonly unnamed = '<image>';
  /** Byte offset into the image where the problem was found. */
  readonly offset: number;

  constructor(detail: string, offset: number, file?: string) {
    super(detail, file);
    this.offset = offset;
    this.message = this.format();
  }

  protected where(): string {
    return `offset ${this.offset}`;
  }
}

/** A JSON document does not describe a valid image (wrong type, unknown field, bad value). */
export class ImageJsonError extends LocatedError {
  override name = 'ImageJsonError';
  protected readonly unnamed = '<json>';
  /** JSON path of the offending value, e.g. `$.entries[3].vaddr`. */
  readonly path: string;

  constructor(detail: string, path: string, file?: string) {
    super(detail, file);
    this.path = path;
    this.message = this.format();
  }

  protected where(): string {
    return this.path;
  }
}
