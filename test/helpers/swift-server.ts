/**
 * A real S3 server for tests: OpenStack Swift 2.30 with its s3api middleware, as Debian packages it
 * (swift swift-proxy swift-account swift-container swift-object memcached), run as a one-node
 * cluster on 127.0.0.1 wholly inside the test's own temporary directory: its swift.conf, rings,
 * device, configs and logs; nothing in /etc/swift is read (every config sets `swift_dir`).
 *
 * Five processes on free ports: the proxy (s3api, tempauth, slo for multipart uploads), object,
 * container and account servers (each `workers = 0`: one process, no forked workers, so its pid is
 * all there is to kill), and memcached. Ready when the proxy answers `GET /healthcheck` with 200
 * and the three backends accept connections. No node:test here, so benchmarks start it too; tests
 * use test/helpers/swift.ts (one server per test file, killed in `after`, skip or fail without Swift).
 *
 * For fault tests: `killProxy()` SIGKILLs the proxy (connections in flight are cut, new ones are
 * refused) and `startProxy()` brings it back on the same port; `objectFile(bucket, key)` is the
 * `.data` file holding an object's bytes on the server's disk (for corruption tests).
 *
 * S3 credentials: access key `test:tester`, secret `testing`, region us-east-1, path-style.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const BINARIES = [
  'swift-proxy-server',
  'swift-object-server',
  'swift-container-server',
  'swift-account-server',
  'swift-ring-builder',
  'memcached',
];
const SEARCH_PATH = `${process.env['PATH'] ?? ''}${delimiter}/usr/bin${delimiter}/usr/sbin${delimiter}/bin`;

function which(name: string): string | null {
  for (const dir of SEARCH_PATH.split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

const missing = BINARIES.filter((b) => which(b) === null);
/** Why Swift cannot run here, or null. */
export const SWIFT_UNAVAILABLE: string | null =
  missing.length === 0
    ? null
    : `${missing.join(', ')} not installed (apt-get install swift swift-proxy swift-account swift-container swift-object memcached)`;

export const SWIFT_ACCESS_KEY = 'test:tester';
export const SWIFT_SECRET = 'testing';
export const SWIFT_REGION = 'us-east-1';
/** The Swift account tempauth gives `test:tester`: where its buckets (containers) live. */
const ACCOUNT = 'AUTH_test';
const PART_POWER = 6;
const HASH_PREFIX = 'pagestack-test';
const HASH_SUFFIX = 'pagestack-test';

type Role = 'proxy' | 'object' | 'container' | 'account' | 'memcached';

