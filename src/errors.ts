/**
 * Every error pagestack raises on purpose, in one place. Each has a stable `code` (a library
 * user, the HTTP API or a test acts on the code, never on the text) and a `data` object with
 * where it happened (file, offset, address, layer, ...), beside a one-line message for people:
 * `<file>: <where>: <what was expected>`.
 *
 * Messages never name CLI flags (`--pid`, `--force`, ...): a web page or a library user has none.
 * The CLI adds its flag hints by code (src/cli/errors.ts).
 *
 * No Node APIs here: the codec (src/image) and the stack core (src/stack) use these classes.
 */

/** The stable error codes, each with what it means. */
export const ERROR_CODES = {
  PAGESTACK_ERROR: 'an error without a more specific code',
  // the image codec
  PAGESTACK_IMAGE_FORMAT: 'the bytes of an image do not follow the framing or the protobuf wire format',
  PAGESTACK_RAW_IMAGE: 'a raw file (pages-*.img) where a protobuf image was expected',
  PAGESTACK_IMAGE_JSON: 'a JSON document does not describe a valid image',
  // the stack
  PAGESTACK_STACK: 'the stack of snapshots is broken or cannot be used as asked',
  PAGESTACK_NOT_IMAGE_DIR: 'the path is not an image directory',
  PAGESTACK_SOURCE_READ: 'a file of a layer could not be read',
  PAGESTACK_PARENT_LINK: 'a parent link does not lead to a readable image directory',
  PAGESTACK_STACK_CYCLE: 'parent links form a cycle',
  PAGESTACK_STACK_TOO_DEEP: 'the stack has more layers than allowed',
  PAGESTACK_PAGEMAP_ORDER: 'pagemap entries are not sorted or overlap',
  PAGESTACK_PAGEMAP_FLAGS: 'a pagemap entry has invalid flags',
  PAGESTACK_NO_PARENT_LAYER: 'PE_PARENT pages in the bottom layer',
  PAGESTACK_PARENT_NO_PAGEMAP: 'PE_PARENT pages whose parent layer has no such pagemap',
  PAGESTACK_MISSING_IN_PARENT: 'PE_PARENT pages the parent pagemap does not cover',
  PAGESTACK_PAGES_FILE_MISSING: 'a pages file a pagemap needs is missing',
  PAGESTACK_PAGES_FILE_SHORT: 'a pages file is shorter than its pagemap needs',
  PAGESTACK_NO_PAGEMAP: 'the layer has no such pagemap',
  PAGESTACK_NO_PSTREE: 'the top layer has no pstree.img',
  PAGESTACK_PID_REQUIRED: 'the stack has several processes and none was chosen',
  PAGESTACK_NO_SUCH_PID: 'the chosen process is not in the stack',
  PAGESTACK_VMA_RANGE: 'a VMA field is beyond 2^53',
  PAGESTACK_MEMFD_UNRESOLVED: 'a memfd VMA has no shmem pagemap',
  // memory reads
  PAGESTACK_MEMORY_NOT_DUMPED: 'a read asked for pages that were never dumped',
  PAGESTACK_MEMORY_LAZY: 'a read asked for lazy pages (their bytes are with the page server)',
  PAGESTACK_MEMORY_UNMAPPED: 'a read asked for an address no VMA covers, or an invalid range',
  PAGESTACK_MEMORY_RELEASED: 'a read reached a page dedup released, in a layer read through another child',
  // operations
  PAGESTACK_LAYER_OUT_OF_RANGE: 'a layer index outside the stack',
  PAGESTACK_NOT_A_LAYER: 'a directory that is not a layer of the stack',
  PAGESTACK_PAGES_NAME_CLASH: 'two pagemaps of a layer name the same pages file',
  PAGESTACK_OWN_ANCESTOR: 'a layer would become its own ancestor',
  PAGESTACK_NO_OUTPUT: 'an operation that writes was given no output',
  PAGESTACK_DEDUP_BRANCH: 'another directory is a child of an ancestor (a branch dedup could break)',
  PAGESTACK_DELTA_UNRELATED: 'delta of two dumps that have no process in common',
  PAGESTACK_DEDUP_DAMAGED: 'a pages file dedup would rewrite is missing, short or not a regular file',
  PAGESTACK_UNSUPPORTED_SOURCE: 'the operation needs a kind of layer source it was not given',
  PAGESTACK_EXPORT: 'the export cannot be done as asked',
  PAGESTACK_NO_CORE: 'a thread has no core image',
  PAGESTACK_UNSUPPORTED_ARCH: 'the images are of a machine type pagestack cannot export',
  PAGESTACK_RAW_SPAN_TOO_LARGE: 'a raw export spans more than the limit',
  PAGESTACK_EMPTY_WINDOW: 'an address window whose end is below its start',
  PAGESTACK_FILE_TOO_LARGE: 'the file system cannot hold a file this large',
  PAGESTACK_NOT_SEEKABLE: 'output with holes asked of a stream or device',
  // files
  PAGESTACK_FILE: 'a file could not be read',
  PAGESTACK_OUTPUT: 'the output could not be written',
  PAGESTACK_NO_SPACE: 'no space left on the device',
  PAGESTACK_OUTPUT_EXISTS: 'the output directory exists already',
  PAGESTACK_LAYER_WRITE: 'writing an image directory failed',
  PAGESTACK_LOCKED: 'another process is writing the same stack (it holds its lock)',
  PAGESTACK_OUTPUT_IS_INPUT: 'the output is one of the inputs, or a file inside an input directory',
  // checkpoint archives (src/source/archive)
  PAGESTACK_ARCHIVE: 'a checkpoint archive is malformed, hostile, truncated or without CRIU images',
  PAGESTACK_ARCHIVE_LINK: 'a link in an archive leaves it, or leads to no layer in it',
  PAGESTACK_UNPACK_LIMIT: 'a compressed archive expands beyond the unpack limit',
  PAGESTACK_SEARCH_PATTERN: 'a search pattern is not valid',
  // object stores (src/source/s3)
  PAGESTACK_STORE: 'an object store request failed',
  PAGESTACK_STORE_NOT_FOUND: 'an object or bucket the store does not have',
  PAGESTACK_STORE_CONFLICT: 'a conditional write found the object there already',
  PAGESTACK_STORE_UNAVAILABLE:
    'the object store did not answer (down, refusing, failing or too slow) after retries',
  PAGESTACK_STORE_AUTH: 'the object store refused the credentials (missing, wrong or without access)',
  PAGESTACK_STORE_CORRUPT: 'an object whose bytes do not match its hash or its announced length',
  // the page-server protocol and server (src/protocol/pageserver, src/server)
  PAGESTACK_PS_TRUNCATED: 'a page-server stream ended inside a header or inside announced page data',
  PAGESTACK_PS_UNKNOWN_COMMAND: 'a page-server message with a command code CRIU does not have',
  PAGESTACK_PS_BAD_TYPE: 'a page-server message for a pagemap type that is neither process nor shmem',
  PAGESTACK_PS_BAD_HEADER:
    'a page-server header with invalid fields (unknown flags, too many pages, unaligned or out-of-range address)',
  PAGESTACK_PS_UNEXPECTED:
    'a page-server message this server does not take (a GET while receiving, not a GET while serving, data after CLOSE)',
  PAGESTACK_PS_NO_CLOSE: 'the page-server peer closed the connection before CLOSE',
  PAGESTACK_PS_IDLE: 'the page-server peer sent nothing for longer than the idle timeout',
  PAGESTACK_PS_SLOW:
    'a page-server peer too slow for the whole session (silence beyond its budget, a trickle), or a lazy client that does not read its answers',
  PAGESTACK_PS_NO_HEADER:
    'a page-server connection that sent no complete first header within the first-header timeout',
  PAGESTACK_PS_BUSY: 'a page-server connection refused: the server has as many connections open as it allows',
  PAGESTACK_PS_EMPTY:
    'a page-server session that closed without a pagemap entry (no pages): no layer is written',
  PAGESTACK_PS_INGEST:
    'a received dump breaks a rule of a layer (pagemap opened twice, entries not ascending, PE_PARENT not in the layer below, CLOSE inside page data)',
  PAGESTACK_PS_CANNOT_SERVE:
    'a lazy GET for pages the stack cannot serve (no such pagemap, not dumped, lazy without data)',
  PAGESTACK_LISTEN: 'a server could not listen on the address and port asked for',
  PAGESTACK_PS_NO_LAYERS: 'a lazy session on a stack without layers, or on a layer it does not have',
  PAGESTACK_ADD_IMAGES_NOT_PS_DUMP: 'add-images given a dump directory that holds pagemaps or pages files',
  PAGESTACK_ADD_IMAGES_CONFLICT: 'add-images: the layer has an image already, with other bytes',
  PAGESTACK_ADD_IMAGES_VERIFY: 'add-images: the layer with the dump images added does not verify',
  PAGESTACK_ADD_IMAGES_NO_LAYER: 'add-images given a stack where no single layer waits for the dump images',
  PAGESTACK_LAZY_IMAGES_NO_VMA: 'lazy-images: a page of the stack lies in no VMA of mm',
  PAGESTACK_LAZY_IMAGES_NO_DATA: 'lazy-images: a page that cannot be lazy has no data in the stack',
  // OCI registries, image layouts and checkpoint images (src/source/oci)
  PAGESTACK_REGISTRY: 'a registry answered something unexpected, or an OCI reference or layout is malformed',
  PAGESTACK_REGISTRY_AUTH: 'a registry refused the credentials, or asked for credentials there are none of',
  PAGESTACK_REGISTRY_NOT_FOUND: 'no such repository, tag, manifest or blob in the registry or layout',
  PAGESTACK_REGISTRY_RANGE: 'a registry answered a ranged blob read with 416 or with other bytes than asked',
  PAGESTACK_REGISTRY_MEDIA_TYPE: 'a manifest, index or blob of a media type that was not expected',
  PAGESTACK_REGISTRY_DIGEST: 'content whose digest or size is not the one its descriptor names',
  PAGESTACK_REGISTRY_TOO_LARGE: 'a manifest or index above the size limit',
  PAGESTACK_REGISTRY_UNAVAILABLE: 'a registry could not be reached, or answered 5xx',
  PAGESTACK_NOT_CHECKPOINT_IMAGE: 'an image that holds no checkpoint (no checkpoint layer or annotations)',
  // restore (src/ops/restore.ts), hot sets (src/stack/hotset.ts), encryption (src/store/envelope.ts)
  PAGESTACK_NO_CRIU: 'no usable CRIU (none found, or older than 4.0)',
  PAGESTACK_RESTORE: 'criu restore (or its lazy-pages daemon) failed',
  PAGESTACK_INTERRUPTED: 'the operation was stopped by a signal (SIGINT, SIGTERM)',
  PAGESTACK_HOTSET: 'a hot-set file is malformed (magic, version, size, checksum)',
  PAGESTACK_ENCRYPTION_KEY: 'an encryption key file is missing, unreadable or not 32 bytes',
  PAGESTACK_DECRYPT:
    'an encrypted object cannot be opened: encrypted under another key, not encrypted, or altered',
  // the CLI
  PAGESTACK_USAGE: 'wrong arguments',
  // the explorer's HTTP API (src/server/http)
  PAGESTACK_BAD_REQUEST: 'an API request with a missing or invalid parameter',
  PAGESTACK_FOREIGN_REQUEST: 'an API request from another origin or host (refused)',
  PAGESTACK_NOT_FOUND: 'no such API endpoint or file',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Where an error happened, for programs: every field optional, all plain JSON values. */
export interface ErrorData {
  /** The file (or directory) concerned, as the caller named it. */
  readonly file?: string;
  /** Byte offset in `file`. */
  readonly offset?: number;
  /** JSON path of the offending value. */
  readonly path?: string;
  /** Virtual address (or object offset) concerned. */
  readonly address?: number;
  /** The layer concerned (its source name). */
  readonly layer?: string;
  readonly pid?: number;
  readonly [key: string]: string | number | boolean | readonly (string | number)[] | undefined;
}

/** Base class of every error pagestack raises on purpose (bad input, broken stacks, usage). */
export class PagestackError extends Error {
  override name = 'PagestackError';
  /** The code of an error of this class thrown without one. */
  static readonly defaultCode: ErrorCode = 'PAGESTACK_ERROR';
  readonly code: ErrorCode;
  data: ErrorData;

  constructor(message: string, code?: ErrorCode, data: ErrorData = {}) {
    super(message);
    this.code = code ?? (new.target as typeof PagestackError).defaultCode;
    this.data = data;
  }

  toJSON(): { name: string; code: ErrorCode; message: string; data: ErrorData } {
    return { name: this.name, code: this.code, message: this.message, data: this.data };
  }
}

/** An error at a place in a file; the file name is filled in by whoever read the file. */
abstract class LocatedError extends PagestackError {
  /** The file name, when known. */
  file: string | undefined;
  readonly detail: string;

  constructor(detail: string, file: string | undefined, code: ErrorCode, data: ErrorData) {
    super('', code, file === undefined ? data : { ...data, file });
    this.detail = detail;
    this.file = file;
  }

  /** Where in the file, e.g. "offset 12" or "$.entries[3].vaddr". */
  protected abstract where(): string;
  protected abstract readonly unnamed: string;

  withFile(file: string): this {
    this.file = file;
    this.data = { ...this.data, file };
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

  constructor(detail: string, offset: number, file?: string, code: ErrorCode = 'PAGESTACK_IMAGE_FORMAT') {
    super(detail, file, code, { offset });
    this.offset = offset;
    this.message = this.format();
  }

  protected where(): string {
    return `offset ${this.offset}`;
  }
}

/** Thrown for `pages-*.img` and other raw files that have no magic at all. */
export class RawImageError extends ImageFormatError {
  override name = 'RawImageError';

  constructor(detail: string, offset: number, file?: string) {
    super(detail, offset, file, 'PAGESTACK_RAW_IMAGE');
  }
}

/** A JSON document does not describe a valid image (wrong type, unknown field, bad value). */
export class ImageJsonError extends LocatedError {
  override name = 'ImageJsonError';
  protected readonly unnamed = '<json>';
  /** JSON path of the offending value, e.g. `$.entries[3].vaddr`. */
  readonly path: string;

  constructor(detail: string, path: string, file?: string) {
    super(detail, file, 'PAGESTACK_IMAGE_JSON', { path });
    this.path = path;
    this.message = this.format();
  }

  protected where(): string {
    return this.path;
  }
}

/**
 * The stack of snapshots is broken (a missing or cyclic parent, an unresolvable PE_PARENT range),
 * or an operation cannot use it as asked; `code` says which.
 */
export class StackError extends PagestackError {
  override name = 'StackError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_STACK';
}

export type MemoryAccessReason = 'not-dumped' | 'lazy' | 'unmapped';

const MEMORY_CODES: Readonly<Record<MemoryAccessReason, ErrorCode>> = {
  'not-dumped': 'PAGESTACK_MEMORY_NOT_DUMPED',
  lazy: 'PAGESTACK_MEMORY_LAZY',
  unmapped: 'PAGESTACK_MEMORY_UNMAPPED',
};

/** A read asked for memory the images do not hold. */
export class MemoryAccessError extends PagestackError {
  override name = 'MemoryAccessError';
  readonly reason: MemoryAccessReason;
  /** The first address that could not be read. */
  readonly address: number;

  constructor(reason: MemoryAccessReason, address: number, detail: string, data: ErrorData = {}) {
    super(detail, MEMORY_CODES[reason], { ...data, reason, address });
    this.reason = reason;
    this.address = address;
  }
}

/** The export cannot be done as asked (too large a raw span, a missing core image, ...). */
export class ExportError extends PagestackError {
  override name = 'ExportError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_EXPORT';
}

/** A file could not be read (a directory, a device, permissions). */
export class FileError extends PagestackError {
  override name = 'FileError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_FILE';
}

/** An output file could not be written (no space, permissions, not a file...). */
export class OutputError extends PagestackError {
  override name = 'OutputError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_OUTPUT';
}

/** A write to an image directory failed (exists already, no space, permissions...). */
export class LayerWriteError extends PagestackError {
  override name = 'LayerWriteError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_LAYER_WRITE';
}

/** Another process holds the lock of a stack this writer needs (src/engine/lock.ts). */
export class LockError extends PagestackError {
  override name = 'LockError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_LOCKED';
}

/** Wrong arguments. The CLI exits 2 for these (1 for everything else). */
export class UsageError extends PagestackError {
  override name = 'UsageError';

  constructor(message: string, data: ErrorData = {}) {
    super(message, 'PAGESTACK_USAGE', data);
  }
}

/** A checkpoint archive that cannot be used; the message starts with the archive, then the member or offset. */
export class ArchiveError extends PagestackError {
  override name = 'ArchiveError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_ARCHIVE';
}

/**
 * An OCI registry, layout or image that cannot be used as asked; the message starts with the
 * reference (`oci://host/repo:tag`, a layout path), then what was read, then what was expected.
 */
export class RegistryError extends PagestackError {
  override name = 'RegistryError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_REGISTRY';
}

/** A search pattern that cannot be compiled (bad hex, bad regular expression). */
export class SearchPatternError extends PagestackError {
  override name = 'SearchPatternError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_SEARCH_PATTERN';
}

/** The stream does not follow the page-server protocol. */
export class PageServerProtocolError extends PagestackError {
  override name = 'PageServerProtocolError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_PS_BAD_HEADER';
  /** Byte offset in the stream (of the message at fault, or of the end where it was cut). */
  readonly offset: number;

  constructor(detail: string, offset: number, code: ErrorCode = 'PAGESTACK_PS_BAD_HEADER') {
    super(`byte ${offset}: ${detail}`, code, { offset });
    this.offset = offset;
  }
}

/** The session's data breaks a rule of the layer (not of the wire format). */
export class IngestError extends PagestackError {
  override name = 'IngestError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_PS_INGEST';
}

/**
 * A page-server session that cannot go on, or a page server that cannot start; `code` says why
 * (ERROR_CODES' PAGESTACK_PS_*, PAGESTACK_LISTEN), `data` has the peer and the byte offset in its
 * stream (and for lazy GETs the pid and address).
 */
export class PageServerError extends PagestackError {
  override name = 'PageServerError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_PS_UNEXPECTED';
}

/** A restore that cannot run or failed: no usable CRIU, CRIU's exit, a signal; `code` says which. */
export class RestoreError extends PagestackError {
  override name = 'RestoreError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_RESTORE';
}

/** A key that cannot be used, or an object it cannot open (PAGESTACK_ENCRYPTION_KEY, PAGESTACK_DECRYPT). */
export class EncryptionError extends PagestackError {
  override name = 'EncryptionError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_DECRYPT';
}

// The explorer's HTTP API (src/server/http; statuses chosen by code in server.ts)

/** A request the API cannot answer as asked: a missing or bad parameter (HTTP 400). */
export class RequestError extends PagestackError {
  override name = 'RequestError';

  constructor(message: string, data: ErrorData = {}) {
    super(message, 'PAGESTACK_BAD_REQUEST', data);
  }
}

/** A request from a page that is not the explorer's own: another Origin or Host (HTTP 403). */
export class ForeignRequestError extends PagestackError {
  override name = 'ForeignRequestError';

  constructor(message: string, data: ErrorData = {}) {
    super(message, 'PAGESTACK_FOREIGN_REQUEST', data);
  }
}

/** No such endpoint or file (HTTP 404). */
export class NotFoundError extends PagestackError {
  override name = 'NotFoundError';

  constructor(message: string, data: ErrorData = {}) {
    super(message, 'PAGESTACK_NOT_FOUND', data);
  }
}

// Object stores (src/source/s3 and what builds on it)

/**
 * An object store request that failed; `code` says how (ERROR_CODES' PAGESTACK_STORE_*). The
 * message starts with the object (`s3://bucket/key`, never with credentials), then what was done,
 * then what happened; `data.object` is that object, `data.status` the HTTP status when there was one.
 */
export class StoreError extends PagestackError {
  override name = 'StoreError';
  static override readonly defaultCode: ErrorCode = 'PAGESTACK_STORE';
}
