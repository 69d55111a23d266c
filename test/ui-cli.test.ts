/**
 * `pagestack ui` as a command: it prints the URL of a server on 127.0.0.1 that answers the API
 * over the stack, stops on SIGTERM, and refuses bad input in one line (exit 1; 2 for usage).
 * Needs the page built (`npm run build:web`, which `npm test` runs first; `npm run build` does too).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StackInfo } from '../src/server/http/types.js';
import { cli } from './helpers/cli.js';
import { FIX, ROOT } from './helpers/fixtures.js';

const TOP = join(FIX, 'series-stack', '3');

/** `pagestack ui TARGET` as a process of its own, once it printed its URL; stderr collected as it comes. */
async function startUi(target: string) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'ui', target],
    {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const io = { err: '' };
  child.stderr.on('data', (d: Buffer) => {
    io.err += d;
  });
  /** SIGKILL by pid if it is still running (the finally of every test). */
  const kill = () => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d;
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code} before printing a URL: ${io.err}`)));
    });
    return { child, url, exited, io, kill };
  } catch (e) {
    kill();
    throw e;
  }
}

test('pagestack ui prints a loopback URL, serves the stack and stops on SIGTERM', async () => {
  assert.ok(
    existsSync(join(ROOT, 'dist', 'web', 'index.html')),
    'the page is built (npm run build:web, which npm test runs first)',
  );
  const { child, url, exited, kill } = await startUi(TOP);
  try {
    const stack = (await (await fetch(`${url}api/stack`)).json()) as StackInfo;
    assert.equal(stack.layers.length, 3);
    assert.deepEqual(
      stack.processes.map((p) => [p.pid, p.comm]),
      [[25238, 'series']],
    );
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await page.text(), /<canvas id="map"/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    kill();
  }
});

test('pagestack ui: bad target and bad port in one line', async () => {
  const missing = await cli(['ui', join(FIX, 'no-such-dir')]);
  assert.equal(missing.code, 1);
  assert.equal(missing.err.trim().split('\n').length, 1);
  assert.match(missing.err, /no-such-dir/);
  const port = await cli(['ui', TOP, '--port', 'http']);
  assert.equal(port.code, 2);
  assert.match(port.err, /--port 'http': expected a port number/);
});

test('pagestack ui: the URL at once, a stack broken below the top said on stderr and by the API', async () => {
  // series-stack copied with layer 1's pagemap cut short: opening works (the chain is there), the
  // resolve behind the URL finds it
  const dir = mkdtempSync(join(tmpdir(), 'pagestack-ui-cli-'));
  for (const n of ['1', '2', '3']) {
    cpSync(join(FIX, 'series-stack', n), join(dir, n), { recursive: true });
  }
  for (const n of ['2', '3']) {
    rmSync(join(dir, n, 'parent'), { force: true });
    symlinkSync(`../${Number(n) - 1}`, join(dir, n, 'parent'));
  }
  truncateSync(join(dir, '1', 'pagemap-25238.img'), 100);
  const { child, url, exited, io, kill } = await startUi(join(dir, '3'));
  try {
    const maps = await fetch(`${url}api/maps?pid=25238`);
    assert.equal(maps.status, 422);
    const body = (await maps.json()) as { error: { message: string } };
    assert.match(body.error.message, /1\/pagemap-25238\.img: offset \d+/);
    for (let i = 0; i < 100 && !io.err.includes('pagemap-25238.img'); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(io.err.trim().split('\n').length, 1, io.err);
    assert.match(io.err, /^pagestack ui: .*1\/pagemap-25238\.img: offset \d+.*\(the page shows it too\)/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pagestack ui --help: TARGET is a directory, an archive or a store target; layers from the bottom', async () => {
  const r = await cli(['ui', '--help']);
  assert.equal(r.code, 0, r.err);
  const help = r.out.replace(/\s+/g, ' ');
  assert.match(help, /an image directory \(the top layer of a stack\), a checkpoint archive/);
  assert.match(help, /s3:\/\/, oci:\/\//);
  assert.match(help, /layer 1 is the first dump/);
  assert.match(help, /view=map\|hex\|diff, pid, addr, from, to, a, b, q, mode, utf16/);
});
