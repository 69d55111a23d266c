/**
 * `pagestack ui TARGET [--port N] [--open] [--with TARGET]...`: serves the explorer (the page in
 * dist/web and its JSON API, src/server/http) for a stack on 127.0.0.1, prints the URL and runs
 * until interrupted. `--open` starts the system browser (xdg-open) when there is one.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '@commander-js/extra-typings';
import { UsageError } from '../errors.js';
import { Explorer } from '../server/http/explorer.js';
import { startUiServer } from '../server/http/server.js';
import { cliStreams } from './io.js';
import { parsePort } from './options.js';

/** dist/web of the package this module belongs to (from dist/cli or src/cli alike). */
export function webRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && /"name":\s*"pagestack"/.test(readFileSync(pkg, 'utf8')))
      return join(dir, 'dist', 'web');
    dir = dirname(dir);
  }
  throw new UsageError('cannot find the pagestack package (and its dist/web) around this module');
}

/** Starts xdg-open on `url` if it is on PATH; says so when it is not. */
function openBrowser(url: string): void {
  const paths = (process.env['PATH'] ?? '').split(':').filter(Boolean);
  if (!paths.some((p) => existsSync(join(p, 'xdg-open')))) {
    cliStreams().stderr('pagestack: --open: no xdg-open on PATH; open the URL yourself\n');
    return;
  }
  const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
  child.on('error', (e) => cliStreams().stderr(`pagestack: --open: ${e.message}\n`));
  child.unref();
}

export function registerUi(program: Command): void {
  program
    .command('ui')
    .description(
      'a local web explorer of a stack or archive: layers, the address space by layer, hex view, search, diff',
    )
    .argument(
      '<target>',
      'an image directory (the top layer of a stack), a checkpoint archive (tar, .tar.gz, .tar.zst), or a store target (s3://, oci://) where this build reads them',
    )
    .option('--port <n>', 'port on 127.0.0.1 (default: any free port)')
    .option('--open', 'open the page in the system browser (xdg-open)')
    .option(
      '--with <target...>',
      'other image directories or archives to diff against (d0, d1, ... in the URL)',
    )
    .addHelpText(
      'after',
      `
Layers are numbered from the bottom: layer 1 is the first dump, the top is layer N.
The page's URL says what it shows (view=map|hex|diff, pid, addr, from, to, a, b, q, mode,
utf16); docs/explorer.md lists them.`,
    )
    .action(async (target, opts) => {
      const port = parsePort(opts.port);
      const root = webRoot();
      if (!existsSync(join(root, 'index.html'))) {
        throw new UsageError(`${root}: the page is not built; run npm run build`);
      }
      const explorer = await Explorer.open(target, opts.with ?? []);
      try {
        // not a CRIU directory, a broken process tree: fail now, not in the browser (cheap: the
        // pstree and the layers' inventories)
        await explorer.stack.processes();
        const server = await startUiServer({ explorer, webRoot: root, port });
        cliStreams().stdout(`pagestack ui: ${target} at ${server.url} (Ctrl-C to stop)\n`);
        if (opts.open) openBrowser(server.url);
        // the costly part (resolving every pagemap through the stack, seconds for a 4 GiB
        // 8-layer process) runs behind the URL: the page shows itself at once, with a loading
        // state, and its requests wait on the same resolution (shared promises)
        explorer.prepareInBackground(1000, (e) =>
          cliStreams().stderr(
            `pagestack ui: ${e instanceof Error ? e.message : String(e)} (the page shows it too)\n`,
          ),
        );
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        await server.close();
      } finally {
        await explorer.close();
      }
    });
}
