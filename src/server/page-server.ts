/**
 * `pagestack page-server STACK`: a long-running receiver for `criu dump --page-server` (and
 * `criu pre-dump --page-server`), which turns every session into the next layer of STACK
 * (ingest.ts says what a layer gets and how it appears atomically).
 *
 * Per connection, as CRIU's own server: read one message at a time, act, answer only OPEN2 (1 byte),
 * PARENT (int32) and CLOSE/FORCE_CLOSE (int32); after CLOSE wait for the peer's EOF (FORCE_CLOSE,
 * the --ps-socket variant: do not wait). Unlike CRIU's server it does not exit after one session:
 * - one session at a time per stack, and only a connection that has spoken takes it: each new
 *   connection is read ahead until it has sent its first complete header (a few bytes, held by
 *   the connection), then waits its turn in arrival order (CRIU's dump blocks on its OPEN2
 *   answer). A connection that sends nothing is never given the session, so idle connections do
 *   not delay a dump at all; one that has not sent its first header within the first-header
 *   timeout (default 30 s) is closed. A session's silence is bounded twice: no byte for the idle
 *   timeout, and, over the whole session, the time spent waiting for the peer may not exceed the
 *   idle timeout plus 1 s per SLOW_RATE bytes received (a peer that trickles a byte a second is
 *   cut off after about one idle timeout; one sending at SLOW_RATE or faster never is); and while
 *   another connection that has sent its header waits, a silence of the first-header timeout
 *   ends the running session (connections that send a header and then nothing each hold the
 *   session that long at most, not an idle timeout each);
 * - at most maxConnections connections at once (default 64; a lazy server too): more are closed at
 *   once with a log line;
 * - a session that carries no pagemap entry (a peer that sends only CLOSE, a dump that failed
 *   before its first page and still sends CLOSE, which CRIU does) leaves no layer: an empty layer
 *   would hold no page of any process, and the next dump, stacked on it, would keep every page;
 * - OPEN2 and PARENT are always answered "no parent": a "yes" makes CRIU 4.2 run its pid-reuse
 *   check against the dump's own parent inventory, which only memory-tracking dumps have, and the
 *   dump fails (PAGESERVER.md 2.6). Incremental layers come from the comparison in ingest.ts instead;
 * - the header format (CRIU 4.2's 32 bytes or the 24 bytes of CRIU <= 4.1) is decided per
 *   connection from its first message;
 * - a bad peer (unknown command, bad pagemap type, cut header, short data, a GET, garbage after
 *   CLOSE, silence longer than the idle timeout, EOF before CLOSE) gets one log line naming the
 *   peer and the byte offset, its connection is closed without an answer (as CRIU does) and its
 *   half-built layer removed; the server and the stack's other layers carry on.
 * A server killed with SIGKILL leaves at most a `.N.pagestack-tmp-<pid>-*` directory, which the
 * next start removes (as does the next writer of STACK/N).
 *
 * TLS (CRIU's --tls): TLS 1.2 at most, because OpenSSL's TLS 1.3 session tickets break CRIU 4.2's
 * reads (PAGESERVER.md 9.3); client certificate required and verified against the CA; unless
 * noCnVerify, the client certificate must name the server's own address (as CRIU's server checks).
 */
import { mkdir, readdir } from 'node:fs/promises';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { errnoText } from '../engine/fs.js';
import { withLock } from '../engine/lock.js';
import { cleanStale } from '../engine/output.js';
import { type ErrorCode, type ErrorData, IngestError, PageServerError, PagestackError } from '../errors.js';
import {
  codeName,
  decodeDstId,
  detectHeaderFormat,
  headerSize,
  IOV_SIZE_LEGACY,
  PS_IOV_ADD,
  PS_IOV_ADD_F,
  PS_IOV_CLOSE,
  PS_IOV_FORCE_CLOSE,
  PS_IOV_GET,
  PS_IOV_HOLE,
  PS_IOV_OPEN,
  PS_IOV_OPEN2,
  PS_IOV_PARENT,
} from '../protocol/pageserver/iov.js';
import { type PageServerMessage, PageServerParser } from '../protocol/pageserver/parser.js';
import { closeAnswer, getAnswerHeader, open2Answer, parentAnswer } from '../protocol/pageserver/writer.js';
import { openStackDir } from '../source/open.js';
import { findExtent } from '../stack/resolve.js';
import type { Stack } from '../stack/stack.js';
import { type IngestStats, LayerIngest, layerNumbers } from './ingest.js';
import { SocketFeed } from './socket-feed.js';

/** What a failed session reports: the error's code and data, with the peer added. */
function failure(e: unknown, peer: string): { code: ErrorCode; data: ErrorData; message: string } {
  if (e instanceof PagestackError) return { code: e.code, data: { ...e.data, peer }, message: e.message };
  // a socket error (ECONNRESET, ...): the peer went away
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'PAGESTACK_PS_NO_CLOSE', data: { peer }, message };
}

export interface PageServerTls {
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
  /** Do not require the client certificate to name the server's address (CRIU's --tls-no-cn-verify). */
  noCnVerify?: boolean;
}

