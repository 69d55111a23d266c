/**
 * The package a user installs: `npm pack` of this repository, `npm install -g` of that tarball into
 * a temporary prefix (dependencies from npm's cache, as `npm ci` left it; native addons built as on
 * a user's machine, pagestack's own copy_file_range addon included: npm asks for it in
 * --allow-scripts), and the installed `pagestack` run: --version, show of the sample stack, and
 * `ui`, which must find its page inside the installed package. Needs the build (npm test builds
 * first).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { testDir } from './helpers/files.js';
import { FIX, ROOT } from './helpers/fixtures.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

test('npm pack, npm install -g into a prefix, then the installed pagestack runs', {
  timeout: 15 * 60_000,
}, async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'the CLI is built (npm run build)');
  const dir = testDir('package');
  const npm = (args: string[], cwd: string) => {
    const r = spawnSync('npm', args, {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, npm_config_update_notifier: 'false' },
    });
    assert.equal(r.status, 0, `npm ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  npm(['pack', '--pack-destination', dir], ROOT);
  const tgz = join(dir, `pagestack-${VERSION}.tgz`);
  assert.ok(existsSync(tgz));
  const prefix = join(dir, 'prefix');
  const install = npm(
    [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      // a registry install allows `pagestack` by name; a tarball by its path (npm's allowScripts)
      `--allow-scripts=lzma-native,zstd-napi,pagestack,${tgz}`,
      tgz,
    ],
    dir,
  );
  assert.doesNotMatch(
    install.stderr,
    /install scripts not yet covered/,
    'the install is quiet about install scripts',
  );
  after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(prefix, 'bin', 'pagestack');
  // pagestack's own install script built the copy_file_range addon (native/, src/engine/copy-range.ts)
  assert.ok(
    existsSync(
      join(prefix, 'lib', 'node_modules', 'pagestack', 'native', 'build', 'Release', 'copy_range.node'),
    ),
    'the copy_file_range addon was built at install',
  );

  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout.trim(), VERSION);

  const show = spawnSync(bin, ['show', join(FIX, 'series-stack', '3')], { encoding: 'utf8' });
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, /3 layers/);

  // ui: serves the page from the installed package's dist/web
  const ui = spawn(bin, ['ui', join(FIX, 'series-stack', '3'), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      ui.stdout.on('data', (d: Buffer) => {
        out += d;
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) resolve(m[1]!);
      });
      ui.stderr.on('data', (d: Buffer) => {
        err += d;
      });
      ui.on('exit', (code) => reject(new Error(`ui exited ${code}: ${err}`)));
    });
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<canvas id="map"/);
  } finally {
    if (ui.exitCode === null && ui.pid !== undefined) process.kill(ui.pid, 'SIGKILL');
  }
});
