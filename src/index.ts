/**
 * pagestack's library API, listed by name: what is here is public; everything else is internal
 * (tests import internals from their own modules).
 */

// one writer per stack (docs/safety.md)
export { type LockHolder, type LockOptions, lockHolder, StackLock, withLock } from './engine/lock.js';
export type { ProgressReporter } from './engine/progress.js';
export type { ExportOptions, ExportSummary } from './engine/runs.js';
// errors: every class, with its stable code and data
export {
  ArchiveError,
  ERROR_CODES,
  type ErrorCode,
  type ErrorData,
  ExportError,
  FileError,
  ImageFormatError,
  ImageJsonError,
  LayerWriteError,
  LockError,
  MemoryAccessError,
  type MemoryAccessReason,
  OutputError,
  PagestackError,
  RawImageError,
  SearchPatternError,
  StackError,
  UsageError,
} from './errors.js';
// the image codec
export { messageFromJson, messageToJson } from './image/crit-json.js';
export { EXTRA_PAYLOAD_TYPES, type Extra, type IpcMessage } from './image/extra.js';
export {
  type CriuImage,
  decodeImage,
  decodeToJsonText,
  encodeFromJsonText,
  encodeImage,
  type Framing,
  imageFromJson,
  imageToJson,
} from './image/image.js';
export { type JsonValue, parseJson, stringifyJson } from './image/jsontext.js';
export { MAGICS, magicName } from './image/magic.js';
export {
  decodePagemap,
  PAGE_SIZE,
  type PagemapColumns,
  PE_LAZY,
  PE_PARENT,
  PE_PRESENT,
} from './image/pagemap.js';
export type { Message } from './image/schema.js';
// operations over stacks and layer sources
export { type DedupOptions, type DedupResult, dedupStack, planDedup } from './ops/dedup.js';
export { type DeltaOptions, type DeltaResult, delta } from './ops/delta.js';
export { type DiffOptions, type DiffResult, diffStacks, diffToJson } from './ops/diff.js';
export { exportElf } from './ops/export-elf.js';
export { exportRaw, MAX_RAW_SPAN, type RawExportOptions } from './ops/export-raw.js';
export { type InspectArchive, type InspectOptions, type InspectReport, inspectStack } from './ops/inspect.js';
export { type ProcessMaps, processMaps } from './ops/maps.js';
export {
  compilePattern,
  type PatternOptions,
  type SearchMatch,
  type SearchOptions,
  type SearchPattern,
  type SearchSummary,
  searchStack,
} from './ops/search.js';
export { type SquashOptions, type SquashResult, squash } from './ops/squash.js';
export { type StackSummary, summarizeStack } from './ops/summary.js';
export { type VerifyOptions, type VerifyReport, verifyStack } from './ops/verify.js';
// where the bytes live
export {
  Archive,
  type ArchiveFormat,
  ArchiveLayerSource,
  type Engine,
  type OpenArchiveOptions,
  openArchiveSource,
  writeArchiveLike,
} from './source/archive/index.js';
export { DirLayerSource } from './source/dir.js';
export { openSource, openStackDir, openTarget } from './source/open.js';
// the stack core
export type { PagemapMemory, ReadOptions } from './stack/memory.js';
export type { ProcessMemory, Vma } from './stack/process.js';
export { firstUnreadable } from './stack/readable.js';
export { LAZY, type ResolvedPagemap } from './stack/resolve.js';
export type { LayerSource, RandomAccessFile } from './stack/source.js';
export { type Layer, type OpenStackOptions, openStack, type ProcessInfo, Stack } from './stack/stack.js';