export interface PageServerOptions {
  /** The stack directory (created if missing); layers are STACK/1, STACK/2, ... */
  stack: string;
  /** TCP port; 0 = any free port (see `port` once started). */
  port: number;
  /** Address to listen on; default 127.0.0.1. */
  address?: string;
  /** A session that sends nothing for this long is ended (default 120 s). */
  idleTimeoutMs?: number;
  /**
   * A receiving connection must send its first complete header within this long, or it is closed
   * (default 30 s); until then it is not given the session.
   */
  firstHeaderTimeoutMs?: number;
  /** Connections open at once (waiting, running, lazy); more are refused (default 64). */
  maxConnections?: number;
  /** Lazy: answer buffers (4 MiB each) shared by all lazy sessions (default 16: 64 MiB). */
  answerBuffers?: number;
  /** Lazy: a client that takes no answer bytes for this long is cut off (default 30 s). */
  answerStallMs?: number;
  tls?: PageServerTls;
  /** Where log lines go (default: nowhere). */
  log?: (line: string) => void;
  /**
   * Serve lazy pages instead of receiving dumps: answer `criu lazy-pages --page-server` GETs from
   * layer `layer` of STACK (default: the highest-numbered one), resolved through its parents.
   */
  lazy?: {
    layer?: number;
    /**
     * Serve this stack (any LayerSource: a directory, an archive, an object store) instead of a
     * layer of STACK; the caller opened it and closes it after close(). `stack` then only names it.
     */
    stack?: Stack;
    /** Called after each GET is answered (restore records its hot set from these). */
    onGet?: (get: LazyGet) => void;
  };
  /**
   * Compare and write received pages on an ingest thread beside the socket (default true; see
   * ingest-thread.ts). false: on the main thread, as a stack below without local files is.
   */
  ingestThread?: boolean;
}

/** A lazy GET answered: what was asked, how many pages went out, from which layers. */
export interface LazyGet {
  pid: number;
  vaddr: number;
  asked: number;
  served: number;
  /** Source name of each layer the pages came from, with its page count, in address order. */
  layers: [string, number][];
}

export interface SessionResult {
  peer: string;
  ok: boolean;
  /** The layer written (ok) or the error line. */
  layer?: string;
  stats?: IngestStats;
  /** The log line of a failed session. */
  error?: string;
  /** The failure's stable code (ERROR_CODES) and data (peer, offset, ...). */
  code?: ErrorCode;
  data?: ErrorData;
}

type Op = { kind: 'msg'; msg: PageServerMessage } | { kind: 'data'; bytes: Uint8Array } | { kind: 'end' };

export class PageServer {
  readonly stack: string;
  private readonly opts: PageServerOptions;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Lazy sessions in progress (close() waits for them). */
  private queue: Promise<void> = Promise.resolve();
  /** Receiving: connections that have not had their session yet, in arrival order. */
  private readonly waiting: Waiter[] = [];
  /** Receiving: the session in progress, if any. */
  private running: Promise<void> | null = null;
  /** Lazy: the answer buffers all lazy sessions share. */
  private readonly pool: AnswerPool;
  private readonly log: (line: string) => void;
  private listeners: ((r: SessionResult) => void)[] = [];
  private closing = false;

  private constructor(opts: PageServerOptions) {
    this.opts = opts;
    this.stack = resolve(opts.stack);
    this.log = opts.log ?? (() => undefined);
    this.pool = new AnswerPool(opts.answerBuffers ?? ANSWER_BUFFERS);
    const onConnection = (sock: Socket) => this.accept(sock);
    if (opts.tls) {
      const t = opts.tls;
      const srv = createTlsServer({
        ca: t.ca,
        cert: t.cert,
        key: t.key,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        // TLS 1.2 only, on purpose (PAGESERVER.md 9.3): under TLS 1.3 OpenSSL sends two
        // NewSessionTicket messages after the handshake. CRIU 4.2's GnuTLS consumes each one inside
        // gnutls_record_recv, which then returns GNUTLS_E_AGAIN with no data; CRIU's tls_recv
        // turns that into a short read, which its callers treat as fatal: the dump fails reading
        // the OPEN2 answer ("The page server doesn't answer: Resource temporarily unavailable").
        // CRIU's own server enables no tickets, so CRIU-to-CRIU TLS 1.3 works. Node 20 has no
        // per-context option for the ticket count (SSL_OP_NO_TICKET and sessionTimeout 0 still
        // send them, tested); the only TLS 1.3 way is `NumTickets = 0` in an OpenSSL config file
        // loaded by the whole process (node --openssl-config), which a library cannot impose.
        // Any other TLS 1.3 post-handshake message (KeyUpdate) would break a 4.2 dump the same way.
        maxVersion: 'TLSv1.2',
        // a connection that never completes its handshake is a silent one (see accept())
        handshakeTimeout: opts.lazy ? (opts.idleTimeoutMs ?? IDLE_MS) : this.firstHeaderMs,
      });
      // handshakes in progress count against the cap too (accept() counts the ones that finished)
      srv.maxConnections = this.maxConnections;
      srv.on('drop', (d) => {
        this.log(
          `${d?.remoteAddress ?? 'peer'}:${d?.remotePort ?? ''}: refused: ${this.maxConnections} connections open, the most this server takes [PAGESTACK_PS_BUSY]`,
        );
      });
      srv.on('secureConnection', (s: TLSSocket) => {
        if (!t.noCnVerify && !this.peerNamesAddress(s)) {
          this.log(
            `${peerName(s)}: client certificate does not name ${this.address} (subjectAltName IP); connection closed (use --tls-no-cn-verify to accept it)`,
          );
          s.destroy();
          return;
        }
        onConnection(s);
      });
      srv.on('tlsClientError', (e, s) => {
        this.log(`${peerName(s)}: TLS handshake failed: ${e.message.split('\n')[0]}`);
      });
      this.server = srv;
    } else {
      // accepted paused: SocketFeed takes the socket over before anything is read
      this.server = createTcpServer({ pauseOnConnect: true }, onConnection);
    }
  }

