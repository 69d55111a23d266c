/** pagemap.proto: `pagemap-<pid>.img` and `pagemap-shmem-<shmid>.img`. */
import { message } from '../schema.js';

export const pagemapHead = message('pagemap_head', [
  { no: 1, name: 'pages_id', type: 'uint32', label: 'required' },
]);

export const pagemapEntry = message('pagemap_entry', [
  { no: 1, name: 'vaddr', type: 'uint64', label: 'required', hex: true },
  { no: 2, name: 'compat_nr_pages', type: 'uint32', label: 'required' },
  { no: 3, name: 'in_parent', type: 'bool', label: 'optional' },
  { no: 4, name: 'flags', type: 'uint32', label: 'optional', flags: 'pmap.flags' },
  { no: 5, name: 'nr_pages', type: 'uint64', label: 'optional' },
]);
