/**
 * fdinfo.proto and the per-kind file protos it pulls in: `fdinfo-<id>.img` (FDINFO: fdinfo_entry),
 * `files.img` (FILES: file_entry, one per open file, with the sub-message of its kind),
 * `memfd.img` (MEMFD_INODE), and the old per-kind images (REG_FILES, PIPES, FIFO, EVENTFD_FILE, ...).
 * Socket kinds are in sockets.ts.
 */
import { message } from '../schema.js';
import { enumOf, HEX, opt, rep, req } from './dsl.js';
import { inetSkEntry, netlinkSkEntry, packetSockEntry, unixSkEntry } from './sockets.js';

export const fdTypes = enumOf('fd_types', {
  UND: 0,
  REG: 1,
  PIPE: 2,
  FIFO: 3,
  INETSK: 4,
  UNIXSK: 5,
  EVENTFD: 6,
  EVENTPOLL: 7,
  INOTIFY: 8,
  SIGNALFD: 9,
  PACKETSK: 10,
  TTY: 11,
  FANOTIFY: 12,
  NETLINKSK: 13,
  NS: 14,
  TUNF: 15,
  EXT: 16,
  TIMERFD: 17,
  MEMFD: 18,
  BPFMAP: 19,
  PIDFD: 20,
  // above any real type; never stored in an image
  CTL_TTY: 65534,
  AUTOFS_PIPE: 65535,
});

// fown.proto
export const fownEntry = message('fown_entry', [
  req(1, 'uid', 'uint32'),
  req(2, 'euid', 'uint32'),
  req(3, 'signum', 'uint32'),
  req(4, 'pid_type', 'uint32'),
  req(5, 'pid', 'uint32'),
]);

// regfile.proto
export const regFileEntry = message('reg_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', { flags: 'rfile.flags' }),
  req(3, 'pos', 'uint64'),
  req(5, 'fown', () => fownEntry),
  req(6, 'name', 'string'),
  opt(7, 'mnt_id', 'sint32'),
  opt(8, 'size', 'uint64'),
  opt(9, 'ext', 'bool'),
  opt(10, 'mode', 'uint32'),
  rep(11, 'build_id', 'uint32'),
  opt(12, 'checksum', 'uint32'),
  opt(13, 'checksum_config', 'uint32'),
  opt(14, 'checksum_parameter', 'uint32'),
]);

// pipe.proto
export const pipeEntry = message('pipe_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'pipe_id', 'uint32'),
  req(3, 'flags', 'uint32', HEX),
  req(4, 'fown', () => fownEntry),
]);

// pipe-data.proto (PIPES_DATA / FIFO_DATA entries are followed by raw pipe contents)
export const pipeDataEntry = message('pipe_data_entry', [
  req(1, 'pipe_id', 'uint32'),
  req(2, 'bytes', 'uint32'),
  opt(3, 'size', 'uint32'),
]);

// fifo.proto
export const fifoEntry = message('fifo_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'pipe_id', 'uint32'),
  opt(3, 'regf_id', 'uint32'),
]);

// memfd.proto
export const memfdFileEntry = message('memfd_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', { flags: 'rfile.flags' }),
  req(3, 'pos', 'uint64'),
  req(4, 'fown', () => fownEntry),
  req(5, 'inode_id', 'uint32'),
]);

export const memfdInodeEntry = message('memfd_inode_entry', [
  req(1, 'name', 'string'),
  req(2, 'uid', 'uint32'),
  req(3, 'gid', 'uint32'),
  req(4, 'size', 'uint64'),
  req(5, 'shmid', 'uint32'),
  req(6, 'seals', 'uint32', { flags: 'seals.flags' }),
  req(7, 'inode_id', 'uint64'),
  opt(8, 'hugetlb_flag', 'uint32'),
  opt(9, 'mode', 'uint32'),
]);