  /** Cleans what a killed server left in STACK, then listens. */
  static async start(opts: PageServerOptions): Promise<PageServer> {
    const ps = new PageServer(opts);
    if (opts.lazy?.stack) {
      // a stack given open: nothing to check or clean in a directory
    } else if (opts.lazy) {
      // refuse at start what every lazy session would fail on (not at the first GET)
      let names: string[];
      try {
        names = await readdir(ps.stack);
      } catch (e) {
        throw new PageServerError(
          `${ps.stack}: cannot serve lazy pages: ${errnoText(e)}`,
          'PAGESTACK_PS_NO_LAYERS',
          {
            file: ps.stack,
          },
        );
      }
      const numbers = layerNumbers(names);
      const want = opts.lazy.layer ?? numbers[numbers.length - 1];
      if (want === undefined || !numbers.includes(want)) {
        throw new PageServerError(
          want === undefined
            ? `${ps.stack}: no layers to serve (expected directories 1, 2, ... written by page-server)`
            : `${ps.stack}: no layer ${want} (layers: ${numbers.join(', ')})`,
          'PAGESTACK_PS_NO_LAYERS',
          { file: ps.stack },
        );
      }
    } else {
      try {
        await mkdir(ps.stack, { recursive: true });
      } catch (e) {
        throw new PageServerError(
          `${ps.stack}: cannot create the stack directory: ${errnoText(e)}`,
          'PAGESTACK_OUTPUT',
          {
            file: ps.stack,
          },
        );
      }
    }
    for (const n of opts.lazy?.stack ? [] : await readdir(ps.stack)) {
      const m = /^\.(\d+)\.pagestack-(tmp|old)-/.exec(n);
      if (!m) continue;
      for (const done of await cleanStale(join(ps.stack, m[1]!)))
        ps.log(`cleaned up ${join(ps.stack, done)}`);
    }
    const host = opts.address ?? '127.0.0.1';
    await new Promise<void>((ok, fail) => {
      ps.server.once('error', (e) =>
        fail(
          new PageServerError(
            `cannot listen on ${host} port ${opts.port}: ${listenErrorText(e)}`,
            'PAGESTACK_LISTEN',
            {
              host,
              port: opts.port,
            },
          ),
        ),
      );
      ps.server.listen({ port: opts.port, host }, () => {
        ps.server.off('error', fail);
        ok();
      });
    });
    ps.server.on('error', (e) => ps.log(`listening socket: ${e.message}`));
    return ps;
  }

  get address(): string {
    return this.opts.address ?? '127.0.0.1';
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  /** Calls `fn` after every session (tests, the CLI's summary). */
  onSession(fn: (r: SessionResult) => void): void {
    this.listeners.push(fn);
  }

  /** Stops listening, ends running and waiting sessions (their layers are not written). */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((ok) => this.server.close(() => ok()));
    for (const s of this.sockets) s.destroy();
    await closed;
    await this.queue;
    while (this.running) await this.running;
  }

  private get firstHeaderMs(): number {
    return this.opts.firstHeaderTimeoutMs ?? FIRST_HEADER_MS;
  }

  private get maxConnections(): number {
    return this.opts.maxConnections ?? MAX_CONNECTIONS;
  }

  /** Answer buffers (of the shared pool) lazy sessions hold now: tests and the log. */
  get answerBuffersInUse(): number {
    return this.pool.inUse;
  }

  /** Answer buffers the shared pool has allocated so far (at most answerBuffers). */
  get answerBuffersMade(): number {
    return this.pool.made;
  }

  private report(r: SessionResult): void {
    for (const l of this.listeners) l(r);
  }

  private peerNamesAddress(s: TLSSocket): boolean {
    const alt = s.getPeerCertificate()?.subjectaltname ?? '';
    return alt.split(/,\s*/).some((e) => e === `IP Address:${this.address}`);
  }

  private accept(raw: Socket): void {
    if (this.sockets.size >= this.maxConnections || this.closing) {
      const peer = peerName(raw);
      const error = this.closing
        ? `${peer}: refused: the server is stopping`
        : `${peer}: refused: ${this.sockets.size} connections open, the most this server takes (maxConnections) [PAGESTACK_PS_BUSY]`;
      this.log(error);
      raw.on('error', () => undefined);
      raw.destroy();
      this.report({ peer, ok: false, error, code: 'PAGESTACK_PS_BUSY', data: { peer } });
      return;
    }
    const feed = SocketFeed.adopt(raw);
    const sock = feed.socket;
    const peer = peerName(sock);
    this.sockets.add(sock);
    sock.on('error', () => undefined); // reported by the session that reads it
    sock.on('close', () => this.sockets.delete(sock));
    sock.setNoDelay(true);
    if (this.opts.lazy) {
      // read-only: any number of lazy sessions at once (up to maxConnections), their answer
      // buffers from one pool
      const run = this.serveLazy(feed, peer).then((r) => this.report(r));
      this.queue = this.queue.then(() => run);
      return;
    }
    // receiving: read ahead until the first header is in; only then may it take the session
    const w: Waiter = { feed, peer, ready: false, timer: null, since: Date.now(), headerMs: 0 };
    this.waiting.push(w);
    const drop = (error: string, code?: ErrorCode) => {
      const i = this.waiting.indexOf(w);
      if (i >= 0) this.waiting.splice(i, 1);
      if (w.timer) clearTimeout(w.timer);
      this.log(error);
      sock.destroy();
      this.report({ peer, ok: false, error, ...(code ? { code, data: { peer } } : {}) });
    };
    w.timer = setTimeout(() => {
      w.timer = null;
      if (w.ready) return;
      drop(
        `${peer}: sent no complete header within ${seconds(this.firstHeaderMs)} (${feed.heldBytes} bytes); connection closed, it never had the session [PAGESTACK_PS_NO_HEADER]`,
        'PAGESTACK_PS_NO_HEADER',
      );
    }, this.firstHeaderMs);
    w.timer.unref();
    void feed.prefetch(firstHeaderIn).then((ready) => {
      if (!this.waiting.includes(w)) return; // dropped (timeout) or closing
      if (!ready) {
        drop(
          `${peer}: went away before sending a header (${feed.heldBytes} bytes); no session`,
          'PAGESTACK_PS_NO_CLOSE',
        );
        return;
      }
      w.ready = true;
      w.headerMs = Date.now() - w.since;
      if (w.timer) clearTimeout(w.timer);
      w.timer = null;
      if (this.running)
        this.log(`${peer}: sent its first header; waiting for the running session on ${this.stack} to end`);
      this.schedule();
    });
  }

