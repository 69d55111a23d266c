/** Usage errors: wrong arguments. The CLI exits 2 for these (1 for everything else). */
import { PagestackError } from '../image/errors.js';

export class UsageError extends PagestackError {
  override name = 'UsageError';
}
