// Building and reading IPIM options (docs/ipim.md, "Layout").
#include "pathlab/ipim/option_fields.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include <fmt/format.h>

#include "pathlab/ipim/json_writer.hpp"

namespace pathlab::ipim {

namespace {

constexpr uint8_t kIp4Eol = 0, kIp4Nop = 1, kIp6Pad1 = 0, kIp6PadN = 1;

std::string address_text(const uint8_t* p, bool ip6) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(ip6 ? AF_INET6 : AF_INET, p, buf, sizeof buf);
  return buf;
}

SlotFields read_slot(const Option& opt, unsigned i) {
  const uint8_t* s = opt.slot(i);
  SlotFields f;
  f.index = i;
  f.ttl = s[0];
  f.written = s[1] & kSlotWritten;
  f.perf = s[1] & kSlotPerf;
  f.triggered = s[1] & kSlotTriggered;
  f.unavailable = s[1] & 0x0f;
  if (opt.perf()) {
    f.level = s[kPerfLevel];
    f.time_us = rd32(s + kPerfTime);
    f.queue_us = rd32(s + kPerfQueue);
    f.avail_capacity = rd16(s + kPerfAvail);
    f.capacity = rd16(s + kPerfCap);
  } else {
    const unsigned alen = opt.ip6 ? 16 : 4;
    f.router_id = address_text(s + kTopoRouterId, false);
    f.as = rd32(s + kTopoAs);
    f.ingress = address_text(s + kTopoIngress, opt.ip6);
    f.egress = address_text(s + kTopoIngress + alen, opt.ip6);
  }
  return f;
}

}  // namespace

unsigned max_slots(bool perf, bool ip6) {
  const unsigned room = (ip6 ? kIp6MaxLen : kIp4MaxLen) - kOffSlots;
  return std::min(kMaxSlots, room / slot_len(perf, ip6));
}

std::vector<uint8_t> build_option(const OptionSpec& spec) {
  const unsigned len = kOffSlots + spec.slots * slot_len(spec.perf, spec.ip6);
  std::vector<uint8_t> o(len, 0);
  o[0] = spec.ip6 ? kIp6Type : kIp4Type;
  o[1] = static_cast<uint8_t>(spec.ip6 ? len - 2 : len);
  o[kOffFlags] = static_cast<uint8_t>(kVersion << 4 | (spec.sample ? kFlagSample : 0) |
                                      (spec.perf ? kFlagPerf : 0));
  o[kOffTarget] = spec.target_ttl;
  o[kOffTtlPrime] = spec.ttl_prime;
  wr32(&o[kOffEvolution], spec.evolution);
  wr16(&o[kOffMinCap], kCapMax);
  return o;
}

std::vector<uint8_t> ip4_options_area(std::span<const uint8_t> option) {
  std::vector<uint8_t> area(option.begin(), option.end());
  while (area.size() % 4) area.push_back(kIp4Nop);
  return area;
}

std::vector<uint8_t> ip6_hbh_header(std::span<const uint8_t> option) {
  std::vector<uint8_t> h(2 + option.size(), 0);
  std::copy(option.begin(), option.end(), h.begin() + 2);
  const size_t pad = (8 - h.size() % 8) % 8;
  if (pad == 1) {
    h.push_back(kIp6Pad1);
  } else if (pad > 1) {
    h.push_back(kIp6PadN);
    h.push_back(static_cast<uint8_t>(pad - 2));
    h.resize(h.size() + pad - 2, 0);
  }
  h[1] = static_cast<uint8_t>(h.size() / 8 - 1);
  return h;
}

std::optional<std::span<const uint8_t>> find_option(std::span<const uint8_t> area, bool ip6,
                                                    bool* truncated) {
  const uint8_t want = ip6 ? kIp6Type : kIp4Type;
  if (truncated) *truncated = false;
  size_t i = 0;
  while (i < area.size()) {
    const uint8_t type = area[i];
    if (!ip6 && type == kIp4Eol) break;
    if ((ip6 && type == kIp6Pad1) || (!ip6 && type == kIp4Nop)) {
      ++i;
      continue;
    }
    if (i + 1 >= area.size()) {
      if (truncated) *truncated = true;
      if (type == want) return area.subspan(i);
      break;
    }
    const size_t len = ip6 ? area[i + 1] + 2u : area[i + 1];
    const bool cut = len < 2 || i + len > area.size();
    if (cut && truncated) *truncated = true;
    if (type == want) return area.subspan(i, cut ? area.size() - i : len);
    if (cut) break;
    i += len;
  }
  return std::nullopt;
}

OptionFields read_option(std::span<const uint8_t> option, bool ip6) {
  OptionFields f;
  f.ip6 = ip6;
  f.malformed = Malformed::kShort;
  if (option.size() < 2) return f;
  f.len = ip6 ? option[1] + 2u : option[1];
  if (f.len < kOffSlots || f.len > option.size()) return f;
  const uint8_t* b = option.data();
  f.version = b[kOffFlags] >> 4;
  f.overflow = b[kOffFlags] & kFlagOverflow;
  f.sample = b[kOffFlags] & kFlagSample;
  f.perf = b[kOffFlags] & kFlagPerf;
  f.target_ttl = b[kOffTarget];
  f.ttl_prime = b[kOffTtlPrime];
  f.cap_unavailable = b[kOffAcc] & kAccCapUnavailable;
  f.queue_unavailable = b[kOffAcc] & kAccQueueUnavailable;
  f.next_slot = b[kOffAcc] & kAccSlotMask;
  f.evolution = rd32(b + kOffEvolution);
  f.min_capacity = rd16(b + kOffMinCap);
  f.queue_sum_us = rd32(b + kOffQueueSum);
  std::vector<uint8_t> copy(b, b + f.len);
  const Option opt{copy.data(), f.len, ip6};
  f.malformed = opt.check();
  if (f.malformed == Malformed::kNone)
    for (unsigned i = 0; i < opt.slots(); ++i) f.slots.push_back(read_slot(opt, i));
  return f;
}

