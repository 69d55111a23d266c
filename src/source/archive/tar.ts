/**
 * A tar archive's index, made in one pass over its headers; member data is then read in place.
 *
 * Format (POSIX.1-2001 pax / ustar, and the GNU extensions tar(1) writes): the archive is a
 * sequence of 512-byte blocks. Each member is one header block followed by its data, padded to a
 * block boundary; two zero blocks end the archive. A header holds (offsets in bytes):
 *
 *     0 name[100]  100 mode[8]  108 uid[8]  116 gid[8]  124 size[12]  136 mtime[12]
 *   148 chksum[8]  156 typeflag  157 linkname[100]  257 magic[6] "ustar\0" (GNU: "ustar  \0")
 *   263 version[2]  265 uname[32]  297 gname[32]  329 devmajor[8]  337 devminor[8]
 *   345 prefix[155] (POSIX only: the name is prefix + "/" + name)
 *
 * Numbers are octal text ended by NUL or space; GNU writes large ones in base 256 (first byte has
 * its high bit set). chksum is the sum of the header's bytes with chksum itself read as spaces
 * (old tars summed signed chars: both are accepted). typeflag: '0'/NUL file, '1' hard link, '2'
 * symlink, '5' directory, '7' contiguous file (a file), '3' '4' '6' devices and fifos; 'x' is a
 * pax header whose data ("<len> <key>=<value>\n" records: path, linkpath, size) applies to the
 * next member, 'g' a global pax header (ignored), 'L' / 'K' GNU long name / long link name for
 * the next member (data = the name, NUL-terminated).
 *
 * Hostile input is refused here, once: a bad checksum, a size running past the end, a truncated
 * header, a missing end marker, an absolute name or one with `..`, a duplicate (non-directory)
 * member, a hard link to a member that is not before it, a symlink leaving the archive.
 */
import { ArchiveError } from './errors.js';

export const BLOCK = 512;

/** A readable byte container: the archive file itself, a temp file, or memory. */
export interface ByteContainer {
  readonly size: number;
  readSync(buf: Uint8Array, offset: number, length: number, position: number): number;
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
}

export type MemberType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface TarMember {
  /** Normalised name: no leading "./", no trailing "/". */
  readonly name: string;
  readonly type: MemberType;
  /** The tar typeflag ('0' file, '3' character device, '6' FIFO, ...): says what an 'other' is. */
  readonly typeflag: string;
  /** Data size (0 for links and directories). */
  readonly size: number;
  /** Offset of the data in the container (for hard links: the target's data). */
  readonly offset: number;
  /** Offset of the member's (first) header block. */
  readonly headerOffset: number;
  /** Link target text (symlinks, hard links). */
  readonly linkname: string;
  readonly mode: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
}

const TYPEFLAG_KINDS: Record<string, string> = {
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO',
  V: 'a GNU volume label',
};

/** What a member is, for messages: "a directory", "a FIFO", "a member of tar type 'g'". */
export function memberKind(m: TarMember): string {
  switch (m.type) {
    case 'file':
      return 'a regular file';
    case 'dir':
      return 'a directory';
    case 'symlink':
      return 'a symbolic link';
    case 'hardlink':
      return 'a hard link';
    default:
      return (
        TYPEFLAG_KINDS[m.typeflag] ?? `a member of tar type '${m.typeflag.replace(/[^\x21-\x7e]/g, '?')}'`
      );
  }
}

export class TarIndex {
  /** Members in archive order. */
  readonly members: readonly TarMember[];
  private readonly byName: Map<string, TarMember>;
  private readonly children: Map<string, string[]>;

  constructor(members: TarMember[]) {
    this.members = members;
    this.byName = new Map();
    this.children = new Map();
    for (const m of members) {
      this.byName.set(m.name, m);
      const slash = m.name.lastIndexOf('/');
      const dir = slash < 0 ? '' : m.name.slice(0, slash);
      const kids = this.children.get(dir) ?? [];
      this.children.set(dir, kids);
      kids.push(m.name.slice(slash + 1));
      // parent directories implied by a member's name exist even without their own member
      let d = dir;
      while (d !== '') {
        const s = d.lastIndexOf('/');
        const up = s < 0 ? '' : d.slice(0, s);
        const upKids = this.children.get(up) ?? [];
        this.children.set(up, upKids);
        const base = d.slice(s + 1);
        if (upKids.includes(base)) break;
        upKids.push(base);
        d = up;
      }
    }
  }

  get(name: string): TarMember | undefined {
    return this.byName.get(name);
  }

  /** Is `name` a directory (a member of type dir, or a prefix of other members)? */
  isDir(name: string): boolean {
    return name === '' || this.byName.get(name)?.type === 'dir' || this.children.has(name);
  }

