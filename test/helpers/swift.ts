/**
 * Swift 2.30 + s3api for tests (the server itself: ./swift-server.ts): one server per test file,
 * started by the first `swiftServer()` call, every process killed by its pid in an `after` hook
 * (registered when this module loads, so it belongs to the whole file, not to the test that
 * happened to start the server) and on exit, then its directory removed.
 *
 * Without Swift (`swift-proxy-server`, the other servers or memcached missing) tests skip with one
 * line (SKIP_SWIFT), except in CI (env CI set): there a skip would hide that nothing was tested,
 * so `swiftServer()` throws and the tests fail.
 */
import { rmSync } from 'node:fs';
import { after } from 'node:test';
import { SWIFT_UNAVAILABLE, type SwiftServer, startSwiftServer } from './swift-server.js';

export {
  SWIFT_ACCESS_KEY,
  SWIFT_REGION,
  SWIFT_SECRET,
  SWIFT_UNAVAILABLE,
  SwiftServer,
} from './swift-server.js';

/** In CI (env CI set, not "0"/"false") the Swift tests must run. */
export const SWIFT_REQUIRED = !!process.env['CI'] && !/^(0|false)$/i.test(process.env['CI'] ?? '');
/** The `skip` option of Swift tests: the one-line reason, or false (also in CI, where they then fail). */
export const SKIP_SWIFT: false | string =
  SWIFT_UNAVAILABLE === null || SWIFT_REQUIRED ? false : `Swift S3 tests skipped: ${SWIFT_UNAVAILABLE}`;

let shared: Promise<SwiftServer> | undefined;
let running: SwiftServer | undefined;

after(() => {
  running?.stop();
  if (running) rmSync(running.dir, { recursive: true, force: true });
});

/**
 * The Swift server of this test file: started on first call (in its own temp directory, on free
 * ports), the same one afterwards; killed after the file's tests. Throws without Swift.
 */
export function swiftServer(): Promise<SwiftServer> {
  if (SWIFT_UNAVAILABLE !== null) {
    return Promise.reject(
      new Error(`Swift S3 tests must run in CI (CI=${process.env['CI']}), but: ${SWIFT_UNAVAILABLE}`),
    );
  }
  shared ??= startSwiftServer().then((s) => {
    running = s;
    return s;
  });
  return shared;
}