const char* malformed_name(Malformed m) {
  switch (m) {
    case Malformed::kShort: return "short";
    case Malformed::kVersion: return "version";
    case Malformed::kSlotSize: return "slot_size";
    case Malformed::kPointer: return "pointer";
    default: return "";
  }
}

JsonObject option_json(const OptionFields& f) {
  JsonObject o;
  o.add("carrier", f.ip6 ? "ipv6" : "ipv4")
      .add("version", f.version)
      .add("overflow", f.overflow)
      .add("sample", f.sample)
      .add("perf", f.perf)
      .add("target_ttl", f.target_ttl)
      .add("ttl_prime", f.ttl_prime)
      .add("cap_unavailable", f.cap_unavailable)
      .add("queue_unavailable", f.queue_unavailable)
      .add("next_slot", f.next_slot)
      .add("evolution", f.evolution)
      .add("min_capacity", f.min_capacity)
      .add("queue_sum_us", f.queue_sum_us);
  JsonList slots;
  const bool perf = f.perf.value_or(false);
  for (const SlotFields& s : f.slots) {
    JsonObject j;
    j.add("index", s.index).add("ttl", s.ttl).add("written", s.written).add("perf", s.perf)
        .add("triggered", s.triggered).add("unavailable", s.unavailable);
    if (perf)
      j.add("level", s.level).add("time_us", s.time_us).add("queue_us", s.queue_us)
          .add("avail_capacity", s.avail_capacity).add("capacity", s.capacity);
    else
      j.add("router_id", s.router_id).add("as", s.as).add("ingress", s.ingress)
          .add("egress", s.egress);
    slots.raw(j.str());
  }
  o.raw("slots", slots.str());
  o.raw("malformed", f.malformed == Malformed::kNone ? "null" : json_quote(malformed_name(f.malformed)));
  return o;
}

std::string format_bps(double bps) {
  if (bps >= 1e9) return fmt::format("{:.3g} Gbit/s", bps / 1e9);
  if (bps >= 1e6) return fmt::format("{:.3g} Mbit/s", bps / 1e6);
  if (bps >= 1e3) return fmt::format("{:.3g} kbit/s", bps / 1e3);
  return fmt::format("{:.3g} bit/s", bps);
}

namespace {

std::string cap_text(uint16_t code) {
  return code == kCapUnavailable ? "unavailable" : format_bps(cap_decode(code));
}

template <typename T>
std::string opt_text(const std::optional<T>& v) {
  return v ? fmt::format("{}", *v) : "-";
}

}  // namespace

std::string option_text(const OptionFields& f, const std::string& in) {
  std::string out = fmt::format("{}IPIM {} option, {} bytes{}\n", in, f.ip6 ? "IPv6" : "IPv4",
                                f.len,
                                f.malformed == Malformed::kNone
                                    ? ""
                                    : fmt::format(", MALFORMED ({})", malformed_name(f.malformed)));
  auto flag = [](const std::optional<bool>& b, const char* name) {
    return b.value_or(false) ? fmt::format(" {}", name) : std::string();
  };
  out += fmt::format("{}version {}, kind {}, flags:{}{}{}{}; target TTL {}, TTL' {}, next slot {}\n",
                     in, opt_text(f.version), f.perf.value_or(false) ? "performance" : "topology",
                     flag(f.overflow, "overflow"), flag(f.sample, "sample"),
                     flag(f.cap_unavailable, "cap-unavailable"),
                     flag(f.queue_unavailable, "queue-unavailable"), opt_text(f.target_ttl),
                     opt_text(f.ttl_prime), opt_text(f.next_slot));
  out += fmt::format("{}evolution {}, min capacity {} ({}), queue sum {} us\n", in,
                     f.evolution ? fmt::format("{:#010x}", *f.evolution) : "-",
                     opt_text(f.min_capacity),
                     f.min_capacity ? (*f.min_capacity == kCapMax ? "no hop" : cap_text(*f.min_capacity)) : "-",
                     opt_text(f.queue_sum_us));
  for (const SlotFields& s : f.slots) {
    out += fmt::format("{}slot {}: {}", in, s.index, s.written ? "" : "free");
    if (!s.written) {
      out += "\n";
      continue;
    }
    out += fmt::format("arrival TTL {}{}{} unavailable {:#x}: ", s.ttl, s.perf ? " perf" : "",
                       s.triggered ? " triggered" : "", s.unavailable);
    if (f.perf.value_or(false))
      out += fmt::format("level {}, time {} us, queue {} us, available {}, capacity {}\n", s.level,
                         s.time_us, s.queue_us, cap_text(s.avail_capacity), cap_text(s.capacity));
    else
      out += fmt::format("router id {}, AS {}, ingress {}, egress {}\n", s.router_id, s.as,
                         s.ingress, s.egress);
  }
  return out;
}

std::string hex(std::span<const uint8_t> bytes) {
  std::string s;
  for (uint8_t b : bytes) s += fmt::format("{:02x}", b);
  return s;
}

}  // namespace pathlab::ipim