// ns.proto
export const nsFileEntry = message('ns_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'ns_id', 'uint32'),
  req(3, 'ns_cflag', 'uint32'),
  req(4, 'flags', 'uint32'),
]);

// ext-file.proto
export const extFileEntry = message('ext_file_entry', [
  req(1, 'id', 'uint32'),
  req(5, 'fown', () => fownEntry),
]);

// pidfd.proto
export const pidfdEntry = message('pidfd_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'ino', 'uint32'),
  req(3, 'flags', 'uint32'),
  req(4, 'nspid', 'int32'),
  req(5, 'fown', () => fownEntry),
]);

// eventfd.proto
export const eventfdFileEntry = message('eventfd_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32'),
  req(3, 'fown', () => fownEntry),
  req(4, 'counter', 'uint64'),
]);

// eventpoll.proto
export const eventpollTfdEntry = message('eventpoll_tfd_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'tfd', 'uint32'),
  req(3, 'events', 'uint32'),
  req(4, 'data', 'uint64'),
  opt(5, 'dev', 'uint32'),
  opt(6, 'inode', 'uint64'),
  opt(7, 'pos', 'uint64'),
]);

export const eventpollFileEntry = message('eventpoll_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32'),
  req(3, 'fown', () => fownEntry),
  rep(4, 'tfd', () => eventpollTfdEntry),
]);

// signalfd.proto
export const signalfdEntry = message('signalfd_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', HEX),
  req(3, 'fown', () => fownEntry),
  req(4, 'sigmask', 'uint64', HEX),
]);

// timerfd.proto
export const timerfdEntry = message('timerfd_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', HEX),
  req(3, 'fown', () => fownEntry),
  req(4, 'clockid', 'uint32'),
  req(5, 'ticks', 'uint64'),
  req(6, 'settime_flags', 'uint32', HEX),
  req(7, 'vsec', 'uint64'),
  req(8, 'vnsec', 'uint64'),
  req(9, 'isec', 'uint64'),
  req(10, 'insec', 'uint64'),
]);

// fh.proto
export const fhEntry = message('fh_entry', [
  req(1, 'bytes', 'uint32'),
  req(2, 'type', 'uint32'),
  rep(3, 'handle', 'uint64'),
  opt(4, 'path', 'string'),
  opt(5, 'mnt_id', 'uint32'),
]);

export const irmapCacheEntry = message('irmap_cache_entry', [
  req(1, 'dev', 'uint32', { dev: true, odev: true }),
  req(2, 'inode', 'uint64'),
  req(3, 'path', 'string'),
]);

// fsnotify.proto
export const inotifyWdEntry = message('inotify_wd_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'i_ino', 'uint64'),
  req(3, 'mask', 'uint32', HEX),
  req(4, 'ignored_mask', 'uint32', HEX),
  req(5, 's_dev', 'uint32', { dev: true }),
  req(6, 'wd', 'uint32'),
  req(7, 'f_handle', () => fhEntry),
]);

export const inotifyFileEntry = message('inotify_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', HEX),
  req(4, 'fown', () => fownEntry),
  rep(5, 'wd', () => inotifyWdEntry),
]);

export const markType = enumOf('mark_type', { INODE: 1, MOUNT: 2 });

export const fanotifyInodeMarkEntry = message('fanotify_inode_mark_entry', [
  req(1, 'i_ino', 'uint64'),
  req(2, 'f_handle', () => fhEntry),
]);

export const fanotifyMountMarkEntry = message('fanotify_mount_mark_entry', [
  req(1, 'mnt_id', 'uint32'),
  opt(2, 'path', 'string'),
]);

export const fanotifyMarkEntry = message('fanotify_mark_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'type', markType),
  req(3, 'mflags', 'uint32', HEX),
  req(4, 'mask', 'uint32', HEX),
  req(5, 'ignored_mask', 'uint32', HEX),
  req(6, 's_dev', 'uint32', { dev: true }),
  opt(7, 'ie', () => fanotifyInodeMarkEntry),
  opt(8, 'me', () => fanotifyMountMarkEntry),
]);

