#pragma once
// Building the IPIM option a sender pre-allocates, and reading every field of one that came back
// or was captured (docs/ipim.md, "Layout"). Host code only: no DPDK.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pathlab/ipim/json_writer.hpp"
#include "pathlab/ipim/wire.hpp"

namespace pathlab::ipim {

// The most slots one option holds: IPv4 has 40 bytes; an IPv6 option's length byte counts at
// most 255 data bytes, so L <= 257 (5 topology or 14 performance slots).
unsigned max_slots(bool perf, bool ip6);
inline constexpr unsigned kIp6MaxLen = 257;

struct OptionSpec {
  bool ip6 = false;
  bool perf = false;
  bool sample = false;
  unsigned slots = 1;
  uint8_t target_ttl = 0;
  uint8_t ttl_prime = 0;
  uint32_t evolution = 0;
};

// The bare option (type byte first, L bytes) as a sender sends it.
std::vector<uint8_t> build_option(const OptionSpec& spec);
// IPv4: the options area for IP_OPTIONS, the option padded with NOPs to a multiple of 4.
std::vector<uint8_t> ip4_options_area(std::span<const uint8_t> option);
// IPv6: a whole Hop-by-Hop header for IPV6_HOPOPTS (next header 0, the kernel sets it), the
// option at offset 2 so its data is 4-aligned, Pad1/PadN to a multiple of 8.
std::vector<uint8_t> ip6_hbh_header(std::span<const uint8_t> option);
// The first IPIM option in an IPv4 options area or in an IPv6 Hop-by-Hop header's options (the
// bytes after its first two), with its whole length L. `truncated` is set when the list ends
// inside an option (also the IPIM one: then the returned span is what there is).
std::optional<std::span<const uint8_t>> find_option(std::span<const uint8_t> area, bool ip6,
                                                    bool* truncated = nullptr);

struct SlotFields {
  unsigned index = 0;
  uint8_t ttl = 0;
  bool written = false, perf = false, triggered = false;
  uint8_t unavailable = 0;
  // topology
  std::string router_id;  // dotted, as inet_ntop writes an IPv4 address
  uint32_t as = 0;
  std::string ingress, egress;
  // performance
  uint8_t level = 0;
  uint32_t time_us = 0, queue_us = 0;
  uint16_t avail_capacity = 0, capacity = 0;
};

// Every field of one option, as docs/ipim.md "Decoders" gives them. A short option (under 18
// bytes, or running past its container) has no field but its carrier; a malformed one no slots;
// a well-formed one every slot, free ones too, in the layout the option's K flag names.
struct OptionFields {
  bool ip6 = false;
  unsigned len = 0;  // L as the length byte says
  Malformed malformed = Malformed::kNone;
  std::optional<uint8_t> version, target_ttl, ttl_prime, next_slot;
  std::optional<bool> overflow, sample, perf, cap_unavailable, queue_unavailable;
  std::optional<uint32_t> evolution, queue_sum_us;
  std::optional<uint16_t> min_capacity;
  std::vector<SlotFields> slots;
};

// `option`: type byte first, up to the end of its container; its length byte gives L, and
// bytes missing from `option` make it short.
OptionFields read_option(std::span<const uint8_t> option, bool ip6);
const char* malformed_name(Malformed m);  // "short", "version", "slot_size", "pointer"; "" for none
// The JSON object tools/ share (docs/probe.md, "decode --json"), without the extra keys.
JsonObject option_json(const OptionFields& f);
// A few lines for a person.
std::string option_text(const OptionFields& f, const std::string& indent);
std::string hex(std::span<const uint8_t> bytes);
std::string format_bps(double bps);

}  // namespace pathlab::ipim