  /** Names directly inside directory `dir` ('' = the root), sorted. */
  list(dir: string): string[] {
    return [...(this.children.get(dir) ?? [])].sort();
  }
}

export function headerChecksumOk(h: Uint8Array): boolean {
  const stored = parseOctal(h, 148, 8);
  if (stored === null) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

function parseOctal(h: Uint8Array, off: number, len: number): number | null {
  let i = off;
  const end = off + len;
  while (i < end && h[i] === 0x20) i++;
  let n = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = h[i]!;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) return null;
    n = n * 8 + (c - 0x30);
    digits++;
  }
  return digits === 0 ? 0 : n;
}

/** A numeric field: octal, or GNU base-256 (high bit of the first byte set). */
function parseNumber(h: Uint8Array, off: number, len: number): number | null {
  if (h[off]! & 0x80) {
    if (h[off]! & 0x40) return null; // negative
    let n = h[off]! & 0x3f;
    for (let i = off + 1; i < off + len; i++) {
      n = n * 256 + h[i]!;
      if (n > Number.MAX_SAFE_INTEGER) return null;
    }
    return n;
  }
  return parseOctal(h, off, len);
}

function cString(h: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && h[end] !== 0) end++;
  return new TextDecoder().decode(h.subarray(off, end));
}

const MAX_EXT_HEADER = 1 << 20;

/**
 * Normalises a member name, or returns why it is refused. "./a/b/" -> "a/b"; "." -> "".
 */
export function normaliseName(raw: string): string | { refused: string } {
  if (raw.startsWith('/')) return { refused: 'an absolute name, expected a path inside the archive' };
  const parts: string[] = [];
  for (const p of raw.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') return { refused: 'a name with "..", expected a path inside the archive' };
    parts.push(p);
  }
  return parts.join('/');
}

/**
 * Where a symlink at member `name` with text `target` points inside the archive, or null when it
 * leaves the archive (absolute, or `..` past the root).
 */
export function resolveLinkInArchive(name: string, target: string): string | null {
  if (target.startsWith('/')) return null;
  const parts = name.split('/');
  parts.pop();
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) return null;
      parts.pop();
    } else parts.push(p);
  }
  return parts.join('/');
}

function readFully(c: ByteContainer, buf: Uint8Array, pos: number): number {
  let done = 0;
  while (done < buf.length) {
    const n = c.readSync(buf, done, buf.length - done, pos + done);
    if (n <= 0) break;
    done += n;
  }
  return done;
}