export const fanotifyFileEntry = message('fanotify_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', HEX),
  req(3, 'fown', () => fownEntry),
  req(4, 'faflags', 'uint32', HEX),
  req(5, 'evflags', 'uint32', HEX),
  rep(6, 'mark', () => fanotifyMarkEntry),
]);

// tty.proto
export const winsizeEntry = message('winsize_entry', [
  req(1, 'ws_row', 'uint32'),
  req(2, 'ws_col', 'uint32'),
  req(3, 'ws_xpixel', 'uint32'),
  req(4, 'ws_ypixel', 'uint32'),
]);

export const termiosEntry = message('termios_entry', [
  req(1, 'c_iflag', 'uint32'),
  req(2, 'c_oflag', 'uint32'),
  req(3, 'c_cflag', 'uint32'),
  req(4, 'c_lflag', 'uint32'),
  req(5, 'c_line', 'uint32'),
  req(6, 'c_ispeed', 'uint32'),
  req(7, 'c_ospeed', 'uint32'),
  rep(8, 'c_cc', 'uint32'),
]);

export const ttyPtyEntry = message('tty_pty_entry', [req(1, 'index', 'uint32')]);

export const ttyType = enumOf('TtyType', {
  UNKNOWN: 0,
  PTY: 1,
  CONSOLE: 2,
  VT: 3,
  CTTY: 4,
  EXT_TTY: 5,
  SERIAL: 6,
});

export const ttyDataEntry = message('tty_data_entry', [req(1, 'tty_id', 'uint32'), req(2, 'data', 'bytes')]);

export const ttyInfoEntry = message('tty_info_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'type', ttyType),
  req(3, 'locked', 'bool'),
  req(4, 'exclusive', 'bool'),
  req(5, 'packet_mode', 'bool'),
  req(6, 'sid', 'uint32'),
  req(7, 'pgrp', 'uint32'),
  req(8, 'rdev', 'uint32'),
  opt(9, 'termios', () => termiosEntry),
  opt(10, 'termios_locked', () => termiosEntry),
  opt(11, 'winsize', () => winsizeEntry),
  opt(12, 'pty', () => ttyPtyEntry),
  opt(13, 'dev', 'uint32'),
  opt(14, 'uid', 'uint32'),
  opt(15, 'gid', 'uint32'),
]);

export const ttyFileEntry = message('tty_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'tty_info_id', 'uint32'),
  req(3, 'flags', 'uint32', HEX),
  req(4, 'fown', () => fownEntry),
  opt(6, 'regf_id', 'uint32'),
]);

// tun.proto
export const tunfileEntry = message('tunfile_entry', [
  req(1, 'id', 'uint32'),
  opt(2, 'netdev', 'string'),
  opt(3, 'detached', 'bool'),
  opt(4, 'ns_id', 'uint32'),
]);

export const tunLinkEntry = message('tun_link_entry', [
  req(1, 'flags', 'uint32', HEX),
  req(2, 'owner', 'int32'),
  req(3, 'group', 'int32'),
  req(4, 'vnethdr', 'uint32'),
  req(5, 'sndbuf', 'uint32'),
]);

// bpfmap-file.proto
export const bpfmapFileEntry = message('bpfmap_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', { flags: 'rfile.flags' }),
  req(3, 'pos', 'uint64'),
  req(4, 'fown', () => fownEntry),
  req(5, 'map_type', 'uint32'),
  req(6, 'key_size', 'uint32'),
  req(7, 'value_size', 'uint32'),
  req(8, 'map_id', 'uint32'),
  req(9, 'max_entries', 'uint32'),
  req(10, 'map_flags', 'uint32'),
  req(11, 'memlock', 'uint64'),
  req(12, 'frozen', 'bool'),
  req(13, 'map_name', 'string'),
  req(14, 'ifindex', 'uint32'),
  opt(15, 'mnt_id', 'sint32'),
  opt(16, 'map_extra', 'uint64'),
]);

