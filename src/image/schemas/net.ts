/** netdev.proto (with sysctl, macvlan, sit): NETDEV (net_device_entry) and NETNS (netns_entry). */
import { message } from '../schema.js';
import { enumOf, HEX, opt, rep, req } from './dsl.js';
import { tunLinkEntry } from './files.js';

const IP = { ipadd: true } as const;

// sysctl.proto
export const sysctlType = enumOf('SysctlType', { CTL_STR: 5, CTL_32: 6 });

export const sysctlEntry = message('sysctl_entry', [
  req(1, 'type', sysctlType),
  opt(2, 'iarg', 'int32'),
  opt(3, 'sarg', 'string'),
]);

// macvlan.proto
export const macvlanLinkEntry = message('macvlan_link_entry', [
  req(1, 'mode', 'uint32'),
  opt(2, 'flags', 'uint32'),
]);

// sit.proto
export const sitEntry = message('sit_entry', [
  opt(1, 'link', 'uint32'),
  rep(2, 'local', 'uint32', IP),
  rep(3, 'remote', 'uint32', IP),
  opt(4, 'ttl', 'uint32'),
  opt(5, 'tos', 'uint32'),
  opt(6, 'pmtudisc', 'bool'),
  opt(7, 'proto', 'uint32'),
  opt(8, 'flags', 'uint32'),
  opt(9, 'encap_type', 'uint32'),
  opt(10, 'encap_flags', 'uint32'),
  opt(11, 'encap_sport', 'uint32'),
  opt(12, 'encap_dport', 'uint32'),
  opt(13, 'rd_prefixlen', 'uint32'),
  rep(14, 'rd_prefix', 'uint32', IP),
  opt(15, 'relay_prefixlen', 'uint32'),
  rep(16, 'relay_prefix', 'uint32', IP),
]);

// netdev.proto
export const ndType = enumOf('nd_type', {
  LOOPBACK: 1,
  VETH: 2,
  TUN: 3,
  EXTLINK: 4,
  VENET: 5,
  BRIDGE: 6,
  MACVLAN: 7,
  SIT: 8,
});

export const netDeviceEntry = message('net_device_entry', [
  req(1, 'type', ndType),
  req(2, 'ifindex', 'uint32'),
  req(3, 'mtu', 'uint32'),
  req(4, 'flags', 'uint32', HEX),
  req(5, 'name', 'string'),
  opt(6, 'tun', () => tunLinkEntry),
  opt(7, 'address', 'bytes'),
  rep(8, 'conf', 'int32'),
  rep(9, 'conf4', () => sysctlEntry),
  rep(10, 'conf6', () => sysctlEntry),
  opt(11, 'macvlan', () => macvlanLinkEntry),
  opt(12, 'peer_ifindex', 'uint32'),
  opt(13, 'peer_nsid', 'uint32'),
  opt(14, 'master', 'uint32'),
  opt(15, 'sit', () => sitEntry),
]);

export const netnsId = message('netns_id', [
  req(1, 'target_ns_id', 'uint32'),
  req(2, 'netnsid_value', 'int32'),
]);

export const netnsEntry = message('netns_entry', [
  rep(1, 'def_conf', 'int32'),
  rep(2, 'all_conf', 'int32'),
  rep(3, 'def_conf4', () => sysctlEntry),
  rep(4, 'all_conf4', () => sysctlEntry),
  rep(5, 'def_conf6', () => sysctlEntry),
  rep(6, 'all_conf6', () => sysctlEntry),
  rep(7, 'nsids', () => netnsId),
  opt(8, 'ext_key', 'string'),
  rep(9, 'unix_conf', () => sysctlEntry),
  rep(10, 'ipv4_sysctl', () => sysctlEntry),
]);
