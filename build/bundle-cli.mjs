/**
 * Bundles the CLI for start-up time. `tsc` builds dist/ module by module (the library, its types);
 * this then replaces dist/cli/main.js with one bundle of the CLI core and one chunk per lazily
 * loaded piece (each command, the archive decoders, the explorer, the store clients), so a command
 * loads a handful of files instead of ~60 modules: Node's ESM loader spends more on resolving and
 * linking many small modules than on compiling their code.
 *
 * Packages with native code or large payloads stay external (loaded from node_modules, and only by
 * the chunks that need them). Workers are started from source strings (src/engine/write-thread.ts,
 * src/server/ingest-thread.ts), so they need no entry of their own; the explorer's search worker is
 * a file found beside the chunk that starts it, so it is an entry under chunks/.
 */
import { build } from 'esbuild';

const EXTERNAL = [
  'zstd-napi',
  'lzma-native',
  'unbzip2-stream',
  'hash-wasm',
  '@aws-sdk/*',
  '@smithy/*',
  'playwright-core',
];

await build({
  entryPoints: {
    main: 'src/cli/main.ts',
    'chunks/search-worker': 'src/server/http/search-worker.ts',
  },
  outdir: 'dist/cli',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // commander is CommonJS: its require('events') etc. need a require in the ESM bundle
  banner: {
    js: "import { createRequire as __pagestackRequire } from 'node:module'; const require = __pagestackRequire(import.meta.url);",
  },
  logLevel: 'warning',
  legalComments: 'none',
});
