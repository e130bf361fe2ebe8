// `pathlab-probe decode`: IPIM packets in a classic pcap file.
#include "pathlab/ipim/capture.hpp"

#include <arpa/inet.h>

#include <fstream>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>

#include "pathlab/ipim/json_writer.hpp"

namespace pathlab::ipim {

namespace {

constexpr uint32_t kMagicUs = 0xa1b2c3d4, kMagicNs = 0xa1b23c4d;
constexpr uint8_t kHopByHop = 0, kUdp = 17;

std::string addr_text(const uint8_t* p, bool ip6) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(ip6 ? AF_INET6 : AF_INET, p, buf, sizeof buf);
  return buf;
}

// The end-to-end block in a UDP payload that starts with the magic and is at least a probe's
// block long (as tools/scapy/ipim.py dissects it); "short" when it is cut after that.
void take_udp_block(std::span<const uint8_t> l4, uint8_t proto, CapturedOption& c) {
  if (proto != kUdp || l4.size() < 8 + kE2eProbeLen || rd32(&l4[8]) != kE2eMagic) return;
  c.e2e = decode_e2e(l4.subspan(8));
  c.e2e_short = !c.e2e;
}

std::optional<CapturedOption> dissect_ip4(std::span<const uint8_t> p) {
  if (p.size() < 20) return std::nullopt;
  const unsigned ihl = (p[0] & 0x0f) * 4u;
  if (ihl <= 20) return std::nullopt;
  bool truncated = false;
  const auto opt = find_option(p.subspan(20, std::min<size_t>(ihl, p.size()) - 20), false, &truncated);
  if (!opt) return std::nullopt;
  CapturedOption c;
  c.src = addr_text(&p[12], false);
  c.dst = addr_text(&p[16], false);
  c.option = read_option(*opt, false);
  if (truncated && c.option.malformed == Malformed::kNone) c.option.malformed = Malformed::kShort;
  const bool first_fragment = (rd16(&p[6]) & 0x1fff) == 0;
  if (first_fragment && p.size() > ihl) take_udp_block(p.subspan(ihl), p[9], c);
  return c;
}

std::optional<CapturedOption> dissect_ip6(std::span<const uint8_t> p) {
  if (p.size() < 48 || p[6] != kHopByHop) return std::nullopt;
  const size_t hbh_len = (p[41] + 1u) * 8;
  bool truncated = false;
  const auto opt = find_option(p.subspan(42, std::min(hbh_len, p.size() - 40) - 2), true, &truncated);
  if (!opt) return std::nullopt;
  CapturedOption c;
  c.src = addr_text(&p[8], true);
  c.dst = addr_text(&p[24], true);
  c.option = read_option(*opt, true);
  if (truncated && c.option.malformed == Malformed::kNone) c.option.malformed = Malformed::kShort;
  if (p.size() > 40 + hbh_len) take_udp_block(p.subspan(40 + hbh_len), p[40], c);
  return c;
}

// The IP packet inside a frame of the given link type; empty when there is none.
std::span<const uint8_t> ip_of(std::span<const uint8_t> f, uint32_t linktype) {
  size_t off = 0;
  uint16_t ethertype = 0;
  switch (linktype) {
    case 1:  // Ethernet, with VLAN tags
      off = 12;
      while (off + 2 <= f.size()) {
        ethertype = rd16(&f[off]);
        off += 2;
        if (ethertype != 0x8100 && ethertype != 0x88a8) break;
        off += 2;
      }
      break;
    case 113: off = 16; ethertype = f.size() >= 16 ? rd16(&f[14]) : 0; break;  // Linux cooked
    case 276: off = 20; ethertype = f.size() >= 20 ? rd16(&f[0]) : 0; break;   // Linux cooked v2
    case 0: off = 4; break;                                                     // BSD loopback
    case 12: case 14: case 101: case 228: case 229: break;                      // raw IP
    default: throw std::runtime_error(fmt::format("link type {} is not supported", linktype));
  }
  if (off >= f.size()) return {};
  if (ethertype && ethertype != 0x0800 && ethertype != 0x86dd) return {};
  return f.subspan(off);
}

uint32_t u32(const uint8_t* p, bool swapped) {
  const uint32_t v = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
  return swapped ? __builtin_bswap32(v) : v;
}

}  // namespace

std::optional<CapturedOption> dissect_ip(std::span<const uint8_t> packet) {
  if (packet.empty()) return std::nullopt;
  if ((packet[0] >> 4) == 4) return dissect_ip4(packet);
  if ((packet[0] >> 4) == 6) return dissect_ip6(packet);
  return std::nullopt;
}

std::vector<CapturedOption> scan_pcap(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  const std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (file.size() < 24) throw std::runtime_error(path + ": too short for a pcap file");
  // The file header is in the writer's byte order: this host's (little-endian) or swapped.
  const uint32_t magic = u32(file.data(), false);
  const bool swapped = magic == __builtin_bswap32(kMagicUs) || magic == __builtin_bswap32(kMagicNs);
  const uint32_t m = swapped ? __builtin_bswap32(magic) : magic;
  if (m != kMagicUs && m != kMagicNs)
    throw std::runtime_error(path + ": not a classic pcap file (pcapng is not supported)");
  const bool nano = m == kMagicNs;
  const uint32_t linktype = u32(&file[20], swapped) & 0x0fffffff;
  std::vector<CapturedOption> out;
  uint64_t frame = 0;
  for (size_t off = 24; off < file.size();) {
    if (off + 16 > file.size()) throw std::runtime_error(path + ": truncated record header");
    const uint64_t sec = u32(&file[off], swapped), frac = u32(&file[off + 4], swapped);
    const uint32_t caplen = u32(&file[off + 8], swapped);
    off += 16;
    if (off + caplen > file.size()) throw std::runtime_error(path + ": truncated record");
    ++frame;
    const auto ip = ip_of(std::span(file).subspan(off, caplen), linktype);
    off += caplen;
    auto c = dissect_ip(ip);
    if (!c) continue;
    c->frame = frame;
    c->ts_ns = sec * 1000000000 + (nano ? frac : frac * 1000);
    out.push_back(std::move(*c));
  }
  return out;
}

std::string captured_json(const CapturedOption& c) {
  JsonObject o = option_json(c.option);
  o.raw("frame", JsonObject().add("index", c.frame).add("time", c.ts_ns / 1e9).add("src", c.src)
                     .add("dst", c.dst).str());
  o.raw("e2e", c.e2e || c.e2e_short ? e2e_json(c.e2e ? &*c.e2e : nullptr) : "null");
  return o.str();
}

std::string captured_text(const CapturedOption& c) {
  std::string out = fmt::format("frame {} at {:.6f}: {} -> {}\n", c.frame, c.ts_ns / 1e9, c.src, c.dst);
  out += option_text(c.option, "  ");
  if (c.e2e) out += e2e_text(*c.e2e, "  ");
  return out;
}

}  // namespace pathlab::ipim
