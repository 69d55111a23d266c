/**
 * `pagestack decode FILE [--pretty] [-o OUT]`: an image as crit-compatible JSON.
 * `pagestack decode ARCHIVE MEMBER`: an image inside a checkpoint archive (MEMBER relative to its
 * image directory, e.g. `pstree.img`, or the full member name, e.g. `checkpoint/pstree.img`).
 */
import type { Command } from '@commander-js/extra-typings';
import { writeFileAtomic } from '../engine/output.js';
import { ImageFormatError, RawImageError } from '../errors.js';
import { decodeToJsonChunks } from '../image/pagemap-json.js';
import { ArchiveError, openArchiveSource } from '../source/archive/index.js';
import { cliStreams, readWholeFile } from './io.js';

const NEWLINE = new Uint8Array([10]);

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
      let chunks: Uint8Array[];
      try {
        // the whole text is made before anything is written: a bad image writes nothing
        chunks = decodeToJsonChunks(buf, opts.pretty === true);
      } catch (e) {
        if (
          e instanceof RawImageError ||
          (/(^|\/)pages-[^/]*\.img$/.test(file) && e instanceof ImageFormatError)
        ) {
          throw new ImageFormatError(
            'holds raw memory pages, not a protobuf image; read memory with `pagestack read DIR ADDR LEN` (or `pagestack export`)',
            0,
            file,
          );
        }
        if (e instanceof ImageFormatError) throw e.withFile(file);
        throw e;
      }
      chunks.push(NEWLINE);
      // JSON can always be made again: atomic, but no fsync (it costs more than the decoding)
      if (opts.output) await writeFileAtomic(opts.output, chunks, { durable: false });
      else for (const c of chunks) cliStreams().stdout(c);
    });
}
