/**
 * `pagestack ui` as a command: it prints the URL of a server on 127.0.0.1 that answers the API
 * over the stack, stops on SIGTERM, and refuses bad input in one line (exit 1; 2 for usage).
 * Needs the page built (`npm run build`, as the README's quick start does before `npm test`).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StackInfo } from '../src/server/http/types.js';
import { cli } from './helpers/cli.js';
import { FIX, ROOT } from './helpers/fixtures.js';

const TOP = join(FIX, 'series-stack', '3');

test('pagestack ui prints a loopback URL, serves the stack and stops on SIGTERM', async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'web', 'index.html')), 'the page is built (npm run build)');
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'ui', TOP], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d;
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.stderr.on('data', (d: Buffer) => {
        err += d;
      });
      child.on('exit', (code) => reject(new Error(`exited ${code} before printing a URL: ${err}`)));
    });
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
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
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