/** A free TCP port on 127.0.0.1 (the kernel's pick; released at once for the server to take). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, '127.0.0.1', () => done(true));
  });
}

async function healthy(port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/healthcheck`, { signal: AbortSignal.timeout(1000) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

export class SwiftServer {
  /** `http://127.0.0.1:PORT`: the S3 endpoint. */
  readonly endpoint: string;
  private readonly procs = new Map<Role, ChildProcess>();
  private readonly logs: string;

  constructor(
    readonly dir: string,
    readonly ports: Readonly<Record<Role, number>>,
  ) {
    this.endpoint = `http://127.0.0.1:${ports.proxy}`;
    this.logs = join(dir, 'log');
  }

  /** The environment a child process (the CLI) needs to reach this server with the AWS SDK's chain. */
  env(): Record<string, string> {
    return {
      AWS_ACCESS_KEY_ID: SWIFT_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SWIFT_SECRET,
      AWS_REGION: SWIFT_REGION,
      AWS_ENDPOINT_URL: this.endpoint,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(this.dir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(this.dir, 'no-aws-credentials'),
    };
  }

  /** Puts `env()` into this process's environment (for stores opened in the test process). */
  useCredentials(): void {
    for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL_S3']) delete process.env[k];
    Object.assign(process.env, this.env());
  }

  /** Pids of the running processes (for a test that wants to check they are gone). */
  pids(): number[] {
    return [...this.procs.values()].map((p) => p.pid!).filter((p) => p !== undefined);
  }

  private spawnRole(role: Role): void {
    const log = join(this.logs, `${role}.log`);
    const [cmd, args] =
      role === 'memcached'
        ? [
            'memcached',
            [
              '-u',
              userInfo().username,
              '-l',
              '127.0.0.1',
              '-p',
              String(this.ports.memcached),
              '-U',
              '0',
              '-m',
              '64',
            ],
          ]
        : [`swift-${role}-server`, [join(this.dir, `${role}-server.conf`)]];
    const child = spawn('sh', ['-c', `exec "$0" "$@" </dev/null >>"${log}" 2>&1`, which(cmd)!, ...args], {
      stdio: 'ignore',
      env: { PATH: '/usr/sbin:/usr/bin:/bin', PYTHONDONTWRITEBYTECODE: '1' },
    });
    child.on('error', () => undefined);
    this.procs.set(role, child);
  }

  private kill(role: Role): void {
    const p = this.procs.get(role);
    this.procs.delete(role);
    if (p?.pid === undefined) return;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }

  /** Kills every process of the server, by pid. */
  stop(): void {
    for (const role of [...this.procs.keys()]) this.kill(role);
  }

  /** SIGKILLs the proxy: requests in flight are cut, new connections refused, until startProxy(). */
  async killProxy(): Promise<void> {
    const p = this.procs.get('proxy');
    this.kill('proxy');
    if (p && p.exitCode === null && p.signalCode === null) {
      await new Promise((r) => p.once('exit', r));
    }
  }

  /** Starts the proxy again (same port) and waits until it is healthy. */
  async startProxy(timeoutMs = 30_000): Promise<void> {
    this.spawnRole('proxy');
    await this.waitReady(timeoutMs);
  }

  async start(timeoutMs = 180_000): Promise<void> {
    for (const role of ['memcached', 'account', 'container', 'object', 'proxy'] as const)
      this.spawnRole(role);
    await this.waitReady(timeoutMs);
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      for (const [role, p] of this.procs) {
        if (p.exitCode !== null || p.signalCode !== null) {
          throw new Error(
            `swift ${role} exited (${p.exitCode ?? p.signalCode}); see ${this.logs}/${role}.log`,
          );
        }
      }
      const backends = await Promise.all(
        (['object', 'container', 'account', 'memcached'] as const).map((r) => connects(this.ports[r])),
      );
      if (backends.every(Boolean) && (await healthy(this.ports.proxy))) return;
      await sleep(100);
    }
    throw new Error(`swift did not become ready within ${timeoutMs} ms; logs in ${this.logs}`);
  }

  /**
   * The `.data` file holding the bytes of object `key` of `bucket` (a single-part upload) on the
   * server's one device, found as Swift places it: md5(prefix + /account/container/object + suffix),
   * partition = the top PART_POWER bits, directory objects/PART/HASH[-3:]/HASH. Swift 2.30's
   * servers take the hash prefix and suffix from /etc/swift/swift.conf when that file exists (the
   * Debian package installs one), else from this server's own swift.conf: both are tried. Null
   * when absent.
   */
  objectFile(bucket: string, key: string): string | null {
    for (const [prefix, suffix] of hashSalts()) {
      const hash = createHash('md5').update(`${prefix}/${ACCOUNT}/${bucket}/${key}${suffix}`).digest();
      const part = hash.readUInt32BE(0) >>> (32 - PART_POWER);
      const hex = hash.toString('hex');
      const d = join(this.dir, 'node', 'd1', 'objects', String(part), hex.slice(-3), hex);
      if (!existsSync(d)) continue;
      const data = readdirSync(d).filter((f) => f.endsWith('.data'));
      if (data.length > 0) return join(d, data.sort().at(-1)!);
    }
    return null;
  }
}

/** The hash path prefix and suffix Swift may use: /etc/swift/swift.conf's, then ours. */
function hashSalts(): [string, string][] {
  const out: [string, string][] = [];
  try {
    const conf = readFileSync('/etc/swift/swift.conf', 'latin1');
    const get = (k: string) => new RegExp(`^\\s*${k}\\s*=\\s*(.*?)\\s*$`, 'm').exec(conf)?.[1] ?? '';
    out.push([get('swift_hash_path_prefix'), get('swift_hash_path_suffix')]);
  } catch {
    // no system swift.conf
  }
  out.push([HASH_PREFIX, HASH_SUFFIX]);
  return out;
}

