/** pagestack's library API. */

export { messageFromJson, messageToJson } from './image/crit-json.js';
export * from './image/errors.js';
export * from './image/image.js';
export * from './image/jsontext.js';
export * from './image/magic.js';
export * from './image/pagemap.js';
export * from './image/schema.js';
export { openStackDir } from './open.js';
export { DirLayerSource } from './source/dir.js';
export * from './stack/errors.js';
export * from './stack/memory.js';
export * from './stack/process.js';
export * from './stack/resolve.js';
export * from './stack/source.js';
export * from './stack/stack.js';
