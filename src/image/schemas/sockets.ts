/**
 * Socket protos: sk-opts, sk-inet, tcp-stream, sk-unix, sk-netlink, packet-sock, sk-packet.
 * Images INETSK, UNIXSK, NETLINK_SK, PACKETSK, TCP_STREAM, SK_QUEUES, and `file_entry.isk/usk/...`.
 */
import { message } from '../schema.js';
import { enumOf, HEX, opt, rep, req } from './dsl.js';
import { fownEntry } from './files.js';

const SK = { dict: 'sk' } as const;

// sk-opts.proto
export const skOptsEntry = message('sk_opts_entry', [
  req(1, 'so_sndbuf', 'uint32'),
  req(2, 'so_rcvbuf', 'uint32'),
  req(3, 'so_snd_tmo_sec', 'uint64'),
  req(4, 'so_snd_tmo_usec', 'uint64'),
  req(5, 'so_rcv_tmo_sec', 'uint64'),
  req(6, 'so_rcv_tmo_usec', 'uint64'),
  opt(7, 'reuseaddr', 'bool'),
  opt(8, 'so_priority', 'uint32'),
  opt(9, 'so_rcvlowat', 'uint32'),
  opt(10, 'so_mark', 'uint32'),
  opt(11, 'so_passcred', 'bool'),
  opt(12, 'so_passsec', 'bool'),
  opt(13, 'so_dontroute', 'bool'),
  opt(14, 'so_no_check', 'bool'),
  opt(15, 'so_bound_dev', 'string'),
  rep(16, 'so_filter', 'fixed64'),
  opt(17, 'so_reuseport', 'bool'),
  opt(18, 'so_broadcast', 'bool'),
  opt(19, 'so_keepalive', 'bool'),
  opt(20, 'tcp_keepcnt', 'uint32'),
  opt(21, 'tcp_keepidle', 'uint32'),
  opt(22, 'tcp_keepintvl', 'uint32'),
  opt(23, 'so_oobinline', 'uint32'),
  opt(24, 'so_linger', 'uint32'),
  opt(25, 'so_buf_lock', 'uint32'),
]);

export const skShutdown = enumOf('sk_shutdown', { NONE: 0, READ: 1, WRITE: 2, BOTH: 3 });

// tcp-stream.proto (TCP_STREAM entries are followed by the queued data)
export const tcpOptsEntry = message('tcp_opts_entry', [
  opt(1, 'cork', 'bool'),
  opt(2, 'nodelay', 'bool'),
  opt(3, 'keepcnt', 'uint32'),
  opt(4, 'keepidle', 'uint32'),
  opt(5, 'keepintvl', 'uint32'),
]);

export const tcpStreamEntry = message('tcp_stream_entry', [
  req(1, 'inq_len', 'uint32'),
  req(2, 'inq_seq', 'uint32'),
  req(3, 'outq_len', 'uint32'),
  req(4, 'outq_seq', 'uint32'),
  req(5, 'opt_mask', 'uint32', HEX),
  req(6, 'snd_wscale', 'uint32'),
  req(7, 'mss_clamp', 'uint32'),
  opt(8, 'rcv_wscale', 'uint32'),
  opt(9, 'timestamp', 'uint32'),
  opt(10, 'cork', 'bool'),
  opt(11, 'nodelay', 'bool'),
  opt(12, 'unsq_len', 'uint32'),
  opt(13, 'snd_wl1', 'uint32'),
  opt(14, 'snd_wnd', 'uint32'),
  opt(15, 'max_window', 'uint32'),
  opt(16, 'rcv_wnd', 'uint32'),
  opt(17, 'rcv_wup', 'uint32'),
]);

// sk-inet.proto
export const ipOptsRawEntry = message('ip_opts_raw_entry', [
  opt(1, 'hdrincl', 'bool'),
  opt(2, 'nodefrag', 'bool'),
  opt(3, 'checksum', 'bool'),
  rep(4, 'icmpv_filter', 'uint32'),
]);

export const ipOptsEntry = message('ip_opts_entry', [
  opt(1, 'freebind', 'bool'),
  opt(4, 'raw', () => ipOptsRawEntry),
  opt(5, 'pktinfo', 'bool'),
  opt(6, 'tos', 'uint32'),
  opt(7, 'ttl', 'uint32'),
]);