function writeConfig(dir: string, ports: Record<Role, number>): void {
  mkdirSync(join(dir, 'node', 'd1'), { recursive: true });
  mkdirSync(join(dir, 'log'), { recursive: true });
  writeFileSync(
    join(dir, 'swift.conf'),
    [
      '[swift-hash]',
      `swift_hash_path_prefix = ${HASH_PREFIX}`,
      `swift_hash_path_suffix = ${HASH_SUFFIX}`,
      '',
      '[storage-policy:0]',
      'name = Policy-0',
      'default = yes',
      '',
      '[swift-constraints]',
      'max_file_size = 5368709122',
      '',
    ].join('\n'),
  );
  const common = (port: number) =>
    [
      '[DEFAULT]',
      `swift_dir = ${dir}`,
      `devices = ${join(dir, 'node')}`,
      'mount_check = false',
      'bind_ip = 127.0.0.1',
      `bind_port = ${port}`,
      'workers = 0',
      `user = ${userInfo().username}`,
      'log_name = swift',
      'log_level = WARNING',
      'log_address = /dev/null',
      '',
    ].join('\n');
  for (const role of ['object', 'container', 'account'] as const) {
    writeFileSync(
      join(dir, `${role}-server.conf`),
      `${common(ports[role])}
[pipeline:main]
pipeline = ${role}-server

[app:${role}-server]
use = egg:swift#${role}

[${role}-replicator]
[${role}-auditor]
[${role}-updater]
`,
    );
  }
  const filters = [
    'catch_errors',
    'gatekeeper',
    'healthcheck',
    'proxy_logging',
    'listing_formats',
    'copy',
    'slo',
    'dlo',
  ];
  writeFileSync(
    join(dir, 'proxy-server.conf'),
    `${common(ports.proxy)}
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = ${SWIFT_REGION}
s3_acl = false
check_bucket_owner = false

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
reseller_prefix = AUTH_

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${ports.memcached}

${filters.map((f) => `[filter:${f.replace('_logging', '-logging')}]\nuse = egg:swift#${f}\n`).join('\n')}`,
  );
}

async function buildRings(dir: string, ports: Record<Role, number>): Promise<void> {
  const run = (args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn(which('swift-ring-builder')!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      p.on('error', reject);
      // rebalance exits 1 on warnings (one device, one replica): the ring is written all the same
      p.on('exit', (code) =>
        code === 0 || code === 1
          ? resolve()
          : reject(new Error(`swift-ring-builder ${args.join(' ')}: ${err}`)),
      );
    });
  await Promise.all(
    (['object', 'container', 'account'] as const).map(async (role) => {
      const b = join(dir, `${role}.builder`);
      await run([b, 'create', String(PART_POWER), '1', '1']);
      await run([b, 'add', `r1z1-127.0.0.1:${ports[role]}/d1`, '100']);
      await run([b, 'rebalance']);
      if (!existsSync(join(dir, `${role}.ring.gz`)))
        throw new Error(`swift-ring-builder wrote no ${role} ring`);
    }),
  );
}

/**
 * A new Swift server in a new directory under the system's temporary directory, on free ports,
 * started and ready. The caller stops it (`stop()`, by pid) and removes `dir`.
 */
export async function startSwiftServer(): Promise<SwiftServer> {
  if (SWIFT_UNAVAILABLE !== null) throw new Error(`Swift cannot run here: ${SWIFT_UNAVAILABLE}`);
  const dir = mkdtempSync(join(tmpdir(), 'pagestack-swift-'));
  const ports = {} as Record<Role, number>;
  const taken = new Set<number>();
  for (const role of ['proxy', 'object', 'container', 'account', 'memcached'] as const) {
    let p = await freePort();
    while (taken.has(p)) p = await freePort();
    taken.add(p);
    ports[role] = p;
  }
  writeConfig(dir, ports);
  await buildRings(dir, ports);
  const server = new SwiftServer(dir, ports);
  process.once('exit', () => server.stop());
  try {
    await server.start();
  } catch (e) {
    server.stop();
    throw e;
  }
  return server;
}
