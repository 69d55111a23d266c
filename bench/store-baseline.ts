/**
 * Baselines for the object store benchmark: what the AWS SDK does on its own against an S3
 * server, for pagestack's push and reads to be measured against. The functions take a plain
 * `S3Client` (no pagestack code between it and the server) and are exported for the store bench:
 *
 *   - sdkUploadFile: the SDK's own multipart `Upload` of a file (8 MiB parts, 4 at a time), timed;
 *   - parallelRangedGets: an object read whole as ranged GETs of RANGE bytes, P at a time, timed;
 *   - rangedGetLatency: one ranged 4 KiB GET after another at random offsets: the median latency.
 *
 * CLI: `node --import tsx bench/store-baseline.ts [SIZE] [--endpoint URL --bucket B]` (SIZE
 * default 256M). Without --endpoint it starts its own Swift 2.30 + s3api on loopback
 * (test/helpers/swift-server.ts) and stops it at the end; with one, credentials come from the
 * SDK's chain. Writes a SIZE file of random bytes to a temp directory, uploads it, reads it back
 * (checked), prints the figures with the load average. Figures, not pass/fail.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, GetObjectCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const MiB = 1024 * 1024;

export interface Timed {
  bytes: number;
  ms: number;
  /** MiB per second. */
  rate: number;
}

function timed(bytes: number, t0: number): Timed {
  const ms = performance.now() - t0;
  return { bytes, ms, rate: bytes / MiB / (ms / 1000) };
}

/** An S3 client for a non-AWS endpoint as pagestack makes one: path-style, keep-alive, 64 sockets. */
export function baselineClient(
  endpoint: string,
  region = process.env['AWS_REGION'] ?? 'us-east-1',
): S3Client {
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  return new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) },
  });
}

/** Creates `bucket` unless it is there. */
export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}

/** The SDK's own multipart Upload of `file` to `bucket/key`, streamed from disk, timed. */
export async function sdkUploadFile(
  client: S3Client,
  bucket: string,
  key: string,
  file: string,
  opts: { partSize?: number; queueSize?: number } = {},
): Promise<Timed> {
  const bytes = statSync(file).size;
  const t0 = performance.now();
  const up = new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: createReadStream(file) },
    partSize: opts.partSize ?? 8 * MiB,
    queueSize: opts.queueSize ?? 4,
    leavePartsOnError: false,
  });
  await up.done();
  return timed(bytes, t0);
}

