/**
 * crit 4.2 as a baseline that runs on this machine.
 *
 * `../shared/criu-4.2/bin/crit` is CRIU 4.2's crit code (`python/crit`, `python/pycriu`) without
 * the modules CRIU's build generates: `rpc_pb2.py`, `images/*_pb2.py` (protoc output),
 * `images/magic.py`, `images/pb.py` and `version.py`; so it stops at its first import. When that
 * is so, a runnable copy is put together in a temporary directory: CRIU 4.2's code as shipped, the
 * generated modules of Debian's python3-pycriu (CRIU 3.17, the `criu` package) where 4.2's are
 * missing, and `pagemap_pb2.py` patched to CRIU 4.2's pagemap.proto (`compat_nr_pages = 2`,
 * `nr_pages = 5`, ../shared/FORMAT.md), the one schema that changed for the image benchmarked. The
 * decoding work per entry is then crit 4.2's; `check` compares its JSON with pagestack's.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLEAN_ENV } from './env.js';

export interface CritCommand {
  name: string;
  cmd: string;
  /** Arguments before crit's own (`-m crit` for the assembled copy). */
  pre: string[];
  env: NodeJS.ProcessEnv;
  /** How this crit was made runnable, or '' when it ran as shipped. */
  note: string;
}

const DEBIAN_PYCRIU = '/usr/lib/python3/dist-packages/pycriu';
const PYTHON = '/usr/bin/python3';

/** Patches Debian's pagemap_pb2 descriptor to 4.2's fields and writes the module (argv: dir, out). */
const PATCH_PAGEMAP = `
import sys
sys.path.insert(0, sys.argv[1])
from google.protobuf import descriptor_pb2 as d
import pagemap_pb2
fdp = d.FileDescriptorProto.FromString(pagemap_pb2.DESCRIPTOR.serialized_pb)
entry = next(m for m in fdp.message_type if m.name == 'pagemap_entry')
if not any(f.number == 5 for f in entry.field):
    next(f for f in entry.field if f.number == 2).name = 'compat_nr_pages'
    entry.field.add(name='nr_pages', number=5, type=d.FieldDescriptorProto.TYPE_UINT64,
                    label=d.FieldDescriptorProto.LABEL_OPTIONAL)
src = open(sys.argv[1] + '/pagemap_pb2.py').read()
head = src[:src.index('DESCRIPTOR = ')]
tail = src[src.index('_builder.BuildMessageAndEnumDescriptors'):src.index('if _descriptor._USE_C_DESCRIPTORS')]
open(sys.argv[2], 'w').write(head + 'DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(' + repr(fdp.SerializeToString()) + ')\\n\\n' + tail)
`;

function runs(cmd: string, pre: string[], env: NodeJS.ProcessEnv): string | null {
  const r = spawnSync(cmd, [...pre, '--help'], { env, encoding: 'utf8' });
  if (r.error) return r.error.message;
  if (r.status !== 0) return (r.stderr || r.stdout).trim().split('\n').pop() ?? `status ${r.status}`;
  return null;
}

/**
 * crit 4.2 at `critPath` (its `bin/crit`), as shipped when it runs, else assembled under `tmp`
 * (see the head comment). A string says why there is none.
 */
export function crit42(critPath: string, tmp: string): CritCommand | string {
  const env = CLEAN_ENV;
  if (!existsSync(critPath)) return `not found at ${critPath} (set PAGESTACK_CRIT)`;
  const why = runs(critPath, [], env);
  if (why === null) return { name: 'crit 4.2', cmd: critPath, pre: [], env, note: '' };
  const code = join(dirname(critPath), '..', 'python');
  if (!existsSync(join(code, 'pycriu')) || !existsSync(join(DEBIAN_PYCRIU, 'images', 'pagemap_pb2.py'))) {
    return `${critPath} does not run (${why}), and there is no ${DEBIAN_PYCRIU} to complete it from`;
  }
  const dir = join(tmp, 'crit-4.2');
  mkdirSync(dir, { recursive: true });
  cpSync(code, dir, { recursive: true });
  const fill = (from: string, to: string, names: string[]) => {
    for (const n of names) if (!existsSync(join(to, n))) cpSync(join(from, n), join(to, n));
  };
  const generated = readdirSync(join(DEBIAN_PYCRIU, 'images')).filter(
    (n) => n.endsWith('_pb2.py') || n === 'magic.py' || n === 'pb.py',
  );
  fill(DEBIAN_PYCRIU, join(dir, 'pycriu'), ['rpc_pb2.py']);
  fill(join(DEBIAN_PYCRIU, 'images'), join(dir, 'pycriu', 'images'), generated);
  if (!existsSync(join(dir, 'pycriu', 'version.py'))) {
    writeFileSync(join(dir, 'pycriu', 'version.py'), "__version__ = '4.2'\n");
  }
  const patch = spawnSync(
    PYTHON,
    ['-c', PATCH_PAGEMAP, join(DEBIAN_PYCRIU, 'images'), join(dir, 'pycriu', 'images', 'pagemap_pb2.py')],
    { env, encoding: 'utf8' },
  );
  if (patch.status !== 0) return `patching pagemap_pb2 failed: ${patch.stderr.trim().split('\n').pop()}`;
  const penv = { ...env, PYTHONPATH: dir, PYTHONNOUSERSITE: '1' };
  const still = runs(PYTHON, ['-m', 'crit'], penv);
  if (still !== null) return `${critPath} does not run (${why}); the assembled copy neither (${still})`;
  return {
    name: 'crit 4.2',
    cmd: PYTHON,
    pre: ['-m', 'crit'],
    env: penv,
    note: `crit 4.2's code from ${code}, with Debian's generated modules (CRIU 3.17) where 4.2's are missing and pagemap_pb2 patched to 4.2's pagemap.proto`,
  };
}
