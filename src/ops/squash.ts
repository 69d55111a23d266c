/**
 * `squash`: one image directory holding what a whole stack (or the part of it above some layer)
 * holds. The work is the engine's (src/engine/squash.ts), which `restore` shares for its eager
 * restore directory.
 */
export { keepBelowIndex, type SquashOptions, type SquashResult, squash } from '../engine/squash.js';
