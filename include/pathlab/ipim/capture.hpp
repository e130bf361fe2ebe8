#pragma once
// `pathlab-probe decode`: what a passive observer reads from a classic pcap file (microsecond or
// nanosecond timestamps, either byte order; Ethernet, raw IP, Linux cooked v1/v2 and BSD
// loopback link types): every packet that carries an IPIM option, with the end-to-end block of
// its UDP payload when there is one. Host code only: no DPDK.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pathlab/ipim/e2e.hpp"
#include "pathlab/ipim/option_fields.hpp"

namespace pathlab::ipim {

struct CapturedOption {
  uint64_t frame = 0;  // 1-based record number in the file
  uint64_t ts_ns = 0;  // capture time since the epoch
  std::string src, dst;
  OptionFields option;
  std::optional<E2eBlock> e2e;
  bool e2e_short = false;  // the UDP payload starts with the magic but the block is cut
};

// The IPIM packet in one IP packet (starting at the version nibble); nullopt when none.
std::optional<CapturedOption> dissect_ip(std::span<const uint8_t> packet);
// Every IPIM packet in the file. Throws std::runtime_error for a missing, truncated or
// unsupported file.
std::vector<CapturedOption> scan_pcap(const std::string& path);

std::string captured_json(const CapturedOption& c);
std::string captured_text(const CapturedOption& c);

}  // namespace pathlab::ipim