/** One ranged GET: bytes [start, end). */
export async function rangedGet(client: S3Client, bucket: string, key: string, start: number, end: number) {
  const res = await client.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end - 1}` }),
  );
  const body = await res.Body!.transformToByteArray();
  if (body.length !== end - start)
    throw new Error(`${bucket}/${key}: range ${start}-${end}: got ${body.length} bytes`);
  return body;
}

/**
 * Reads `size` bytes of an object as ranged GETs of `range` bytes, `parallel` in flight at once,
 * timed; `check` sees every piece with its offset.
 */
export async function parallelRangedGets(
  client: S3Client,
  bucket: string,
  key: string,
  size: number,
  opts: { range?: number; parallel?: number; check?: (offset: number, bytes: Uint8Array) => void } = {},
): Promise<Timed & { requests: number }> {
  const range = opts.range ?? 2 * MiB;
  const parallel = opts.parallel ?? 16;
  const offsets: number[] = [];
  for (let o = 0; o < size; o += range) offsets.push(o);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < offsets.length) {
      const o = offsets[next++]!;
      const b = await rangedGet(client, bucket, key, o, Math.min(size, o + range));
      opts.check?.(o, b);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, offsets.length) }, worker));
  return { ...timed(size, t0), requests: offsets.length };
}

/** `samples` ranged GETs of `size` (4 KiB) bytes one after another at random page offsets: median and p90 in ms. */
export async function rangedGetLatency(
  client: S3Client,
  bucket: string,
  key: string,
  objectSize: number,
  opts: { samples?: number; size?: number } = {},
): Promise<{ median: number; p90: number; samples: number }> {
  const samples = opts.samples ?? 50;
  const size = opts.size ?? 4096;
  const pages = Math.floor((objectSize - size) / 4096) + 1;
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    const o = Math.floor(Math.random() * pages) * 4096;
    const t0 = performance.now();
    await rangedGet(client, bucket, key, o, o + size);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(samples / 2)]!, p90: ms[Math.floor(samples * 0.9)]!, samples };
}

/** Writes a file of `size` random bytes (0600, in 8 MiB pieces) and returns the same bytes, to check reads against. */
function writeRandomFile(path: string, size: number): Buffer {
  const all = Buffer.allocUnsafe(size);
  const fd = openSync(path, 'w', 0o600);
  try {
    for (let o = 0; o < size; o += 8 * MiB) {
      const piece = randomBytes(Math.min(8 * MiB, size - o));
      piece.copy(all, o);
      writeSync(fd, piece);
    }
  } finally {
    closeSync(fd);
  }
  return all;
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const sizeArg = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--')) ?? '256M';
  const m = /^(\d+)([KMG]?)$/i.exec(sizeArg);
  if (!m) throw new Error(`bad SIZE ${sizeArg}`);
  const size = Number(m[1]) * ({ K: 1024, M: MiB, G: 1024 * MiB }[m[2]!.toUpperCase()] ?? 1);
  const dir = mkdtempSync(join(tmpdir(), 'pagestack-bench-store-'));
  let endpoint = opt('--endpoint');
  const bucket = opt('--bucket') ?? 'pagestack-bench';
  let stopServer = () => {};
  try {
    if (!endpoint) {
      const { startSwiftServer } = await import('../test/helpers/swift-server.js');
      const t0 = performance.now();
      const swift = await startSwiftServer();
      stopServer = () => {
        swift.stop();
        rmSync(swift.dir, { recursive: true, force: true });
      };
      swift.useCredentials();
      endpoint = swift.endpoint;
      console.log(
        `Swift 2.30 + s3api on ${endpoint}, ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
    console.log(`store baseline: ${sizeArg} object, ${new Date().toISOString()}, load ${load()}`);
    const file = join(dir, 'object');
    const data = writeRandomFile(file, size);
    const client = baselineClient(endpoint);
    await ensureBucket(client, bucket);

    const up = await sdkUploadFile(client, bucket, 'baseline/object', file);
    console.log(
      `SDK Upload (8 MiB parts, queue 4): ${(up.bytes / MiB).toFixed(0)} MiB in ${(up.ms / 1000).toFixed(2)} s = ${up.rate.toFixed(1)} MiB/s  (load ${load()})`,
    );
    for (const [range, parallel] of [
      [2 * MiB, 16],
      [8 * MiB, 4],
      [512 * 1024, 32],
    ] as const) {
      const check = (o: number, b: Uint8Array) => {
        if (!data.subarray(o, o + b.length).equals(b)) throw new Error(`bytes differ at ${o}`);
      };
      const g = await parallelRangedGets(client, bucket, 'baseline/object', size, { range, parallel, check });
      console.log(
        `ranged GETs of ${range / 1024} KiB, ${parallel} at once: ${g.requests} GETs, ${(g.ms / 1000).toFixed(2)} s = ${g.rate.toFixed(1)} MiB/s  (load ${load()})`,
      );
    }
    const lat = await rangedGetLatency(client, bucket, 'baseline/object', size, { samples: 60 });
    console.log(
      `one ranged 4 KiB GET: median ${lat.median.toFixed(1)} ms, p90 ${lat.p90.toFixed(1)} ms (${lat.samples} in a row)  (load ${load()})`,
    );
    client.destroy();
  } finally {
    stopServer();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  await main();
}
