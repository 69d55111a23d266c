// Preloaded with `node --import` by test/startup-imports.test.ts: records every module URL the
// program resolves (one per line) in the file named by env PAGESTACK_TRACE_IMPORTS.
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
import { appendFileSync } from 'node:fs';
const out = process.env.PAGESTACK_TRACE_IMPORTS;
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (out) appendFileSync(out, r.url + '\\n');
  return r;
}
`)}`,
);