  /** Gives the session to the first waiting connection that has sent its first header, if free. */
  private schedule(): void {
    if (this.running) return;
    const i = this.waiting.findIndex((w) => w.ready);
    if (i < 0) return;
    const [w] = this.waiting.splice(i, 1);
    const waited = { headerMs: w!.headerMs, turnMs: Date.now() - w!.since - w!.headerMs };
    const run = this.session(w!.feed, w!.peer, waited).then(
      (r) => this.report(r),
      () => undefined,
    );
    this.running = run.finally(() => {
      this.running = null;
      this.schedule();
    });
  }

  private serveLazy(feed: SocketFeed, peer: string): Promise<SessionResult> {
    return lazySession(feed, peer, this.stack, this.opts.lazy?.layer, {
      idleMs: this.opts.idleTimeoutMs ?? IDLE_MS,
      stallMs: this.opts.answerStallMs ?? ANSWER_STALL_MS,
      pool: this.pool,
      log: this.log,
      given: this.opts.lazy?.stack,
      onGet: this.opts.lazy?.onGet,
    });
  }

  private async session(
    feed: SocketFeed,
    peer: string,
    waited: { headerMs: number; turnMs: number },
  ): Promise<SessionResult> {
    const sock = feed.socket;
    if (sock.destroyed || this.closing) {
      const error = `${peer}: went away before its turn`;
      this.log(error);
      sock.destroy();
      return { peer, ok: false, error };
    }
    let numbers: number[];
    try {
      numbers = layerNumbers(await readdir(this.stack));
    } catch (e) {
      const error = `${peer}: cannot read ${this.stack}: ${errnoText(e)}; session ended, no layer written [PAGESTACK_OUTPUT]`;
      this.log(error);
      sock.destroy();
      return { peer, ok: false, error, code: 'PAGESTACK_OUTPUT', data: { peer, file: this.stack } };
    }
    const below = numbers.length > 0 ? numbers[numbers.length - 1]! : null;
    const number = (below ?? 0) + 1;
    let ingest: LayerIngest | null = null;
    const ops: Op[] = [];
    /** Data bytes of the last message that carried data (decides how the next header is read). */
    let lastData = 0;
    const parser = new PageServerParser({
      message: (msg) => {
        if (msg.dataBytes > 0) lastData = msg.dataBytes;
        ops.push({ kind: 'msg', msg });
      },
      data: (bytes) => ops.push({ kind: 'data', bytes }), // a view of the chunk read: kept until applied
      dataEnd: () => ops.push({ kind: 'end' }),
    });
    let committed: IngestStats | null = null;
    /** CLOSE came with no pagemap entry in the session: answered, no layer (see the head). */
    let empty: { pagemaps: number } | null = null;
    const idle = this.opts.idleTimeoutMs ?? IDLE_MS;
    // Silence is the time the server waits for the peer's bytes while it reads: not the time it
    // keeps reads paused itself (opening the layer, waiting for an ingest slot), which a socket
    // inactivity timeout would count against the peer. Checked every `idle / 8` (at most 1 s):
    // - one silence longer than `idle` ends the session;
    // - the whole session's silence: at most `idle`, plus 1 s per SLOW_RATE bytes received
    const short = this.firstHeaderMs;
    const budget = setInterval(
      () => {
        if (feed.silentMs > idle) {
          sock.destroy(
            new PageServerError(
              `no data for ${Math.round(idle / 1000)} s (slow or stuck peer)`,
              'PAGESTACK_PS_IDLE',
              { offset: parser.offset },
            ),
          );
          return;
        }
        // another connection has sent its header and waits (a dump, frozen): a silence of the
        // short timeout ends this session, so that connections which send a header and then
        // nothing cannot each hold the session for a whole idle timeout in turn
        if (
          short < idle &&
          feed.silentMs > short &&
          this.waiting.some((w) => w.ready && !w.feed.socket.destroyed)
        ) {
          sock.destroy(
            new PageServerError(
              `byte ${parser.offset}: silent for ${seconds(feed.silentMs)} while another connection waits for the session (the first-header timeout)`,
              'PAGESTACK_PS_IDLE',
              { offset: parser.offset },
            ),
          );
          return;
        }
        const allowed = idle + (feed.bytesIn / SLOW_RATE) * 1000;
        if (feed.waitedMs <= allowed) return;
        sock.destroy(
          new PageServerError(
            `byte ${parser.offset}: waited ${seconds(feed.waitedMs)} in all for the peer's bytes, for ${feed.bytesIn} bytes: more than the session allows (${seconds(idle)} + 1 s per ${SLOW_RATE >> 10} KiB received; a trickling or stalled peer)`,
            'PAGESTACK_PS_SLOW',
            { offset: parser.offset },
          ),
        );
      },
      Math.max(20, Math.min(1000, Math.min(idle, short) / 8)),
    );
    budget.unref();
    this.log(
      `${peer}: session for ${join(this.stack, String(number))}${below === null ? '' : ` on top of ${below}`} (first header ${waited.headerMs} ms after connecting, then ${waited.turnMs} ms for its turn)`,
    );
    try {
      ingest = await LayerIngest.begin(this.stack, number, below, {
        thread: this.opts.ingestThread !== false,
      });
      const ing = ingest;
      // Each op is applied synchronously where it can be (page data into a slot, an ADD_F for the
      // open pagemap); one that must wait returns its promise, and reads pause until it and the
      // ops behind it are done (the views they hold stay valid while nothing is read).
      const apply = (op: Op): Promise<void> | undefined => {
        if (op.kind === 'data') return ing.data(op.bytes);
        if (op.kind === 'end') return ing.dataEnd();
        const m = op.msg;
        const at = (what: string, code: ErrorCode) =>
          new PageServerError(`byte ${m.offset}: ${codeName(m.code)}: ${what}`, code, { offset: m.offset });
        const select = (explicit: boolean) =>
          ing.select(decodeDstId(m.dstId)!, explicit)?.catch((e: unknown) => {
            throw e instanceof IngestError ? at(e.message, e.code) : e;
          });
        switch (m.code) {
          case PS_IOV_OPEN2:
            return select(true)!.then(() => {
              sock.write(open2Answer(false));
            });
          case PS_IOV_OPEN:
            return select(true);
          case PS_IOV_PARENT:
            sock.write(parentAnswer(false));
            return undefined;
          case PS_IOV_ADD:
          case PS_IOV_HOLE:
          case PS_IOV_ADD_F: {
            const flags = m.code === PS_IOV_ADD ? 4 : m.code === PS_IOV_HOLE ? 1 : m.flags;
            const entry = () => {
              try {
                ing.entry(m.vaddr, m.nrPages, flags);
              } catch (e) {
                throw at((e as Error).message, e instanceof PagestackError ? e.code : 'PAGESTACK_PS_INGEST');
              }
            };
            const opening = select(false);
            if (opening) return opening.then(entry);
            entry();
            return undefined;
          }
          case PS_IOV_GET:
            throw at(
              'a GET sent to a receiving page server (lazy pages are served by page-server --lazy)',
              'PAGESTACK_PS_UNEXPECTED',
            );
          case PS_IOV_CLOSE:
          case PS_IOV_FORCE_CLOSE:
            if (ing.empty) {
              // no page, no entry: no layer; the peer kept to the protocol, so CLOSE gets its 0
              const pagemaps = ing.summary.pagemaps;
              return ing.abort().then(() => {
                empty = { pagemaps };
                sock.write(closeAnswer(0));
                if (m.code === PS_IOV_FORCE_CLOSE) sock.end();
              });
            }
            // the writer's lock of the new layer while it is put in place (src/engine/lock.ts)
            return withLock(ing.dest, { what: 'page-server' }, () => ing.commit()).then(
              (stats) => {
                committed = stats;
                sock.write(closeAnswer(0));
                if (m.code === PS_IOV_FORCE_CLOSE) sock.end();
              },
              (e: unknown) => {
                sock.write(closeAnswer(-1));
                throw e;
              },
            );
        }
        return undefined;
      };
      let next = 0;
      /** The wait in progress (an op, or a slot to come back), if any; it never rejects. */
      let inflight: Promise<void> | null = null;
      const waitThen = (waiting: Promise<void>, then: () => void): void => {
        inflight = waiting
          .then(() => {
            inflight = null;
            if (!feed.ended) then();
          })
          .catch((e: unknown) => {
            inflight = null;
            feed.fail(e);
          });
      };
      /** Applies the queued ops; false when one is waiting (the feed resumes when all are done). */
      const pump = (): boolean => {
        while (next < ops.length) {
          if (feed.ended) return false; // the session is over: nothing more is applied
          const waiting = apply(ops[next++]!);
          if (waiting) {
            waitThen(waiting, () => {
              if (pump()) feed.resume();
            });
            return false;
          }
        }
        ops.length = 0;
        next = 0;
        if (parser.closed && sock.writableEnded) {
          feed.finish(); // FORCE_CLOSE: no EOF to wait for
          return false;
        }
        // inside page data with every slot at the ingest thread: wait for one before reading on
        const slot = parser.dataRemaining > 0 ? ing.slotReady() : undefined;
        if (slot) {
          waitThen(slot, () => feed.resume());
          return false;
        }
        return true;
      };
      let readError: { e: unknown } | null = null;
      await feed
        .run({
          target: (scratch) => {
            const left = parser.dataRemaining;
            if (left > 0) return ing.dataTarget(left) ?? scratch;
            // after a large message, read the next header alone: the data behind it then goes
            // straight into a slot instead of through the scratch buffer
            return lastData >= 64 << 10 ? scratch.subarray(0, parser.headerRemaining) : scratch;
          },
          bytes: (view) => {
            parser.feed(view);
            return pump();
          },
        })
        .catch((e: unknown) => {
          readError = { e };
        });
      // An op still running when the connection failed (OPEN2's files, CLOSE's commit) finishes
      // first: abort() must not remove files from under it, and a commit that completes is a
      // layer written, reported as such.
      while (inflight) await inflight;
      if (readError) throw (readError as { e: unknown }).e;
      parser.end();
      if (empty) {
        const error = `${peer}: CLOSE after ${(empty as { pagemaps: number }).pagemaps} pagemaps and no page: an empty session (a dump that failed before its first page sends one), no layer written; ${below === null ? `${this.stack} stays without layers` : `layer ${below} stays the top`} [PAGESTACK_PS_EMPTY]`;
        this.log(error);
        return { peer, ok: false, error, code: 'PAGESTACK_PS_EMPTY', data: { peer, offset: parser.offset } };
      }
      if (!committed) {
        throw new PageServerError(
          `byte ${parser.offset}: the peer closed the connection before CLOSE (the dump failed or was killed)`,
          'PAGESTACK_PS_NO_CLOSE',
          { offset: parser.offset },
        );
      }
      const s: IngestStats = committed;
      this.log(
        `${peer}: layer ${s.layer} written: ${s.pagemaps} pagemaps, ${s.pagesReceived} pages received, ${s.pagesKept} kept, ${s.pagesShared} equal to the stack below (PE_PARENT), ${s.pagesWithoutData} without data${parser.format === 'iov24' ? ' (CRIU <= 4.1 headers)' : ''}`,
      );
      return { peer, ok: true, layer: s.layer, stats: s };
    } catch (e) {
      const f = failure(e, peer);
      const where = committed
        ? `after layer ${(committed as IngestStats).layer} was written`
        : 'no layer written';
      const error = `${peer}: ${oneLine(f.message)}; session ended, ${where} [${f.code}]`;
      this.log(error);
      return {
        peer,
        ok: !!committed,
        error,
        code: f.code,
        data: f.data,
        ...(committed ? { layer: (committed as IngestStats).layer } : {}),
      };
    } finally {
      clearInterval(budget);
      await flushed(sock);
      sock.destroy();
      await ingest?.abort();
    }
  }
}

