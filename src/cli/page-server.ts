/**
 * `pagestack page-server STACK --port N [--address A] [--tls ...]`: receive `criu dump --page-server`
 * sessions as incremental layers STACK/1, STACK/2, ... until SIGINT/SIGTERM (src/server/page-server.ts).
 * Log lines go to stderr; the first says where it listens (with the port chosen for --port 0).
 * After each dump, `pagestack add-images STACK/N DUMP_DIR` puts the dump's other images in the layer.
 * A receiving server holds STACK's writer lock while it runs (src/engine/lock.ts): a second one on
 * the same STACK stops at once, naming the first one's pid (or waits, with --wait).
 */
import { readFileSync } from 'node:fs';
import type { Command } from '@commander-js/extra-typings';
import { errnoText } from '../engine/fs.js';
import { UsageError } from '../errors.js';
import { PageServer, type PageServerTls } from '../server/page-server.js';
import { cliStreams, lockForWriting } from './io.js';
import { parsePort, waitOption } from './options.js';

function layerOf(s: string): number {
  if (!/^[1-9]\d*$/.test(s)) throw new UsageError(`--layer '${s}': expected a layer number (1, 2, ...)`);
  return Number(s);
}

function secondsOf(flag: string, s: string): number {
  const v = Number(s);
  if (!Number.isFinite(v) || v <= 0) throw new UsageError(`${flag} '${s}': expected seconds > 0`);
  return v;
}

function countOf(flag: string, s: string): number {
  if (!/^[1-9]\d{0,5}$/.test(s))
    throw new UsageError(`${flag} '${s}': expected a whole number from 1 to 999999`);
  return Number(s);
}

function readPem(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${what} ${path}: cannot read: ${errnoText(e)}`);
  }
}

export function registerPageServer(program: Command): void {
  program
    .command('page-server')
    .description(
      'receive `criu dump --page-server` sessions, each as the next layer STACK/N (pages equal to the layer below stored as PE_PARENT)',
    )
    .argument('<stack>', 'stack directory (created if missing)')
    .requiredOption('--port <n>', 'TCP port (0: any free port, printed at start)')
    .option('--address <a>', 'address to listen on', '127.0.0.1')
    .option('--idle-timeout <s>', 'end a session that sends nothing for this many seconds', '120')
    .option(
      '--first-header-timeout <s>',
      'close a connection that has not sent its first header after this many seconds (it never takes the session before)',
      '30',
    )
    .option('--max-connections <n>', 'connections open at once; more are refused', '64')
    .option('--answer-buffers <n>', 'with --lazy: 4 MiB answer buffers shared by all clients', '16')
    .option(
      '--lazy',
      'serve lazy pages to `criu lazy-pages --page-server` from the stack instead of receiving dumps',
    )
    .option('--layer <n>', 'with --lazy: the layer to serve (default: the highest-numbered)')
    .option(
      '--tls',
      'TLS as CRIU --tls (client certificate required; TLS 1.2 only: OpenSSL TLS 1.3 session tickets break CRIU 4.2, see README)',
    )
    .option('--tls-cacert <file>', 'CA certificate that signed the clients (PEM)', '/etc/pki/CA/cacert.pem')
    .option('--tls-cert <file>', 'server certificate (PEM)', '/etc/pki/criu/cert.pem')
    .option('--tls-key <file>', 'server key (PEM)', '/etc/pki/criu/private/key.pem')
    .option('--tls-no-cn-verify', "accept a client certificate that does not name the server's address")
    .addOption(waitOption())
    .action(async (stack, opts) => {
      const port = parsePort(opts.port);
      if (opts.layer !== undefined && !opts.lazy)
        throw new UsageError('--layer goes with --lazy (it names the layer lazy pages are served from)');
      const idle = secondsOf('--idle-timeout', opts.idleTimeout);
      const firstHeader = secondsOf('--first-header-timeout', opts.firstHeaderTimeout);
      const maxConnections = countOf('--max-connections', opts.maxConnections);
      const answerBuffers = countOf('--answer-buffers', opts.answerBuffers);
      let tls: PageServerTls | undefined;
      if (opts.tls) {
        tls = {
          ca: readPem('--tls-cacert', opts.tlsCacert),
          cert: readPem('--tls-cert', opts.tlsCert),
          key: readPem('--tls-key', opts.tlsKey),
          noCnVerify: opts.tlsNoCnVerify === true,
        };
      }
      const log = (line: string) => cliStreams().stderr(`page-server: ${line}\n`);
      // one receiving server per stack (a lazy one only reads)
      const lock = opts.lazy ? null : await lockForWriting(stack, 'page-server', opts.wait);
      try {
        await serve(stack, port, idle, tls, opts, { firstHeader, maxConnections, answerBuffers }, log);
      } finally {
        await lock?.release();
      }
    });
}

async function serve(
  stack: string,
  port: number,
  idle: number,
  tls: PageServerTls | undefined,
  opts: { address: string; lazy?: true | undefined; layer?: string | undefined },
  limits: { firstHeader: number; maxConnections: number; answerBuffers: number },
  log: (line: string) => void,
): Promise<void> {
  const server = await PageServer.start({
    stack,
    port,
    address: opts.address,
    idleTimeoutMs: idle * 1000,
    firstHeaderTimeoutMs: limits.firstHeader * 1000,
    maxConnections: limits.maxConnections,
    answerBuffers: limits.answerBuffers,
    log,
    ...(tls ? { tls } : {}),
    ...(opts.lazy ? { lazy: opts.layer === undefined ? {} : { layer: layerOf(opts.layer) } } : {}),
  });
  log(
    `listening on ${server.address}:${server.port}${tls ? ' (TLS)' : ''} ${opts.lazy ? 'serving lazy pages from' : 'for'} ${server.stack}`,
  );
  await new Promise<void>((done) => {
    const stop = (sig: string) => {
      log(`${sig}: stopping`);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      void server.close().then(done);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}
