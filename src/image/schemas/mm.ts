/** mm.proto and vma.proto: `mm-<pid>.img` (MM: mm_entry) and the old VMAS image (vma_entry). */
import { message } from '../schema.js';
import { HEX, opt, rep, req } from './dsl.js';

export const vmaEntry = message('vma_entry', [
  req(1, 'start', 'uint64', HEX),
  req(2, 'end', 'uint64', HEX),
  req(3, 'pgoff', 'uint64'),
  req(4, 'shmid', 'uint64'),
  req(5, 'prot', 'uint32', { flags: 'mmap.prot' }),
  req(6, 'flags', 'uint32', { flags: 'mmap.flags' }),
  req(7, 'status', 'uint32', { flags: 'mmap.status' }),
  // unused since the execve restore model went away; -1
  req(8, 'fd', 'sint64'),
  opt(9, 'madv', 'uint64', HEX),
  opt(10, 'fdflags', 'uint32', HEX),
]);

export const aioRingEntry = message('aio_ring_entry', [
  req(1, 'id', 'uint64'),
  req(2, 'nr_req', 'uint32'),
  req(3, 'ring_len', 'uint32'),
]);

export const mmEntry = message('mm_entry', [
  req(1, 'mm_start_code', 'uint64', HEX),
  req(2, 'mm_end_code', 'uint64', HEX),
  req(3, 'mm_start_data', 'uint64', HEX),
  req(4, 'mm_end_data', 'uint64', HEX),
  req(5, 'mm_start_stack', 'uint64', HEX),
  req(6, 'mm_start_brk', 'uint64', HEX),
  req(7, 'mm_brk', 'uint64', HEX),
  req(8, 'mm_arg_start', 'uint64', HEX),
  req(9, 'mm_arg_end', 'uint64', HEX),
  req(10, 'mm_env_start', 'uint64', HEX),
  req(11, 'mm_env_end', 'uint64', HEX),
  req(12, 'exe_file_id', 'uint32'),
  rep(13, 'mm_saved_auxv', 'uint64'),
  rep(14, 'vmas', () => vmaEntry),
  opt(15, 'dumpable', 'int32'),
  rep(16, 'aios', () => aioRingEntry),
  opt(17, 'thp_disabled', 'bool'),
]);