/** A waiting connection's first header is in: at least one whole header of the format it speaks. */
function firstHeaderIn(held: Uint8Array): boolean {
  return held.length >= IOV_SIZE_LEGACY && held.length >= headerSize(detectHeaderFormat(held));
}

function seconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}

interface Waiter {
  feed: SocketFeed;
  peer: string;
  /** Its first header is in: it may take the session. */
  ready: boolean;
  /** The first-header timeout, until ready. */
  timer: NodeJS.Timeout | null;
  /** When it connected, and how long its first header took (the log's session line). */
  since: number;
  headerMs: number;
}

const IDLE_MS = 120_000;
/** Default first-header timeout (receiving). */
const FIRST_HEADER_MS = 30_000;
/** Default connection cap. */
const MAX_CONNECTIONS = 64;
/**
 * Bytes per second of budget a session earns: its peer may wait `idle` in all, plus 1 s per
 * SLOW_RATE bytes it sent. CRIU sends at network speed and is silent between processes and
 * before CLOSE; a peer dribbling bytes spends nearly all its time silent and so runs out.
 */
const SLOW_RATE = 64 << 10;
/** Default size of the lazy answer-buffer pool (shared by all lazy sessions of a server). */
const ANSWER_BUFFERS = 16;
/** Default: a lazy client that takes no bytes of an answer for this long is cut off. */
const ANSWER_STALL_MS = 30_000;
const GET_READ_PAGES = 1024;
/** How long a session's end waits for its last answers to be written (see flushed()). */
const FLUSH_MS = 10_000;
/** Answers a lazy session has in flight at most (each up to GET_READ_PAGES pages). */
const LAZY_BUFFERS = 3;
/** A lazy session reads GETs (32 bytes each) into a scratch buffer this big, not the feed's 1 MiB. */
const LAZY_SCRATCH = 64 << 10;

