#pragma once
// The router's own drop reasons (stages declare theirs). Reported as "<group>/<name>".
#include <cstdint>

#include "pathlab/engine/stage.hpp"

namespace pathlab {

enum class Drop : uint8_t {
  EthRunt,
  EthNotForUs,
  EthVlan,
  EthMultiSegment,
  EthUnsupported,
  Ip4Truncated,
  Ip4BadVersion,
  Ip4BadHeaderLength,
  Ip4BadTotalLength,
  Ip4BadChecksum,
  Ip4BadSource,
  Ip4Multicast,
  Ip6Truncated,
  Ip6BadVersion,
  Ip6BadPayloadLength,
  Ip6BadSource,
  Ip6Multicast,
  Ip6LinkLocal,
  LocalUnsupported,
  TtlExceeded,
  NoRoute,
  MtuExceeded,
  IcmpRateLimited,
  IcmpUnroutable,
  CtrlRingFull,
  TxFull,
  Count
};

inline constexpr CounterDesc kDropDescs[] = {
    {"eth/runt", "frame shorter than its Ethernet header"},
    {"eth/not_for_us", "unicast frame for another MAC address"},
    {"eth/vlan", "VLAN-tagged frame on an untagged port"},
    {"eth/multi_segment", "frame spread over several mbufs"},
    {"eth/unsupported", "EtherType is not IPv4, IPv6 or ARP"},
    {"ip4/truncated", "IPv4 header shorter than 20 bytes"},
    {"ip4/bad_version", "IPv4 version field is not 4"},
    {"ip4/bad_header_length", "IPv4 IHL < 5 or beyond the data"},
    {"ip4/bad_total_length", "IPv4 total length below IHL*4 or beyond the frame"},
    {"ip4/bad_checksum", "IPv4 header checksum wrong"},
    {"ip4/bad_source", "IPv4 source is multicast, broadcast, loopback or 0/8 (RFC 1812 5.3.7)"},
    {"ip4/multicast", "IPv4 multicast or broadcast destination (not routed)"},
    {"ip6/truncated", "IPv6 header shorter than 40 bytes"},
    {"ip6/bad_version", "IPv6 version field is not 6"},
    {"ip6/bad_payload_length", "IPv6 payload length beyond the frame"},
    {"ip6/bad_source", "IPv6 source is multicast, loopback or unspecified"},
    {"ip6/multicast", "IPv6 multicast destination other than neighbour discovery"},
    {"ip6/link_local", "IPv6 link-local source or foreign link-local destination (not routed)"},
    {"local/unsupported", "for the router itself, but not an echo request or ND/ARP"},
    {"fwd/ttl_exceeded", "TTL or hop limit expired and no ICMP error was sent"},
    {"fwd/no_route", "no route and no ICMP error was sent"},
    {"fwd/mtu_exceeded", "larger than the egress MTU and no ICMP error was sent"},
    {"icmp/rate_limited", "ICMP error suppressed by the per-worker rate limit"},
    {"icmp/unroutable", "ICMP error has no route back to the source"},
    {"ctrl/ring_full", "control path queue full (ARP/ND or packet awaiting resolution)"},
    {"tx/full", "transmit queue or link ring full"},
};
static_assert(std::size(kDropDescs) == static_cast<size_t>(Drop::Count));

}  // namespace pathlab
