#pragma once
// Shared by the fuzz targets (docs/robustness.md): EAL set-up, packets in buffers that end
// exactly at the packet's last byte, the router's input checks, and the invariants checked after
// every run. A failed invariant prints what broke and aborts, which libFuzzer reports as a crash.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"  // DPDK 22.11 headers in C++20
#include <rte_mbuf.h>
#pragma GCC diagnostic pop

#include "pathlab/net/view.hpp"

namespace plfuzz {

using Bytes = std::vector<uint8_t>;

[[noreturn]] void fail(const char* file, int line, const char* cond, const std::string& msg);
#define FUZZ_CHECK(cond, ...)                                                        \
  do {                                                                               \
    if (!(cond)) [[unlikely]] ::plfuzz::fail(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
  } while (0)

// rte_eal_init once per process (--no-huge --no-pci --no-telemetry, a private file prefix), then
// init_packet_view(). `lcores` 2 for targets that build a Dataplane (it wants a worker lcore).
void init_eal(unsigned lcores = 1);

// Reads the control bytes at the front of an input; past the end everything reads 0.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint8_t u8() { return n_ ? (--n_, *p_++) : 0; }
  uint16_t u16() { return static_cast<uint16_t>(u8() << 8 | u8()); }
  uint32_t u32() { return uint32_t{u16()} << 16 | u16(); }
  std::span<const uint8_t> take(size_t n) {
    n = std::min(n, n_);
    std::span<const uint8_t> s(p_, n);
    p_ += n;
    n_ -= n;
    return s;
  }
  std::span<const uint8_t> rest() { return take(n_); }
  size_t left() const { return n_; }

 private:
  const uint8_t* p_;
  size_t n_;
};

// Up to `max` frames: with `records`, [len:16 BE][bytes] records (a short last one is cut);
// otherwise the whole body is one frame.
std::vector<std::span<const uint8_t>> frames(std::span<const uint8_t> body, bool records, size_t max);

// ---- packets ----------------------------------------------------------------------------------

inline constexpr uint16_t kHeadroom = RTE_PKTMBUF_HEADROOM;
inline constexpr uint8_t kGuard = 0xa5;  // headroom fill: must be intact below the packet

enum class Buf : uint8_t {
  // An mbuf with an external buffer (rte_pktmbuf_attach_extbuf), malloc'd with exactly
  // headroom + len bytes: ASan sees the heap block's end. Not RTE_MBUF_DIRECT, so code that
  // grows packets in place (ICMP errors, RSTs) refuses it.
  Exact,
  // A direct mbuf from a pool whose buffer is cut at the packet's end: buf_len is shortened and
  // the rest of the data room is poisoned (ASan manual poisoning) until the iteration ends.
  Pool,
};

// A single-segment mbuf holding `frame` after kHeadroom guard bytes; nullptr when it does not
// fit (Pool: the data room; Exact: 64 KiB). No metadata is set.
rte_mbuf* make_packet(std::span<const uint8_t> frame, Buf mode);
// As make_packet, split into two segments after `first` bytes (each with its own exact end).
rte_mbuf* make_chain(std::span<const uint8_t> frame, size_t first, Buf mode);
// The mempool of Pool-mode packets (private area sized for PktMeta).
rte_mempool* fuzz_pool();

// The headroom below the packet (and below where it started) still holds the guard bytes.
void check_guard(const rte_mbuf* m, const char* what);
// Lowers where the packet is taken to have started to where it is now: a stage that prepended
// (mss) owns the bytes down to there, even if a later stage moves the packet forward again.
void note_low(const rte_mbuf* m);
// A packet rebuilt in place (ICMP error, RST) may use its headroom and then drop the front it
// wrote (untagging): its guard is not checked any more.
void forget_guard(const rte_mbuf* m);
// Ends an iteration: every packet made since the last call has been freed (no external buffer
// alive, the pool full), Pool-mode buffers' guards are intact and their poison is lifted.
void end_iteration();

// ---- the router's input, and what it guarantees ------------------------------------------------

struct Input {
  bool ip = false;     // passed parse::ip4 / parse::ip6 and has a view
  uint16_t l2_len = 0;
};
// What the router's Ethernet and IP input leave on a frame (lib/router/eth_input.cc,
// ip_input.cc): parse::ethernet (up to two VLAN tags, as the stage tests allow), parse::ip4 or
// parse::ip6 over the bytes after it, packet_type, l2_len, l3_len, Ethernet padding trimmed when
// `trim`, and parse_view. A frame that fails keeps packet_type 0 and view version 0.
Input router_input(rte_mbuf* m, bool trim, bool verify_ip4_cksum);

// Sets every checksum a frame carries (IPv4 header; TCP, UDP, ICMPv6 over the pseudo-header;
// ICMPv4), when its headers are whole; UDP over IPv4 with 0 keeps 0. Helps the fuzzer past
// checksum checks.
void fix_checksums(std::span<uint8_t> frame);

// Per-packet facts before a run, compared after it.
struct Before {
  rte_mbuf* m = nullptr;
  pathlab::StoredView view{};
  bool ip4_cksum_ok = false;  // IPv4 header checksum valid
  bool l4_cksum_ok = false;   // transport checksum valid (packet.hpp: l4_cksum_valid)
  uint32_t pad = 0;           // bytes after the IP packet (Ethernet padding)
  uint32_t packet_type = 0;
};
Before snapshot(rte_mbuf* m);

// The stage guarantees for a packet that passed: one segment, lengths consistent, the stored view
// equal to a fresh parse, checksums valid before still valid, no write below the packet.
void check_passed(rte_mbuf* m, const Before& b, const char* what);
// A packet a stage or the router built (ICMP error, RST, ARP/ND reply): a whole Ethernet frame
// with consistent lengths and every checksum valid. Its guard is forgotten.
void check_generated(rte_mbuf* m, const char* what);

// Reads every byte of the packet's view (l3 .. l3 + ip_len) so that ASan sees an over-claim.
uint32_t touch_view(rte_mbuf* m);

}  // namespace plfuzz