/**
 * The answer buffers of all lazy sessions of one server: at most `max` of GET_READ_PAGES pages
 * each, made when first needed and reused. A session takes one per answer in flight (at most
 * LAZY_BUFFERS) and gives it back when the socket has written it; with none free it waits (reads
 * paused: its client's GETs wait in the kernel), so the server's answer memory stays at `max`
 * buffers however many clients queue GETs without reading the answers. While sessions wait, each
 * session gets one buffer at a time (a client that reads nothing then holds one). A client that
 * takes no answer for answerStallMs is cut off, and its buffers come back.
 */
class AnswerPool {
  private readonly free: Uint8Array[] = [];
  private readonly waiters: (() => void)[] = [];
  made = 0;
  inUse = 0;

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError('answerBuffers: at least 1');
  }

  /** A buffer if one is free or may still be made; null when all `max` are in use. */
  take(): Uint8Array | null {
    let b = this.free.pop();
    if (!b) {
      if (this.made >= this.max) return null;
      this.made++;
      b = new Uint8Array(GET_READ_PAGES * 4096);
    }
    this.inUse++;
    return b;
  }

  give(b: Uint8Array): void {
    this.inUse--;
    this.free.push(b);
    // one waiter per buffer given back; the others keep waiting
    this.waiters.shift()?.();
  }

  /** Sessions wait for a buffer. */
  get contended(): boolean {
    return this.waiters.length > 0;
  }

  /** Calls `ok` once when a buffer is given back (it may be taken again by then: take() again). */
  onReturn(ok: () => void): void {
    this.waiters.push(ok);
  }

  /** Stops waiting (the session ended): removes `ok` if it still waits. */
  forget(ok: () => void): void {
    const i = this.waiters.indexOf(ok);
    if (i >= 0) this.waiters.splice(i, 1);
  }
}

/** Why a listen failed, in words (EADDRINUSE, EADDRNOTAVAIL, a name that does not resolve). */
function listenErrorText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return 'the port is in use';
  if (code === 'EADDRNOTAVAIL') return 'no such address on this machine';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'not an address (nor a name that resolves here)';
  if (code === 'EACCES') return 'permission denied';
  return errnoText(e);
}

/**
 * Serves one lazy-pages daemon (PAGESERVER.md 5.3): each GET is answered, strictly in request order,
 * with a header echoing vaddr and dst_id and m pages, 1 <= m <= n: the longest prefix of the
 * request the stack holds with data (CRIU's daemon asks again for the rest). A GET whose first page
 * the stack cannot serve (not dumped, lazy without data, unknown pid) is logged with the reason and
 * ends the session (CRIU's daemon cannot take "no pages"; better a clear failure than a hang).
 */
