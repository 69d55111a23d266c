/** pagestack's library API. */

export { messageFromJson, messageToJson } from './image/crit-json.js';
export * from './image/errors.js';
export * from './image/image.js';
export * from './image/jsontext.js';
export * from './image/magic.js';
export * from './image/pagemap.js';
export * from './image/schema.js';