// bpfmap-data.proto (BPFMAP_DATA entries are followed by raw keys and values)
export const bpfmapDataEntry = message('bpfmap_data_entry', [
  req(1, 'map_id', 'uint32'),
  req(2, 'keys_bytes', 'uint32'),
  req(3, 'values_bytes', 'uint32'),
  req(4, 'count', 'uint32'),
]);

// remap-file-path.proto
export const remapType = enumOf('remap_type', { LINKED: 0, GHOST: 1, PROCFS: 2 });

export const remapFilePathEntry = message('remap_file_path_entry', [
  req(1, 'orig_id', 'uint32'),
  req(2, 'remap_id', 'uint32'),
  opt(3, 'remap_type', remapType),
]);

// time.proto
export const timeval = message('timeval', [req(1, 'tv_sec', 'uint64'), req(2, 'tv_usec', 'uint64')]);

// ghost-file.proto (GHOST_FILE images carry file contents after the entry)
export const ghostFileEntry = message('ghost_file_entry', [
  req(1, 'uid', 'uint32'),
  req(2, 'gid', 'uint32'),
  req(3, 'mode', 'uint32'),
  opt(4, 'dev', 'uint32', { dev: true }),
  opt(5, 'ino', 'uint64'),
  opt(6, 'rdev', 'uint32', { dev: true, odev: true }),
  opt(7, 'atim', () => timeval),
  opt(8, 'mtim', () => timeval),
  opt(9, 'chunks', 'bool'),
  opt(10, 'size', 'uint64'),
  opt(11, 'symlnk_target', 'string'),
]);

export const ghostChunkEntry = message('ghost_chunk_entry', [
  req(1, 'len', 'uint64'),
  req(2, 'off', 'uint64'),
]);

// file-lock.proto
export const fileLockEntry = message('file_lock_entry', [
  req(1, 'flag', 'uint32'),
  req(2, 'type', 'uint32'),
  req(3, 'pid', 'int32'),
  req(4, 'fd', 'int32'),
  req(5, 'start', 'int64'),
  req(6, 'len', 'int64'),
]);

// fdinfo.proto
export const fdinfoEntry = message('fdinfo_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32'),
  req(3, 'type', fdTypes),
  req(4, 'fd', 'uint32'),
  opt(5, 'xattr_security_selinux', 'string'),
]);

export const fileEntry = message('file_entry', [
  req(1, 'type', fdTypes),
  req(2, 'id', 'uint32'),
  opt(3, 'reg', () => regFileEntry),
  opt(4, 'isk', () => inetSkEntry),
  opt(5, 'nsf', () => nsFileEntry),
  opt(6, 'psk', () => packetSockEntry),
  opt(7, 'nlsk', () => netlinkSkEntry),
  opt(8, 'efd', () => eventfdFileEntry),
  opt(9, 'epfd', () => eventpollFileEntry),
  opt(10, 'sgfd', () => signalfdEntry),
  opt(11, 'tunf', () => tunfileEntry),
  opt(12, 'tfd', () => timerfdEntry),
  opt(13, 'ify', () => inotifyFileEntry),
  opt(14, 'ffy', () => fanotifyFileEntry),
  opt(15, 'ext', () => extFileEntry),
  opt(16, 'usk', () => unixSkEntry),
  opt(17, 'fifo', () => fifoEntry),
  opt(18, 'pipe', () => pipeEntry),
  opt(19, 'tty', () => ttyFileEntry),
  opt(20, 'memfd', () => memfdFileEntry),
  opt(21, 'bpf', () => bpfmapFileEntry),
  opt(22, 'pidfd', () => pidfdEntry),
]);
