/** The archive reader's error class lives with the others in src/errors.ts. */
export { ArchiveError } from '../../errors.js';
