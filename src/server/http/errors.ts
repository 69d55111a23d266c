/** Errors of the explorer's HTTP API (codes in src/errors.ts; statuses in server.ts). */
import { type ErrorData, PagestackError } from '../../errors.js';

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