async function lazySession(
  feed: SocketFeed,
  peer: string,
  stackDir: string,
  layerOpt: number | undefined,
  o: {
    idleMs: number;
    stallMs: number;
    pool: AnswerPool;
    log: (line: string) => void;
    given?: Stack | undefined;
    onGet?: ((get: LazyGet) => void) | undefined;
  },
): Promise<SessionResult> {
  const { idleMs, log, pool, given, onGet } = o;
  const sock = feed.socket;
  const refuse = (e: unknown): SessionResult => {
    const f = failure(e, peer);
    const error = `${peer}: ${oneLine(f.message)}; session ended [${f.code}]`;
    log(error);
    sock.destroy();
    return { peer, ok: false, error, code: f.code, data: f.data };
  };
  let numbers: number[] = [];
  try {
    if (!given) numbers = layerNumbers(await readdir(stackDir));
  } catch (e) {
    return refuse(
      new PageServerError(`${stackDir}: cannot read: ${errnoText(e)}`, 'PAGESTACK_PS_NO_LAYERS', {
        file: stackDir,
      }),
    );
  }
  const layer = layerOpt ?? numbers[numbers.length - 1];
  if (!given && (layer === undefined || !numbers.includes(layer))) {
    return refuse(
      new PageServerError(
        layer === undefined
          ? `${stackDir} has no layers to serve`
          : `${stackDir} has no layer ${layer} (layers: ${numbers.join(', ')})`,
        'PAGESTACK_PS_NO_LAYERS',
        {},
      ),
    );
  }
  const layerDir = given ? given.top.source.name : join(stackDir, String(layer));
  let stack: Stack;
  try {
    stack = given ?? (await openStackDir(layerDir));
  } catch (e) {
    return refuse(e);
  }
  const names = stack.layers.map((l) => l.source.name);
  // short names for the per-GET lines: "layer 3" for STACK/3 (a parent outside STACK: its path)
  const short = names.map((n) => {
    const rel = relative(stackDir, n);
    return /^[1-9]\d*$/.test(rel) ? `layer ${rel}` : n;
  });
  const fromLayer = new Map<string, number>();
  let gets = 0;
  let pages = 0;
  let closed = false;
  const msgs: PageServerMessage[] = [];
  const parser = new PageServerParser({ message: (m) => msgs.push(m), data: () => undefined });
  // A GET's pages are read into one of up to LAZY_BUFFERS buffers from the server's pool, given
  // back once the socket has written them: the next GETs are read and answered while earlier
  // answers still go out, in bounded memory (a new 4 MiB buffer per GET cost a garbage collection
  // every few GETs), and the whole server holds at most pool.max of them.
  let held = 0;
  let bufferBack: (() => void) | null = null;
  let poolWaits = 0;
  /** Writes not yet taken by the kernel: when each began (oldest first). */
  const writing: number[] = [];
  const gone = new Promise<null>((ok) => sock.once('close', () => ok(null)));
  const answerBuffer = async (): Promise<Uint8Array | null> => {
    for (;;) {
      if (feed.ended) return null;
      // while other sessions wait for a buffer, one answer in flight per session: a client that
      // does not read then holds one buffer, not LAZY_BUFFERS
      const share = pool.contended ? 1 : LAZY_BUFFERS;
      if (held < share) {
        const b = pool.take();
        if (b) {
          held++;
          return b;
        }
      }
      let wake!: () => void;
      const back = new Promise<void>((ok) => {
        wake = ok;
      });
      if (held >= share) {
        // a write's callback runs even when the socket is destroyed: this cannot wait forever
        bufferBack = () => {
          bufferBack = null;
          wake();
        };
      } else {
        // every buffer of the server is with other sessions' answers
        if (poolWaits++ === 0)
          log(
            `${peer}: waiting for an answer buffer: all ${pool.max} (${pool.max * 4} MiB) are in use by other lazy sessions`,
          );
        const w = () => wake();
        pool.onReturn(w);
        void gone.then(() => pool.forget(w));
      }
      await Promise.race([back, gone]);
    }
  };
  const giveBack = (b: Uint8Array) => {
    held--;
    pool.give(b);
    bufferBack?.();
  };
  // a client that takes no answer bytes for stallMs holds its buffers: it is cut off
  const stall = setInterval(
    () => {
      if (writing.length > 0 && Date.now() - writing[0]! > o.stallMs) {
        sock.destroy(
          new PageServerError(
            `an answer not taken for ${seconds(o.stallMs)} (the client does not read its answers)`,
            'PAGESTACK_PS_SLOW',
            { offset: parser.offset },
          ),
        );
      }
    },
    Math.max(20, Math.min(1000, o.stallMs / 8)),
  );
  stall.unref();
  sock.setTimeout(idleMs, () =>
    sock.destroy(
      new PageServerError(
        `no data for ${Math.round(idleMs / 1000)} s (slow or stuck peer)`,
        'PAGESTACK_PS_IDLE',
        {
          offset: parser.offset,
        },
      ),
    ),
  );
  log(`${peer}: lazy session serving ${layerDir} (${names.length} layers)`);
  try {
    /** Answers the GETs parsed so far, in order. */
    const answer = async (): Promise<void> => {
      for (const m of msgs.splice(0)) {
        if (feed.ended) return; // the session is over (its stack is about to close)
        if (m.code === PS_IOV_CLOSE || m.code === PS_IOV_FORCE_CLOSE) {
          sock.write(closeAnswer(0));
          closed = true;
          if (m.code === PS_IOV_FORCE_CLOSE) sock.end();
          continue;
        }
        if (m.code !== PS_IOV_GET) {
          throw new PageServerError(
            `byte ${m.offset}: ${codeName(m.code)} sent to a lazy page server (it only answers GET)`,
            'PAGESTACK_PS_UNEXPECTED',
            { offset: m.offset },
          );
        }
        const pid = Number(m.dstId);
        const pm = `pagemap-${pid}.img`;
        const where = `byte ${m.offset}: GET ${m.nrPages} pages at 0x${m.vaddr.toString(16)} of pid ${pid}`;
        const cannot = (why: string) =>
          new PageServerError(`${where}: ${why}`, 'PAGESTACK_PS_CANNOT_SERVE', {
            offset: m.offset,
            pid,
            address: Number(m.vaddr),
            layer: layerDir,
          });
        if (!stack.top.files.includes(pm)) throw cannot(`${layerDir} has no ${pm}`);
        const mem = await stack.memory(pm);
        if (feed.ended) return;
        const x = mem.extents;
        const v0 = Number(m.vaddr / 4096n);
        const want = Math.min(Number(m.nrPages), GET_READ_PAGES);
        let got = 0;
        const perLayer: [number, number][] = [];
        for (let j = findExtent(x, v0); j < x.count && got < want; j++) {
          if (x.start[j]! > v0 + got || x.layer[j]! < 0) break;
          const k = Math.min(x.end[j]!, v0 + want) - (v0 + got);
          if (k <= 0) continue;
          const last = perLayer[perLayer.length - 1];
          if (last && last[0] === x.layer[j]!) last[1] += k;
          else perLayer.push([x.layer[j]!, k]);
          got += k;
        }
        if (got === 0) {
          const j = findExtent(x, v0);
          const why =
            j < x.count && x.start[j]! <= v0 && x.layer[j]! < 0
              ? 'lazy in the stack too (no data)'
              : 'not dumped';
          throw cannot(`page 0x${m.vaddr.toString(16)} is ${why}; cannot answer`);
        }
        // local files: read on this thread (a GET's pages are many pieces across the layers, each
        // a thread-pool round trip otherwise, while the restored process waits on its fault)
        const buf = await answerBuffer();
        if (!buf) return;
        if (feed.ended) {
          giveBack(buf);
          return;
        }
        const into = buf.subarray(0, got * 4096);
        const data = mem.files.every((f) => !f || f.readSync)
          ? mem.readIntoSync(into, v0 * 4096)
          : await mem.readInto(into, v0 * 4096);
        if (feed.ended) {
          giveBack(buf);
          return;
        }
        // header and pages in one writev
        sock.cork();
        sock.write(getAnswerHeader(m, got, parser.format ?? 'iov32'));
        writing.push(Date.now());
        sock.write(data, () => {
          writing.shift();
          giveBack(buf);
        });
        sock.uncork();
        gets++;
        pages += got;
        for (const [l, k] of perLayer) fromLayer.set(names[l]!, (fromLayer.get(names[l]!) ?? 0) + k);
        onGet?.({
          pid,
          vaddr: v0 * 4096,
          asked: Number(m.nrPages),
          served: got,
          layers: perLayer.map(([l, k]) => [names[l]!, k]),
        });
        // one line per GET: what was asked, what was answered, where each run of pages came from
        log(
          `${peer}: GET pid ${pid} 0x${m.vaddr.toString(16)} +${m.nrPages}: served ${got}${got < Number(m.nrPages) ? ' (short: the rest is asked again)' : ''} from ${perLayer.map(([l, k]) => `${short[l]} ${k}`).join(', ')}`,
        );
      }
      if (closed && sock.writableEnded) feed.finish();
    };
    /** The GETs being answered, if any; it never rejects. */
    let answering: Promise<void> | null = null;
    let readError: { e: unknown } | null = null;
    await feed
      .run(
        {
          bytes: (view) => {
            parser.feed(view);
            if (msgs.length === 0) return true;
            // reads pause while GETs are answered (their pages are read, the answers written)
            answering = answer().then(
              () => {
                answering = null;
                feed.resume();
              },
              (e: unknown) => {
                answering = null;
                feed.fail(e);
              },
            );
            return false;
          },
        },
        { scratchBytes: LAZY_SCRATCH },
      )
      .catch((e: unknown) => {
        readError = { e };
      });
    // a GET still being answered stops at its next step; the stack closes only after it
    while (answering) await answering;
    if (readError) throw (readError as { e: unknown }).e;
    parser.end();
    if (!closed)
      throw new PageServerError(
        `byte ${parser.offset}: the peer closed the connection before CLOSE`,
        'PAGESTACK_PS_NO_CLOSE',
        { offset: parser.offset },
      );
    const by = names
      .filter((n) => fromLayer.has(n))
      .map((n) => `${fromLayer.get(n)} from ${n}`)
      .join(', ');
    log(`${peer}: lazy session done: ${gets} GETs, ${pages} pages served (${by || 'none'})`);
    return { peer, ok: true, layer: layerDir };
  } catch (e) {
    const f = failure(e, peer);
    const error = `${peer}: ${oneLine(f.message)}; lazy session ended after ${gets} GETs, ${pages} pages [${f.code}]`;
    log(error);
    return { peer, ok: false, error, code: f.code, data: f.data };
  } finally {
    clearInterval(stall);
    sock.setTimeout(0);
    await flushed(sock);
    sock.destroy();
    if (!given) await stack.close();
  }
}

/**
 * After end() (FORCE_CLOSE): waits until what was written has gone to the kernel, so destroy()
 * drops nothing; at most FLUSH_MS (a peer that reads nothing does not hold the session).
 */
function flushed(s: Socket): Promise<void> {
  if (!s.writableEnded || s.writableFinished || s.destroyed) return Promise.resolve();
  return new Promise<void>((ok) => {
    const done = () => {
      clearTimeout(timer);
      s.off('finish', done);
      s.off('close', done);
      ok();
    };
    const timer = setTimeout(done, FLUSH_MS);
    s.on('finish', done);
    s.on('close', done);
  });
}

function peerName(s: Socket): string {
  return s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : 'peer';
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
