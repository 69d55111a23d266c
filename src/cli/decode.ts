/**
 * `pagestack decode FILE [--pretty] [-o OUT]`: an image as crit-compatible JSON.
 * `pagestack decode ARCHIVE MEMBER`: an image inside a checkpoint archive (MEMBER relative to its
 * image directory, e.g. `pstree.img`, or the full member name, e.g. `checkpoint/pstree.img`).
 */
import { writeSync } from 'node:fs';
import type { Command } from '@commander-js/extra-typings';
import { errnoText } from '../engine/fs.js';
import { AtomicFile } from '../engine/output.js';
import {
  ArchiveError,
  ImageFormatError,
  OutputError,
  PagestackError,
  RawImageError,
  UsageError,
} from '../errors.js';
import { decodeToJsonChunks, emitJsonChunks } from '../image/pagemap-json.js';
import { cliStreams, readWholeFile } from './io.js';

const NEWLINE = new Uint8Array([10]);

/** What kind of archive `buf` starts with (tar, or a compressed one), or null. */
function archiveKind(buf: Uint8Array): string | null {
  const at = (off: number, ...bytes: number[]) => bytes.every((b, i) => buf[off + i] === b);
  if (buf.length >= 262 && at(257, 0x75, 0x73, 0x74, 0x61, 0x72)) return 'tar'; // "ustar"
  if (at(0, 0x1f, 0x8b)) return 'gzip';
  if (at(0, 0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (at(0, 0xfd, 0x37, 0x7a, 0x58, 0x5a)) return 'xz';
  return null;
}

export function registerDecode(program: Command): void {
  program
    .command('decode')
    .description('decode a CRIU image file to JSON (crit layout)')
    .argument('<file>', 'image file, e.g. pagemap-1234.img, or a checkpoint archive')
    .argument('[member]', 'with an archive: the image in it, e.g. pstree.img')
    .option('--pretty', 'indent, show addresses in hex and flags by name (as crit --pretty)')
    .option('-o, --output <out>', 'write the JSON here instead of stdout')
    .action(async (path, member, opts) => {
      let buf: Uint8Array;
      let file = path;
      if (member === undefined) buf = await readWholeFile(path);
      else {
        // loaded only for an archive: its decompressors take ~30 ms to load, a plain decode none
        const { openArchiveSource } = await import('../source/archive/index.js');
        const src = await openArchiveSource(path);
        try {
          const inDir = await src.readFile(member);
          const found = inDir ?? (await src.archive.readMember(member));
          if (!found) {
            throw new ArchiveError(
              `${path}: no member "${member}" (looked in "${src.dir || '.'}/" and at the root)`,
            );
          }
          buf = found;
          file = inDir ? `${src.name}/${member}` : `${path}:${member}`;
        } finally {
          await src.close();
        }
      }
      const pretty = opts.pretty === true;
      const named = (e: unknown): unknown => {
        if (
          e instanceof RawImageError ||
          (/(^|\/)pages-[^/]*\.img$/.test(file) && e instanceof ImageFormatError)
        ) {
          return new ImageFormatError(
            'holds raw memory pages, not a protobuf image; read memory with `pagestack read DIR ADDR LEN` (or `pagestack export`)',
            0,
            file,
          );
        }
        if (e instanceof ImageFormatError && member === undefined) {
          const kind = archiveKind(buf);
          if (kind) {
            return new UsageError(
              `${file}: a checkpoint archive (${kind}), not an image: name the image in it, e.g. \`pagestack decode ${file} pstree.img\``,
            );
          }
        }
        if (e instanceof ImageFormatError) return e.withFile(file);
        return e;
      };
      if (opts.output) {
        // Streamed into the temporary file beside OUT through one refilled buffer (it stays in
        // the CPU cache), written synchronously as each 1 MiB is made; a bad image aborts, which
        // removes that file: OUT is never touched. JSON can always be made again: atomic, but no
        // fsync (it costs more than the decoding).
        const out = await AtomicFile.create(opts.output, { durable: false, inputs: [path] });
        const fd = out.fh.fd;
        const write = (c: Uint8Array): void => {
          for (let at = 0; at < c.length; ) at += writeSync(fd, c, at, c.length - at);
        };
        try {
          // no newline at the end: crit adds one only on standard output, so the file is crit's
          emitJsonChunks(buf, pretty, write);
        } catch (e) {
          await out.abort();
          const n = named(e);
          if (n instanceof PagestackError) throw n;
          throw new OutputError(`${opts.output}: cannot write: ${errnoText(n)}`, 'PAGESTACK_OUTPUT', {
            file: opts.output,
          });
        }
        await out.commit();
        return;
      }
      let chunks: Uint8Array[];
      try {
        // the whole text is made before anything is written: a bad image writes nothing
        chunks = decodeToJsonChunks(buf, pretty);
      } catch (e) {
        throw named(e);
      }
      chunks.push(NEWLINE);
      for (const c of chunks) cliStreams().stdout(c);
    });
}
