/**
 * Per-task and per-namespace images that are one small message each: pstree.proto (PSTREE),
 * fs.proto (FS), seccomp.proto (SECCOMP), stats.proto (STATS), timens.proto (TIMENS),
 * utsns.proto (UTSNS), pidns.proto (PIDNS), userns.proto (USERNS), apparmor.proto (APPARMOR).
 */
import { message } from '../schema.js';
import { opt, rep, req } from './dsl.js';

// pstree.proto
export const pstreeEntry = message('pstree_entry', [
  req(1, 'pid', 'uint32'),
  req(2, 'ppid', 'uint32'),
  req(3, 'pgid', 'uint32'),
  req(4, 'sid', 'uint32'),
  rep(5, 'threads', 'uint32'),
]);

// fs.proto
export const fsEntry = message('fs_entry', [
  req(1, 'cwd_id', 'uint32'),
  req(2, 'root_id', 'uint32'),
  opt(3, 'umask', 'uint32'),
]);

// seccomp.proto
export const seccompFilter = message('seccomp_filter', [
  req(1, 'filter', 'bytes'),
  opt(2, 'prev', 'uint32'),
  opt(3, 'flags', 'uint32'),
]);

export const seccompEntry = message('seccomp_entry', [rep(1, 'seccomp_filters', () => seccompFilter)]);

// stats.proto
export const dumpStatsEntry = message('dump_stats_entry', [
  req(1, 'freezing_time', 'uint32'),
  req(2, 'frozen_time', 'uint32'),
  req(3, 'memdump_time', 'uint32'),
  req(4, 'memwrite_time', 'uint32'),
  req(5, 'pages_scanned', 'uint64'),
  req(6, 'pages_skipped_parent', 'uint64'),
  req(7, 'pages_written', 'uint64'),
  opt(8, 'irmap_resolve', 'uint32'),
  req(9, 'pages_lazy', 'uint64'),
  opt(10, 'page_pipes', 'uint64'),
  opt(11, 'page_pipe_bufs', 'uint64'),
  opt(12, 'shpages_scanned', 'uint64'),
  opt(13, 'shpages_skipped_parent', 'uint64'),
  opt(14, 'shpages_written', 'uint64'),
]);

export const restoreStatsEntry = message('restore_stats_entry', [
  req(1, 'pages_compared', 'uint64'),
  req(2, 'pages_skipped_cow', 'uint64'),
  req(3, 'forking_time', 'uint32'),
  req(4, 'restore_time', 'uint32'),
  opt(5, 'pages_restored', 'uint64'),
]);

export const statsEntry = message('stats_entry', [
  opt(1, 'dump', () => dumpStatsEntry),
  opt(2, 'restore', () => restoreStatsEntry),
]);

// timens.proto
export const timespec = message('timespec', [req(1, 'tv_sec', 'uint64'), req(2, 'tv_nsec', 'uint64')]);

export const timensEntry = message('timens_entry', [
  req(1, 'monotonic', () => timespec),
  req(2, 'boottime', () => timespec),
]);

// utsns.proto
export const utsnsEntry = message('utsns_entry', [
  req(1, 'nodename', 'string'),
  req(2, 'domainname', 'string'),
]);

// pidns.proto
export const pidnsEntry = message('pidns_entry', [opt(1, 'ext_key', 'string')]);

// userns.proto
export const uidGidExtent = message('uid_gid_extent', [
  req(1, 'first', 'uint32'),
  req(2, 'lower_first', 'uint32'),
  req(3, 'count', 'uint32'),
]);

export const usernsEntry = message('userns_entry', [
  rep(1, 'uid_map', () => uidGidExtent),
  rep(2, 'gid_map', () => uidGidExtent),
]);

// apparmor.proto
export const aaPolicy = message('aa_policy', [req(1, 'name', 'string'), req(2, 'blob', 'bytes')]);

export const aaNamespace = message('aa_namespace', [
  req(1, 'name', 'string'),
  rep(2, 'policies', () => aaPolicy),
  rep(3, 'namespaces', () => aaNamespace),
]);

export const apparmorEntry = message('apparmor_entry', [rep(1, 'namespaces', () => aaNamespace)]);
