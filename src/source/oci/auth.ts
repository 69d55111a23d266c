/**
 * Registry credentials and challenges, the way podman and docker find and answer them.
 *
 * Credentials (first file that exists wins, as containers-auth.json(5) says):
 *   $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json, else ~/.docker/config.json
 * each `{"auths": {"KEY": {"auth": base64("user:password")}}}`; KEY is `host[:port]`, optionally
 * with a repository namespace (`host/ns`, the longest match wins), or docker's `https://host/v1/`.
 *
 * Challenges (RFC 7235, the distribution token spec): a 401 carries
 *   WWW-Authenticate: Basic realm="..."                     -> send Authorization: Basic
 *   WWW-Authenticate: Bearer realm="URL",service="S",scope="repository:NAME:pull"
 *     -> GET URL?service=S&scope=... (with Basic credentials when there are any) and send the
 *        answer's `token` (or `access_token`) as Authorization: Bearer.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RegistryError } from '../../errors.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** The auth file in force (see above), or null when none exists. */
export function authFilePath(env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates: string[] = [];
  if (env['REGISTRY_AUTH_FILE']) return env['REGISTRY_AUTH_FILE'];
  if (env['XDG_RUNTIME_DIR']) candidates.push(join(env['XDG_RUNTIME_DIR'], 'containers', 'auth.json'));
  candidates.push(join(env['HOME'] ?? homedir(), '.docker', 'config.json'));
  for (const c of candidates) {
    try {
      readFileSync(c);
      return c;
    } catch {}
  }
  return null;
}

/** Credentials for `registry`/`repository` from the auth file, or null. */
export function findCredentials(
  registry: string,
  repository: string,
  env: NodeJS.ProcessEnv = process.env,
): Credentials | null {
  const file = authFilePath(env);
  if (file === null) return null;
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' && env['REGISTRY_AUTH_FILE']) {
      throw new RegistryError(`${file}: REGISTRY_AUTH_FILE names no such file`, 'PAGESTACK_REGISTRY_AUTH');
    }
    throw new RegistryError(
      `${file}: not a JSON auth file (${err.message}); expected {"auths": {...}}`,
      'PAGESTACK_REGISTRY_AUTH',
    );
  }
  const auths = (doc as { auths?: Record<string, { auth?: string }> } | null)?.auths;
  if (typeof auths !== 'object' || auths === null) return null;
  // longest key first: host/ns/repo, host/ns, host, then docker's URL forms
  const parts = repository.split('/');
  const keys: string[] = [];
  for (let i = parts.length; i >= 1; i--) keys.push(`${registry}/${parts.slice(0, i).join('/')}`);
  keys.push(registry, `https://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`);
  for (const k of keys) {
    const entry = auths[k];
    if (entry && typeof entry.auth === 'string' && entry.auth !== '') {
      const text = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = text.indexOf(':');
      if (colon < 0) {
        throw new RegistryError(
          `${file}: auths["${k}"].auth: expected base64 of "user:password"`,
          'PAGESTACK_REGISTRY_AUTH',
        );
      }
      return { username: text.slice(0, colon), password: text.slice(colon + 1) };
    }
  }
  return null;
}

/** Parses a WWW-Authenticate header (one challenge: the first). */
export function parseChallenge(header: string): Challenge | null {
  const m = /^\s*([A-Za-z][A-Za-z0-9._~+/-]*)\s*(.*)$/s.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = m[2]!;
  re.lastIndex = 0;
  for (;;) {
    const start = re.lastIndex;
    if (start >= rest.length) break;
    const p = re.exec(rest);
    if (!p) break;
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}
