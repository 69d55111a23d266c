/** inventory.proto: `inventory.img` (INVENTORY: inventory_entry). */
import { message } from '../schema.js';
import { taskKobjIdsEntry } from './core.js';
import { enumOf, opt, rep, req } from './dsl.js';

export const lsmtype = enumOf('lsmtype', { NO_LSM: 0, SELINUX: 1, APPARMOR: 2 });

/** A message around the list so that "no plugins" (present, empty) differs from "not recorded". */
export const pluginsEntry = message('plugins_entry', [rep(12, 'plugins', 'string')]);

export const inventoryEntry = message('inventory_entry', [
  req(1, 'img_version', 'uint32'),
  opt(2, 'fdinfo_per_id', 'bool'),
  opt(3, 'root_ids', () => taskKobjIdsEntry),
  opt(4, 'ns_per_id', 'bool'),
  opt(5, 'root_cg_set', 'uint32'),
  opt(6, 'lsmtype', lsmtype),
  opt(8, 'dump_uptime', 'uint64'),
  opt(9, 'pre_dump_mode', 'uint32'),
  opt(10, 'tcp_close', 'bool'),
  opt(11, 'network_lock_method', 'uint32'),
  opt(12, 'plugins_entry', () => pluginsEntry),
  opt(13, 'dump_criu_run_id', 'string'),
  opt(14, 'allow_uprobes', 'bool'),
]);