function parsePax(data: Uint8Array, where: string): Map<string, string> {
  const out = new Map<string, string>();
  const text = new TextDecoder().decode(data);
  let i = 0;
  while (i < text.length) {
    if (text.charCodeAt(i) === 0) break;
    const sp = text.indexOf(' ', i);
    const len = sp < 0 ? Number.NaN : Number(text.slice(i, sp));
    if (!Number.isInteger(len) || len <= sp - i + 1 || i + len > text.length) {
      throw new ArchiveError(`${where}: bad pax record at byte ${i}, expected "<length> <key>=<value>\\n"`);
    }
    const rec = text.slice(sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq < 0) throw new ArchiveError(`${where}: bad pax record at byte ${i}, no "="`);
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

/** Indexes a tar in `c`; `archive` names it in errors. */
export function indexTar(c: ByteContainer, archive: string): TarIndex {
  const members: TarMember[] = [];
  const seen = new Map<string, TarMember>();
  const h = new Uint8Array(BLOCK);
  let pos = 0;
  let pax: Map<string, string> | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;
  let extStart = -1;
  for (;;) {
    if (pos >= c.size) {
      throw new ArchiveError(
        `${archive}: ends at offset ${pos} without the end-of-archive blocks, expected more members or two zero blocks (truncated?)`,
      );
    }
    const got = readFully(c, h, pos);
    if (got < BLOCK) {
      throw new ArchiveError(
        `${archive}: header at offset ${pos} cut off after ${got} bytes, expected a 512-byte tar header (truncated?)`,
      );
    }
    if (h.every((b) => b === 0)) break; // end of archive (GNU tar accepts one zero block too)
    const at = `${archive}: header at offset ${pos}`;
    if (!headerChecksumOk(h)) {
      throw new ArchiveError(`${at}: bad header checksum, expected a tar header (corrupt archive?)`);
    }
    const size = parseNumber(h, 124, 12);
    if (size === null) throw new ArchiveError(`${at}: bad size field, expected an octal number`);
    const typeflag = String.fromCharCode(h[156]!);
    const dataOff = pos + BLOCK;
    const next = dataOff + Math.ceil(size / BLOCK) * BLOCK;
    const headerName = (() => {
      const name = cString(h, 0, 100);
      const posix = h[257] === 0x75 && cString(h, 257, 6) === 'ustar' && h[262] === 0;
      const prefix = posix ? cString(h, 345, 155) : '';
      return prefix ? `${prefix}/${name}` : name;
    })();
    const shownName = longName ?? pax?.get('path') ?? headerName;
    if (dataOff + size > c.size) {
      throw new ArchiveError(
        `${archive}: member "${shownName}" at offset ${pos}: ${size} bytes of data run past the end of the archive (${c.size} bytes; truncated?)`,
      );
    }
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > MAX_EXT_HEADER) {
        throw new ArchiveError(`${at}: extended header of ${size} bytes, expected at most ${MAX_EXT_HEADER}`);
      }
      if (extStart < 0) extStart = pos;
      const data = new Uint8Array(size);
      readFully(c, data, dataOff);
      if (typeflag === 'x') pax = new Map([...(pax ?? []), ...parsePax(data, at)]);
      else if (typeflag === 'L') longName = cString(data, 0, data.length);
      else if (typeflag === 'K') longLink = cString(data, 0, data.length);
      pos = next;
      continue;
    }
    let realSize = size;
    const paxSize = pax?.get('size');
    if (paxSize !== undefined) {
      const n = Number(paxSize);
      if (!Number.isSafeInteger(n) || n < 0) throw new ArchiveError(`${at}: bad pax size "${paxSize}"`);
      realSize = n;
    }
    const linkname = longLink ?? pax?.get('linkpath') ?? cString(h, 157, 100);
    const headerOffset = extStart >= 0 ? extStart : pos;
    const paxMtime = pax?.get('mtime');
    pax = null;
    longName = null;
    longLink = null;
    extStart = -1;
    let nextPos = next;
    if (realSize !== size) {
      nextPos = dataOff + Math.ceil(realSize / BLOCK) * BLOCK;
      if (dataOff + realSize > c.size) {
        throw new ArchiveError(
          `${archive}: member "${shownName}" at offset ${headerOffset}: ${realSize} bytes of data run past the end of the archive (truncated?)`,
        );
      }
    }
    if (typeflag === 'S') {
      throw new ArchiveError(
        `${archive}: member "${shownName}" at offset ${headerOffset}: GNU sparse members are not supported`,
      );
    }
    const norm = normaliseName(shownName);
    if (typeof norm !== 'string') {
      throw new ArchiveError(`${archive}: member "${shownName}" at offset ${headerOffset}: ${norm.refused}`);
    }
    const type: MemberType =
      typeflag === '0' || typeflag === '\0' || typeflag === '7'
        ? 'file'
        : typeflag === '5'
          ? 'dir'
          : typeflag === '2'
            ? 'symlink'
            : typeflag === '1'
              ? 'hardlink'
              : 'other';
    pos = nextPos;
    if (norm === '') continue; // "./": the root itself
    let offset = dataOff;
    let memberSize = type === 'file' || type === 'other' ? realSize : 0;
    if (type === 'hardlink') {
      const t = normaliseName(linkname);
      const target = typeof t === 'string' ? seen.get(t) : undefined;
      if (target?.type !== 'file') {
        throw new ArchiveError(
          `${archive}: member "${shownName}" at offset ${headerOffset}: hard link to "${linkname}", which is not a file earlier in the archive (links must stay inside it)`,
        );
      }
      offset = target.offset;
      memberSize = target.size;
    }
    if (type === 'symlink') {
      const base = norm.slice(norm.lastIndexOf('/') + 1);
      // a `parent` link may name a layer outside (then --parent supplies it); see ArchiveLayerSource
      if (base !== 'parent' && resolveLinkInArchive(norm, linkname) === null) {
        throw new ArchiveError(
          `${archive}: member "${shownName}" at offset ${headerOffset}: symlink to "${linkname}" leaves the archive, expected a link inside it`,
        );
      }
    }
    const prev = seen.get(norm);
    if (prev && !(prev.type === 'dir' && type === 'dir')) {
      throw new ArchiveError(
        `${archive}: member "${shownName}" at offset ${headerOffset}: duplicate of the member at offset ${prev.headerOffset}, expected each name once`,
      );
    }
    const m: TarMember = {
      name: norm,
      type,
      typeflag,
      size: memberSize,
      offset,
      headerOffset,
      linkname,
      mode: parseOctal(h, 100, 8) ?? 0,
      mtime: Number(paxMtime ?? parseNumber(h, 136, 12) ?? 0),
    };
    if (!prev) {
      seen.set(norm, m);
      members.push(m);
    }
  }
  return new TarIndex(members);
}