export const inetSkEntry = message('inet_sk_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'ino', 'uint32'),
  req(3, 'family', 'uint32', SK),
  req(4, 'type', 'uint32', SK),
  req(5, 'proto', 'uint32', SK),
  req(6, 'state', 'uint32', SK),
  req(7, 'src_port', 'uint32'),
  req(8, 'dst_port', 'uint32'),
  req(9, 'flags', 'uint32', HEX),
  req(10, 'backlog', 'uint32'),
  rep(11, 'src_addr', 'uint32', { ipadd: true }),
  rep(12, 'dst_addr', 'uint32', { ipadd: true }),
  req(13, 'fown', () => fownEntry),
  req(14, 'opts', () => skOptsEntry),
  opt(15, 'v6only', 'bool'),
  opt(16, 'ip_opts', () => ipOptsEntry),
  opt(17, 'ifname', 'string'),
  opt(18, 'ns_id', 'uint32'),
  opt(19, 'shutdown', skShutdown),
  opt(20, 'tcp_opts', () => tcpOptsEntry),
]);

// sk-unix.proto
export const filePermsEntry = message('file_perms_entry', [
  req(1, 'mode', 'uint32'),
  req(2, 'uid', 'uint32'),
  req(3, 'gid', 'uint32'),
]);

export const unixSkEntry = message('unix_sk_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'ino', 'uint32'),
  req(3, 'type', 'uint32', SK),
  req(4, 'state', 'uint32', SK),
  req(5, 'flags', 'uint32', HEX),
  req(6, 'uflags', 'uint32', HEX),
  req(7, 'backlog', 'uint32'),
  req(8, 'peer', 'uint32'),
  req(9, 'fown', () => fownEntry),
  req(10, 'opts', () => skOptsEntry),
  // an abstract name may hold NULs anywhere: bytes, shown quoted-printable
  req(11, 'name', 'bytes', { conv: 'unix_name' }),
  opt(12, 'shutdown', skShutdown),
  opt(13, 'file_perms', () => filePermsEntry),
  opt(14, 'name_dir', 'string'),
  opt(15, 'deleted', 'bool'),
  opt(16, 'ns_id', 'uint32'),
  opt(17, 'mnt_id', 'sint32'),
]);

// sk-netlink.proto
export const netlinkSkEntry = message('netlink_sk_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'ino', 'uint32'),
  req(3, 'protocol', 'uint32'),
  req(4, 'state', 'uint32'),
  req(6, 'flags', 'uint32', HEX),
  req(7, 'portid', 'uint32'),
  rep(8, 'groups', 'uint32'),
  req(9, 'dst_portid', 'uint32'),
  req(10, 'dst_group', 'uint32'),
  req(11, 'fown', () => fownEntry),
  req(12, 'opts', () => skOptsEntry),
  opt(13, 'ns_id', 'uint32'),
]);

// packet-sock.proto
export const packetMclist = message('packet_mclist', [
  req(1, 'index', 'uint32'),
  req(2, 'type', 'uint32'),
  req(3, 'addr', 'bytes'),
]);

export const packetRing = message('packet_ring', [
  req(1, 'block_size', 'uint32'),
  req(2, 'block_nr', 'uint32'),
  req(3, 'frame_size', 'uint32'),
  req(4, 'frame_nr', 'uint32'),
  req(5, 'retire_tmo', 'uint32'),
  req(6, 'sizeof_priv', 'uint32'),
  req(7, 'features', 'uint32'),
]);

export const packetSockEntry = message('packet_sock_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'type', 'uint32'),
  req(3, 'protocol', 'uint32'),
  req(4, 'flags', 'uint32', HEX),
  req(5, 'ifindex', 'uint32'),
  req(6, 'fown', () => fownEntry),
  req(7, 'opts', () => skOptsEntry),
  req(8, 'version', 'uint32'),
  req(9, 'reserve', 'uint32'),
  req(10, 'aux_data', 'bool'),
  req(11, 'orig_dev', 'bool'),
  req(12, 'vnet_hdr', 'bool'),
  req(13, 'loss', 'bool'),
  req(14, 'timestamp', 'uint32'),
  req(15, 'copy_thresh', 'uint32'),
  rep(16, 'mclist', () => packetMclist),
  opt(17, 'fanout', 'uint32'),
  opt(18, 'rx_ring', () => packetRing),
  opt(19, 'tx_ring', () => packetRing),
  opt(20, 'ns_id', 'uint32'),
]);

// sk-packet.proto (SK_QUEUES entries are followed by the packet data)
export const scmEntry = message('scm_entry', [req(1, 'type', 'uint32'), rep(2, 'rights', 'uint32')]);

export const skPacketEntry = message('sk_packet_entry', [
  req(1, 'id_for', 'uint32'),
  req(2, 'length', 'uint32'),
  rep(4, 'scm', () => scmEntry),
]);
