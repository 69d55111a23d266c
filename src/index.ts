/** pagestack's library API. */

export { messageFromJson, messageToJson } from './image/crit-json.js';
export * from './image/errors.js';
// Extra payloads of pipe/socket/ghost/ipc images
export { EXTRA_PAYLOAD_TYPES, type Extra, type IpcMessage } from './image/extra.js';
export * from './image/image.js';
export * from './image/jsontext.js';
export * from './image/magic.js';
export * from './image/pagemap.js';
export * from './image/schema.js';
export { openStackDir } from './open.js';
// Operations over a stack
export { type DedupOptions, type DedupResult, dedupStack, planDedup } from './ops/dedup.js';
export { type DeltaOptions, type DeltaResult, delta } from './ops/delta.js';
export { type DiffOptions, type DiffResult, diffStacks, diffToJson } from './ops/diff.js';
export { exportElf } from './ops/export-elf.js';
export {
  type ExportOptions,
  type ExportSummary,
  exportRaw,
  type RawExportOptions,
} from './ops/export-raw.js';
export type { ProgressReporter } from './ops/progress.js';
export { type SquashOptions, type SquashResult, squash } from './ops/squash.js';
export { processMaps, type StackSummary, summarizeStack } from './ops/summary.js';
export { type VerifyOptions, type VerifyReport, verifyStack } from './ops/verify.js';
export { DirLayerSource } from './source/dir.js';
export * from './stack/errors.js';
export * from './stack/memory.js';
export * from './stack/process.js';
export * from './stack/resolve.js';
export * from './stack/source.js';
export * from './stack/stack.js';
