/**
 * Mount-namespace-side protos: mnt.proto (MNTS), cgroup.proto (CGROUP), autofs.proto (AUTOFS),
 * binfmt-misc.proto (BINFMT_MISC).
 */
import { message } from '../schema.js';
import { enumOf, HEX, opt, rep, req } from './dsl.js';

/** Values of `mnt_entry.fstype` (the field itself is a plain uint32). */
export const fstype = enumOf('fstype', {
  UNSUPPORTED: 0,
  PROC: 1,
  SYSFS: 2,
  DEVTMPFS: 3,
  BINFMT_MISC: 4,
  TMPFS: 5,
  DEVPTS: 6,
  SIMFS: 7,
  PSTORE: 8,
  SECURITYFS: 9,
  FUSECTL: 10,
  DEBUGFS: 11,
  CGROUP: 12,
  AUFS: 13,
  MQUEUE: 14,
  FUSE: 15,
  AUTO: 16,
  OVERLAYFS: 17,
  AUTOFS: 18,
  TRACEFS: 19,
  CGROUP2: 23,
});

export const mntEntry = message('mnt_entry', [
  req(1, 'fstype', 'uint32'),
  req(2, 'mnt_id', 'uint32'),
  req(3, 'root_dev', 'uint32', { dev: true }),
  req(4, 'parent_mnt_id', 'uint32'),
  req(5, 'flags', 'uint32', HEX),
  req(6, 'root', 'string'),
  req(7, 'mountpoint', 'string'),
  req(8, 'source', 'string'),
  req(9, 'options', 'string'),
  opt(10, 'shared_id', 'uint32'),
  opt(11, 'master_id', 'uint32'),
  opt(12, 'with_plugin', 'bool'),
  opt(13, 'ext_mount', 'bool'),
  opt(14, 'fsname', 'string'),
  opt(15, 'internal_sharing', 'bool'),
  opt(16, 'deleted', 'bool'),
  opt(17, 'sb_flags', 'uint32', HEX),
  opt(18, 'ext_key', 'string'),
]);

// cgroup.proto
export const cgroupPerms = message('cgroup_perms', [
  req(1, 'mode', 'uint32'),
  req(2, 'uid', 'uint32'),
  req(3, 'gid', 'uint32'),
]);

export const cgroupPropEntry = message('cgroup_prop_entry', [
  req(1, 'name', 'string'),
  req(2, 'value', 'string'),
  opt(3, 'perms', () => cgroupPerms),
]);

export const cgroupDirEntry = message('cgroup_dir_entry', [
  req(1, 'dir_name', 'string'),
  rep(2, 'children', () => cgroupDirEntry),
  rep(3, 'properties', () => cgroupPropEntry),
  opt(4, 'dir_perms', () => cgroupPerms),
]);

export const cgControllerEntry = message('cg_controller_entry', [
  rep(1, 'cnames', 'string'),
  rep(2, 'dirs', () => cgroupDirEntry),
  opt(3, 'is_threaded', 'bool'),
]);

export const cgMemberEntry = message('cg_member_entry', [
  req(1, 'name', 'string'),
  req(2, 'path', 'string'),
  opt(3, 'cgns_prefix', 'uint32'),
]);

export const cgSetEntry = message('cg_set_entry', [
  req(1, 'id', 'uint32'),
  rep(2, 'ctls', () => cgMemberEntry),
]);

export const cgroupEntry = message('cgroup_entry', [
  rep(1, 'sets', () => cgSetEntry),
  rep(2, 'controllers', () => cgControllerEntry),
]);

// autofs.proto
export const autofsEntry = message('autofs_entry', [
  req(1, 'fd', 'int32'),
  req(2, 'pgrp', 'int32'),
  req(3, 'timeout', 'int32'),
  req(4, 'minproto', 'int32'),
  req(5, 'maxproto', 'int32'),
  req(6, 'mode', 'int32'),
  opt(7, 'uid', 'int32'),
  opt(8, 'gid', 'int32'),
  opt(9, 'read_fd', 'int32'),
]);

// binfmt-misc.proto
export const binfmtMiscEntry = message('binfmt_misc_entry', [
  req(1, 'name', 'string'),
  req(2, 'enabled', 'bool'),
  req(3, 'interpreter', 'string'),
  opt(4, 'flags', 'string'),
  opt(5, 'extension', 'string'),
  opt(6, 'magic', 'string'),
  opt(7, 'mask', 'string'),
  opt(8, 'offset', 'int32'),
]);
