/**
 * Readers on inputs that are not what they seem (issue 17, sections 5-7): special files in place
 * of images, damaged and deduplicated layers, hostile patterns and requests, odd messages. Each
 * test here failed on the code before its fix.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Explorer } from '../src/server/http/explorer.js';
import { startUiServer } from '../src/server/http/server.js';
import { FIX, ROOT } from './helpers/fixtures.js';

test('npm test builds the explorer page before the tests that serve it', () => {
  const scripts = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;
  const steps = scripts['test']!.split('&&').map((s) => s.trim());
  const runner = steps.findIndex((s) => s.includes('--test'));
  const build = steps.findIndex((s) => s === 'npm run build:web' || s === 'npm run build');
  assert.ok(build >= 0 && build < runner, `"test" builds before the runner: ${scripts['test']}`);
  assert.match(scripts['build:web'] ?? '', /vite build --config web\/vite\.config\.ts/);
  assert.match(readFileSync(join(ROOT, 'web', 'vite.config.ts'), 'utf8'), /\.\.\/dist\/web/);
});

test('the explorer API refuses same-site and cross-site requests; a malformed %-escape is 400', async () => {
  const explorer = await Explorer.open(join(FIX, 'series-stack', '3'));
  const server = await startUiServer({ explorer, webRoot: join(ROOT, 'dist', 'web'), port: 0 });
  try {
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${server.url}${path}`, { headers });
    for (const site of ['same-site', 'cross-site']) {
      const r = await get('api/stack', { 'sec-fetch-site': site });
      assert.equal(r.status, 403, site);
      const body = (await r.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'PAGESTACK_FOREIGN_REQUEST');
      assert.match(body.error.message, new RegExp(`Sec-Fetch-Site '${site}'`));
    }
    assert.equal((await get('api/stack', { 'sec-fetch-site': 'same-origin' })).status, 200);
    assert.equal((await get('api/stack', { 'sec-fetch-site': 'none' })).status, 200);
    assert.equal((await get('api/stack')).status, 200);
    const bad = await get('%E0%A4%A');
    assert.equal(bad.status, 400);
    const body = (await bad.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'PAGESTACK_BAD_REQUEST');
    assert.match(body.error.message, /malformed %-escape/);
  } finally {
    await server.close();
    await explorer.close();
  }
});
