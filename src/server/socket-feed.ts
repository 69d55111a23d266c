/**
 * Reading a page-server connection into memory the consumer chooses.
 *
 * Why not the socket stream: Node hands every read over as a new 64 KiB Buffer, so a 1 GiB dump is
 * 16,384 allocations, a garbage collection every few MiB and the stream machinery per chunk.
 * Measured over loopback, 1 GiB sent with sendfile: 0.93 s received as a stream, 0.40 s read with
 * `onread` into one reused buffer. With `onread` each read also lands where the consumer says
 * (`target`): while page data arrives, that is the free part of an ingest slot, so the bytes are
 * already where they go and are never copied in user space.
 *
 *   read(2) -> target() (a slot's free part, or the feed's scratch) -> bytes(view), synchronously
 *              bytes() returns false: reads stop (the view stays valid) until resume()
 *
 * While paused, the next read is armed on (a few KiB of) the scratch buffer, never on consumer
 * memory: what the consumer does while paused may hand that memory away (an ingest slot moved to
 * its thread).
 *
 * Before its session runs, a connection can be read ahead (prefetch) into a small buffer of its own
 * until it has sent enough (its first header): the page server gives the session only to a
 * connection that has spoken; what was read ahead is delivered first by run().
 *
 * While run() reads, the feed counts the time it waits for the peer (reads armed, nothing came:
 * `waitedMs`; not the time the consumer keeps reads paused) and the bytes that came (`bytesIn`):
 * the server's bound on a session's silence and rate (page-server.ts) is computed from them.
 *
 * `onread` is a constructor option of net.Socket, and net.Server builds the sockets it accepts
 * itself; so an accepted plain TCP socket (accepted paused) has its handle moved into a new
 * net.Socket with `onread`, and the accepted object is retired without closing the handle. That
 * uses net's `_handle`, which Node does not document: where it is missing (and for TLS sockets,
 * whose reads are decrypted records) the feed reads the stream instead, with the same interface.
 */
import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/** The scratch buffer: reads that no consumer memory was offered for. */
const SCRATCH_BYTES = 1 << 20;
/**
 * The read armed while paused: small, so that after resume() only this much goes through the
 * scratch buffer before the consumer names a target again.
 */
const PAUSED_READ = 4096;

export interface FeedConsumer {
  /**
   * Where the next read goes: a view of the consumer's memory, or of `scratch` (at most its
   * length is read). Called after every read (not while paused). Default: all of `scratch`.
   */
  target?(scratch: Uint8Array): Uint8Array;
  /**
   * Bytes read: a view of the last target. Valid until this returns true, or, when it returns
   * false (reads pause), until resume().
   */
  bytes(view: Uint8Array): boolean;
}

interface NetInternals {
  _handle?: { useUserBuffer?: unknown; reading?: boolean } | null;
}

export class SocketFeed {
  readonly socket: Socket;
  /** True when reads land in our buffers (onread); false: the stream's own buffers. */
  readonly userBuffers: boolean;
  /** Where reads go that the consumer names no memory for (user buffers only; full size from run()). */
  private scratch: Buffer;
  private consumer: FeedConsumer | null = null;
  private paused = true;
  private settle: { ok: () => void; fail: (e: unknown) => void } | null = null;
  private outcome: { ok: true } | { ok: false; error: unknown } | null = null;
  /** Bytes read ahead by prefetch(), delivered first by run(). */
  private held: Buffer = Buffer.alloc(0);
  /** Since run(): time spent waiting for the peer, and when the wait in progress began (0: none). */
  private waited = 0;
  private armedAt = 0;
  private received = 0;

  private constructor(raw: Socket, userBuffers: boolean) {
    const h = (raw as NetInternals)._handle;
    // only a socket nothing has read from yet (accepted paused): bytes already in its stream
    // buffer would be lost with the old object
    const unread = raw.readableLength === 0 && h?.reading !== true;
    if (userBuffers && unread && !(raw instanceof TLSSocket) && h && typeof h.useUserBuffer === 'function') {
      this.scratch = Buffer.allocUnsafe(PAUSED_READ); // a connection waiting its turn holds no more
      (raw as NetInternals)._handle = null;
      raw.destroy(); // with no handle: only the server's connection count goes down
      this.socket = new Socket({
        handle: h,
        pauseOnCreate: true,
        onread: {
          buffer: () => this.nextTarget(),
          callback: (n: number, buf: Uint8Array) => this.onRead(n, buf),
        },
      } as ConstructorParameters<typeof Socket>[0]);
      this.userBuffers = true;
    } else {
      this.scratch = Buffer.alloc(0);
      this.socket = raw;
      raw.pause();
      raw.on('data', (b: Buffer) => {
        if (!this.deliver(b)) raw.pause();
      });
      this.userBuffers = false;
    }
    this.socket.on('end', () => this.finish());
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('close', () => this.fail(new Error('the connection was closed')));
  }

