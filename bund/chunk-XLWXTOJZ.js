var __create = Object.create;
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __getProtoOf = Object.getPrototypeOf;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __require = /* @__PURE__ */ ((x) => typeof require !== "undefined" ? require : typeof Proxy !== "undefined" ? new Proxy(x, {
  get: (a, b) => (typeof require !== "undefined" ? require : a)[b]
}) : x)(function(x) {
  if (typeof require !== "undefined") return require.apply(this, arguments);
  throw Error('Dynamic require of "' + x + '" is not supported');
});
var __commonJS = (cb, mod) => function __require2() {
  try {
    return mod || (0, cb[__getOwnPropNames(cb)[0]])((mod = { exports: {} }).exports, mod), mod.exports;
  } catch (e) {
    throw mod = 0, e;
  }
};
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toESM = (mod, isNodeMode, target) => (target = mod != null ? __create(__getProtoOf(mod)) : {}, __copyProps(
  // If the importer is in node compatibility mode or this is not an ESM
  // file that has been converted to a CommonJS file using a Babel-
  // compatible transform (i.e. "__esModule" has not been set), then set
  // "default" to the CommonJS "module.exports" for node compatibility.
  isNodeMode || !mod || !mod.__esModule ? __defProp(target, "default", { value: mod, enumerable: true }) : target,
  mod
));

// src/errors.ts
var PagestackError = class extends Error {
  name = "PagestackError";
  /** The code of an error of this class thrown without one. */
  static defaultCode = "PAGESTACK_ERROR";
  code;
  data;
  constructor(message, code, data = {}) {
    super(message);
    this.code = code ?? new.target.defaultCode;
    this.data = data;
  }
  toJSON() {
    return { name: this.name, code: this.code, message: this.message, data: this.data };
  }
};
var LocatedError = class extends PagestackError {
  /** The file name, when known. */
  file;
  detail;
  constructor(detail, file, code, data) {
    super("", code, file === void 0 ? data : { ...data, file });
    this.detail = detail;
    this.file = file;
  }
  withFile(file) {
    this.file = file;
    this.data = { ...this.data, file };
    this.message = this.format();
    return this;
  }
  format() {
    return `${this.file ?? this.unnamed}: ${this.where()}: ${this.detail}`;
  }
};
var ImageFormatError = class extends LocatedError {
  name = "ImageFormatError";
  unnamed = "<image>";
  /** Byte offset into the image where the problem was found. */
  offset;
  constructor(detail, offset, file, code = "PAGESTACK_IMAGE_FORMAT") {
    super(detail, file, code, { offset });
    this.offset = offset;
    this.message = this.format();
  }
  where() {
    return `offset ${this.offset}`;
  }
};
var RawImageError = class extends ImageFormatError {
  name = "RawImageError";
  constructor(detail, offset, file) {
    super(detail, offset, file, "PAGESTACK_RAW_IMAGE");
  }
};
var ImageJsonError = class extends LocatedError {
  name = "ImageJsonError";
  unnamed = "<json>";
  /** JSON path of the offending value, e.g. `$.entries[3].vaddr`. */
  path;
  constructor(detail, path, file) {
    super(detail, file, "PAGESTACK_IMAGE_JSON", { path });
    this.path = path;
    this.message = this.format();
  }
  where() {
    return this.path;
  }
};
var StackError = class extends PagestackError {
  name = "StackError";
  static defaultCode = "PAGESTACK_STACK";
};
var MEMORY_CODES = {
  "not-dumped": "PAGESTACK_MEMORY_NOT_DUMPED",
  lazy: "PAGESTACK_MEMORY_LAZY",
  unmapped: "PAGESTACK_MEMORY_UNMAPPED"
};
var MemoryAccessError = class extends PagestackError {
  name = "MemoryAccessError";
  reason;
  /** The first address that could not be read. */
  address;
  constructor(reason, address, detail, data = {}) {
    super(detail, MEMORY_CODES[reason], { ...data, reason, address });
    this.reason = reason;
    this.address = address;
  }
};
var ExportError = class extends PagestackError {
  name = "ExportError";
  static defaultCode = "PAGESTACK_EXPORT";
};
var FileError = class extends PagestackError {
  name = "FileError";
  static defaultCode = "PAGESTACK_FILE";
};
var OutputError = class extends PagestackError {
  name = "OutputError";
  static defaultCode = "PAGESTACK_OUTPUT";
};
var LayerWriteError = class extends PagestackError {
  name = "LayerWriteError";
  static defaultCode = "PAGESTACK_LAYER_WRITE";
};
var UsageError = class extends PagestackError {
  name = "UsageError";
  constructor(message, data = {}) {
    super(message, "PAGESTACK_USAGE", data);
  }
};
var ArchiveError = class extends PagestackError {
  name = "ArchiveError";
  static defaultCode = "PAGESTACK_ARCHIVE";
};
var SearchPatternError = class extends PagestackError {
  name = "SearchPatternError";
  static defaultCode = "PAGESTACK_SEARCH_PATTERN";
};
var PageServerProtocolError = class extends PagestackError {
  name = "PageServerProtocolError";
  static defaultCode = "PAGESTACK_PS_BAD_HEADER";
  /** Byte offset in the stream (of the message at fault, or of the end where it was cut). */
  offset;
  constructor(detail, offset, code = "PAGESTACK_PS_BAD_HEADER") {
    super(`byte ${offset}: ${detail}`, code, { offset });
    this.offset = offset;
  }
};
var IngestError = class extends PagestackError {
  name = "IngestError";
  static defaultCode = "PAGESTACK_PS_INGEST";
};
var PageServerError = class extends PagestackError {
  name = "PageServerError";
  static defaultCode = "PAGESTACK_PS_UNEXPECTED";
};
var RequestError = class extends PagestackError {
  name = "RequestError";
  constructor(message, data = {}) {
    super(message, "PAGESTACK_BAD_REQUEST", data);
  }
};
var ForeignRequestError = class extends PagestackError {
  name = "ForeignRequestError";
  constructor(message, data = {}) {
    super(message, "PAGESTACK_FOREIGN_REQUEST", data);
  }
};
var NotFoundError = class extends PagestackError {
  name = "NotFoundError";
  constructor(message, data = {}) {
    super(message, "PAGESTACK_NOT_FOUND", data);
  }
};

export {
  __require,
  __commonJS,
  __toESM,
  PagestackError,
  ImageFormatError,
  RawImageError,
  ImageJsonError,
  StackError,
  MemoryAccessError,
  ExportError,
  FileError,
  OutputError,
  LayerWriteError,
  UsageError,
  ArchiveError,
  SearchPatternError,
  PageServerProtocolError,
  IngestError,
  PageServerError,
  RequestError,
  ForeignRequestError,
  NotFoundError
};
