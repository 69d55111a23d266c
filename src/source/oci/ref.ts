/**
 * Image references, as container tools write them, with pagestack's `oci://` scheme in front:
 *
 *   oci://REGISTRY/REPOSITORY:TAG          oci://localhost:5000/ckpt/series:step2
 *   oci://REGISTRY/REPOSITORY@sha256:HEX   (a manifest by digest; `:TAG@sha256:...` keeps the digest)
 *   oci://REGISTRY/REPOSITORY              (tag `latest`, as podman and docker)
 *
 * REGISTRY is a host name with a dot or a port, or `localhost` (the first path component is a
 * registry only then, as in containers/image); REPOSITORY is lower case components of
 * [a-z0-9._-] separated by `/` (the distribution spec's grammar). No default registry is ever
 * guessed: a reference without one is refused, where podman would search docker.io.
 */
import { RegistryError } from '../../errors.js';

export const OCI_SCHEME = 'oci://';

export interface ImageRef {
  /** host[:port] */
  readonly registry: string;
  readonly repository: string;
  /** The tag (`latest` when neither tag nor digest is given). */
  readonly tag: string | null;
  /** `sha256:...` when the reference pins a manifest. */
  readonly digest: string | null;
}

const REPO_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isOciRef(s: string): boolean {
  return s.startsWith(OCI_SCHEME);
}

/** Parses `oci://...` (or, with `bare`, the same without the scheme: `--image` takes that). */
export function parseImageRef(text: string, bare = false): ImageRef {
  let rest = text;
  if (rest.startsWith(OCI_SCHEME)) rest = rest.slice(OCI_SCHEME.length);
  else if (!bare) throw new RegistryError(`${text}: not an oci:// reference`);
  const bad = (what: string): never => {
    throw new RegistryError(
      `${text}: ${what}; expected ${bare ? '' : OCI_SCHEME}REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]`,
    );
  };
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) bad(`digest "${digest}" is not sha256: and 64 lower-case hex digits`);
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) bad('no registry host');
  const registry = rest.slice(0, slash);
  if (!(registry.includes('.') || registry.includes(':') || registry === 'localhost')) {
    bad(`"${registry}" is not a registry host (it needs a dot, a port, or to be localhost)`);
  }
  if (!/^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9a-fA-F:]+\](?::\d{1,5})?$/.test(registry)) {
    bad(`"${registry}" is not a host[:port]`);
  }
  let path = rest.slice(slash + 1);
  let tag: string | null = null;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG_RE.test(tag)) bad(`tag "${tag}" is not a valid tag`);
  }
  if (!REPO_RE.test(path)) bad(`repository "${path}" is not lower-case name components separated by /`);
  if (tag === null && digest === null) tag = 'latest';
  return { registry, repository: path, tag, digest };
}

/** The reference written back, with the scheme: for messages and names. */
export function formatImageRef(r: ImageRef): string {
  return `${OCI_SCHEME}${r.registry}/${r.repository}${r.tag !== null ? `:${r.tag}` : ''}${r.digest !== null ? `@${r.digest}` : ''}`;
}

/** What a manifest GET/PUT names: the digest when pinned, else the tag. */
export function manifestReference(r: ImageRef): string {
  return r.digest ?? r.tag ?? 'latest';
}