  /**
   * Takes over an accepted socket (accepted paused: createServer({ pauseOnConnect: true })).
   * `userBuffers: false` reads the stream even where user buffers would work.
   */
  static adopt(raw: Socket, opts: { userBuffers?: boolean } = {}): SocketFeed {
    return new SocketFeed(raw, opts.userBuffers ?? true);
  }

  /**
   * Reads into `consumer` until the peer's EOF (resolves), a socket error or close (rejects), or
   * finish()/fail() from the consumer.
   */
  run(consumer: FeedConsumer, opts: { scratchBytes?: number } = {}): Promise<void> {
    // ended before it ran (the socket closed while it waited its turn): that outcome at once
    if (this.outcome) return this.outcome.ok ? Promise.resolve() : Promise.reject(this.outcome.error);
    if (this.userBuffers) this.scratch = Buffer.allocUnsafe(opts.scratchBytes ?? SCRATCH_BYTES);
    this.consumer = consumer;
    const done = new Promise<void>((ok, fail) => {
      this.settle = { ok, fail };
    });
    this.waited = 0;
    this.received = 0;
    const held = this.held;
    this.held = Buffer.alloc(0);
    if (held.length > 0) {
      // what prefetch() read: the consumer's first bytes (its own buffer: valid until resume())
      this.paused = false;
      if (!this.deliver(held)) return done;
      this.paused = true;
    }
    this.resume();
    return done;
  }

  /**
   * Reads ahead, before run(), until `enough(held)` says the bytes held are enough (true), or the
   * connection ends first (false; its outcome is then what run() returns). Reads go to the
   * PAUSED_READ part of the scratch buffer and are copied out, so a waiting connection holds
   * little more than what `enough` asks for.
   */
  prefetch(enough: (held: Uint8Array) => boolean): Promise<boolean> {
    if (this.outcome) return Promise.resolve(false);
    return new Promise<boolean>((ok) => {
      this.settle = { ok: () => ok(false), fail: () => ok(false) };
      this.consumer = {
        target: (scratch) => scratch.subarray(0, PAUSED_READ),
        bytes: (view) => {
          this.held = Buffer.concat([this.held, view]);
          if (!enough(this.held)) return true;
          this.consumer = null;
          this.settle = null;
          ok(true);
          return false;
        },
      };
      this.resume();
    });
  }

  /** Bytes read ahead by prefetch() and not yet delivered. */
  get heldBytes(): number {
    return this.held.length;
  }

  /** Since run(): milliseconds spent waiting for the peer's bytes while reading (not while paused). */
  get waitedMs(): number {
    return this.waited + (this.armedAt > 0 && !this.paused && !this.outcome ? Date.now() - this.armedAt : 0);
  }

  /** Milliseconds the wait in progress for the peer's bytes has lasted (0 when not reading). */
  get silentMs(): number {
    return this.armedAt > 0 && !this.paused && !this.outcome ? Date.now() - this.armedAt : 0;
  }

  /** Since run(): bytes received (those read ahead included). */
  get bytesIn(): number {
    return this.received;
  }

  /** True once run() has its outcome (EOF, finish(), fail(), a socket error or close). */
  get ended(): boolean {
    return this.outcome !== null;
  }

  /** Reads again after bytes() returned false. */
  resume(): void {
    if (this.outcome || !this.paused) return;
    this.paused = false;
    this.armedAt = Date.now();
    this.socket.resume();
  }

  /** Ends run() successfully (the consumer needs no more bytes). */
  finish(): void {
    if (this.outcome) return;
    this.outcome = { ok: true };
    this.settle?.ok();
  }

  /** Ends run() with `e`. */
  fail(e: unknown): void {
    if (this.outcome) return;
    this.outcome = { ok: false, error: e };
    this.settle?.fail(e);
  }

  private nextTarget(): Uint8Array {
    if (this.paused || this.outcome) return this.scratch.subarray(0, PAUSED_READ);
    if (!this.consumer?.target) return this.scratch;
    try {
      return this.consumer.target(this.scratch);
    } catch (e) {
      // inside Node's read callback: an exception here would be uncaught
      this.fail(e);
      this.paused = true;
      return this.scratch.subarray(0, PAUSED_READ);
    }
  }

  private onRead(n: number, buf: Uint8Array): boolean {
    return this.deliver(buf.subarray(0, n));
  }

  private deliver(view: Uint8Array): boolean {
    if (this.outcome || !this.consumer) return false;
    const now = Date.now();
    if (this.armedAt > 0) this.waited += now - this.armedAt;
    this.armedAt = 0;
    this.received += view.length;
    let more: boolean;
    try {
      more = this.consumer.bytes(view);
    } catch (e) {
      this.fail(e);
      return false;
    }
    if (!more || this.outcome) this.paused = true;
    if (!this.paused) this.armedAt = Date.now();
    return !this.paused;
  }
}
