// See common.hpp.
#include "common.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mempool.h>
#pragma GCC diagnostic pop

#include "pathlab/engine/eal_runtime_dir.hpp"
#include "pathlab/net/constants.hpp"
#include "pathlab/net/parse.hpp"
#include "pathlab/router/meta.hpp"
#include "pathlab/stages/packet.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PLFUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define PLFUZZ_ASAN 1
#endif
#ifdef PLFUZZ_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace plfuzz {

using namespace pathlab;

void fail(const char* file, int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "\n==plfuzz== invariant failed at %s:%d: %s\n==plfuzz== %s\n", file, line, cond,
               msg.c_str());
  std::fflush(stderr);
  std::abort();
}

void init_eal(unsigned lcores) {
  static bool done = false;
  if (done) return;
  done = true;
  const std::string prefix = fmt::format("fuzz-{}", getpid());
  std::vector<std::string> args = {"plfuzz", "--no-huge", "-m", lcores > 1 ? "512" : "256",
                                   "--no-pci", "-l", lcores > 1 ? "0,1" : "0", "--no-telemetry",
                                   "--file-prefix", prefix, "--log-level", "*:error"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    std::fprintf(stderr, "plfuzz: rte_eal_init failed\n");
    std::abort();
  }
  init_packet_view();
  pathlab::remove_runtime_dir_at_exit();
}

std::vector<std::span<const uint8_t>> frames(std::span<const uint8_t> body, bool records, size_t max) {
  std::vector<std::span<const uint8_t>> out;
  if (!records) {
    out.push_back(body);
    return out;
  }
  while (body.size() >= 2 && out.size() < max) {
    const size_t n = std::min<size_t>(body[0] << 8 | body[1], body.size() - 2);
    out.push_back(body.subspan(2, n));
    body = body.subspan(2 + n);
  }
  return out;
}

// ---- packets ----------------------------------------------------------------------------------

namespace {

constexpr unsigned kPoolSize = 1023;
constexpr uint16_t kRoom = kHeadroom + 2048;

rte_mempool* ext_pool() {
  static rte_mempool* p = rte_pktmbuf_pool_create("plfuzz_ext", kPoolSize, 0, kMetaSize, 0, SOCKET_ID_ANY);
  if (p == nullptr) std::abort();
  return p;
}

int g_ext_live = 0;  // external buffers not yet freed

void ext_free(void* addr, void* opaque) {
  std::free(addr);
  delete static_cast<rte_mbuf_ext_shared_info*>(opaque);
  --g_ext_live;
}

struct Made {
  rte_mbuf* m;
  Buf mode;
  uint16_t start_off;
};
std::vector<Made> g_made;

const Made* made_of(const rte_mbuf* m) {
  for (const Made& x : g_made) {
    if (x.m == m) return &x;
  }
  return nullptr;
}

}  // namespace

rte_mempool* fuzz_pool() {
  static rte_mempool* p = rte_pktmbuf_pool_create("plfuzz_pool", kPoolSize, 0, kMetaSize, kRoom, SOCKET_ID_ANY);
  if (p == nullptr) std::abort();
  return p;
}

rte_mbuf* make_packet(std::span<const uint8_t> frame, Buf mode) {
  const size_t len = frame.size();
  if (mode == Buf::Pool) {
    if (kHeadroom + len > kRoom) return nullptr;
    rte_mbuf* m = rte_pktmbuf_alloc(fuzz_pool());
    FUZZ_CHECK(m != nullptr, "fuzz pool empty");
    auto* buf = static_cast<uint8_t*>(m->buf_addr);
    m->buf_len = static_cast<uint16_t>(kHeadroom + len);
    std::memset(buf, kGuard, kHeadroom);
    if (len) std::memcpy(buf + kHeadroom, frame.data(), len);
    POISON(buf + kHeadroom + len, kRoom - kHeadroom - len);
    m->data_off = kHeadroom;
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = static_cast<uint32_t>(len);
    g_made.push_back({m, mode, kHeadroom});
    return m;
  }
  if (kHeadroom + len > UINT16_MAX) return nullptr;
  auto* buf = static_cast<uint8_t*>(std::malloc(kHeadroom + len));
  std::memset(buf, kGuard, kHeadroom);
  if (len) std::memcpy(buf + kHeadroom, frame.data(), len);
  auto* sh = new rte_mbuf_ext_shared_info{};
  sh->free_cb = ext_free;
  sh->fcb_opaque = sh;
  rte_mbuf_ext_refcnt_set(sh, 1);
  rte_mbuf* m = rte_pktmbuf_alloc(ext_pool());
  FUZZ_CHECK(m != nullptr, "fuzz ext pool empty");
  rte_pktmbuf_attach_extbuf(m, buf, RTE_BAD_IOVA, static_cast<uint16_t>(kHeadroom + len), sh);
  ++g_ext_live;
  m->data_off = kHeadroom;
  m->data_len = static_cast<uint16_t>(len);
  m->pkt_len = static_cast<uint32_t>(len);
  g_made.push_back({m, mode, kHeadroom});
  return m;
}

rte_mbuf* make_chain(std::span<const uint8_t> frame, size_t first, Buf mode) {
  first = std::min(first, frame.size());
  rte_mbuf* head = make_packet(frame.first(first), mode);
  if (head == nullptr) return nullptr;
  rte_mbuf* tail = make_packet(frame.subspan(first), mode);
  if (tail == nullptr || rte_pktmbuf_chain(head, tail) != 0) {
    rte_pktmbuf_free(head);
    if (tail) rte_pktmbuf_free(tail);
    return nullptr;
  }
  return head;
}

void check_guard(const rte_mbuf* m, const char* what) {
  const Made* x = made_of(m);
  if (x == nullptr) return;
  const auto* buf = static_cast<const uint8_t*>(m->buf_addr);
  const uint16_t below = std::min(x->start_off, m->data_off);
  for (uint16_t i = 0; i < below; ++i) {
    FUZZ_CHECK(buf[i] == kGuard, "{}: headroom byte {} (packet at {}, started at {}) overwritten: 0x{:02x}",
               what, i, m->data_off, x->start_off, buf[i]);
  }
}

void note_low(const rte_mbuf* m) {
  for (Made& x : g_made) {
    if (x.m == m) x.start_off = std::min(x.start_off, m->data_off);
  }
}

void forget_guard(const rte_mbuf* m) {
  for (Made& x : g_made) {
    if (x.m == m) x.start_off = 0;
  }
}

void end_iteration() {
  for (const Made& x : g_made) {
    if (x.mode != Buf::Pool) continue;
    // Freed or not, a Pool-mode mbuf and its buffer are still ours: check and restore them.
    check_guard(x.m, "pool packet");
    UNPOISON(x.m->buf_addr, kRoom);
    x.m->buf_len = kRoom;
  }
  g_made.clear();
  FUZZ_CHECK(g_ext_live == 0, "{} external buffers still referenced: an mbuf leaked", g_ext_live);
  FUZZ_CHECK(rte_mempool_in_use_count(fuzz_pool()) == 0, "{} pool mbufs leaked",
             rte_mempool_in_use_count(fuzz_pool()));
  FUZZ_CHECK(rte_mempool_in_use_count(ext_pool()) == 0, "{} ext mbufs leaked",
             rte_mempool_in_use_count(ext_pool()));
}

// ---- input checks and invariants ---------------------------------------------------------------

namespace {

PktView view_of(uint8_t* l3, const StoredView& s) {
  PktView v;
  v.l3 = l3;
  v.ip_len = s.ip_len;
  v.version = s.version;
  v.proto = s.proto;
  v.flags = s.flags;
  if (s.flags & kViewL4) {
    v.l4_off = s.l4_off;
    v.l4 = l3 + s.l4_off;
    v.l4_len = s.ip_len - s.l4_off;
  }
  return v;
}

std::string describe(const StoredView& v) {
  return fmt::format("v{} ip_len {} l4_off {} proto {} ports {}/{} tcp_flags {:#x} flags {:#x}", v.version,
                     v.ip_len, v.l4_off, v.proto, v.sport, v.dport, v.tcp_flags, v.flags);
}

bool ip4_cksum_ok(const uint8_t* l3) {
  return csum::sum(l3, (l3[0] & 0xfu) * 4u) == 0xffff;
}

std::string hex(const rte_mbuf* m) {
  std::string s;
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  for (uint16_t i = 0; i < m->data_len && i < 256; ++i) s += fmt::format("{:02x}", p[i]);
  return s;
}

}  // namespace

Input router_input(rte_mbuf* m, bool trim, bool verify_ip4_cksum) {
  Input in;
  m->packet_type = 0;
  const auto* f = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t len = m->data_len;
  const parse::L2 l2 = parse::ethernet(f, len);
  m->l2_len = l2.ok ? l2.l2_len : 0;
  m->l3_len = 0;
  if (l2.ok && l2.ether_type == parse::kEtherIpv4) {
    const uint8_t* ip = f + l2.l2_len;
    if (parse::ip4(ip, len - l2.l2_len, verify_ip4_cksum) == parse::Ip4Result::Ok) {
      m->packet_type = kPtype4;
      m->l3_len = (ip[0] & 0xfu) * 4u;
      const uint32_t total = parse::load_be16(ip + 2);
      if (trim && l2.l2_len + total < len) rte_pktmbuf_trim(m, static_cast<uint16_t>(len - l2.l2_len - total));
    }
  } else if (l2.ok && l2.ether_type == parse::kEtherIpv6) {
    const uint8_t* ip = f + l2.l2_len;
    if (parse::ip6(ip, len - l2.l2_len) == parse::Ip6Result::Ok) {
      m->packet_type = kPtype6;
      m->l3_len = 40;
      const uint32_t total = 40u + parse::load_be16(ip + 4);
      if (trim && l2.l2_len + total < len) rte_pktmbuf_trim(m, static_cast<uint16_t>(len - l2.l2_len - total));
    }
  }
  const bool viewed = parse_view(m);
  in.ip = m->packet_type != 0;
  in.l2_len = m->l2_len;
  FUZZ_CHECK(viewed == in.ip, "parse_view {} after the input checks {}: {}", viewed, in.ip, hex(m));
  return in;
}

void fix_checksums(std::span<uint8_t> frame) {
  const parse::L2 l2 = parse::ethernet(frame.data(), static_cast<uint32_t>(frame.size()));
  if (!l2.ok) return;
  uint8_t* l3 = frame.data() + l2.l2_len;
  const uint32_t avail = static_cast<uint32_t>(frame.size()) - l2.l2_len;
  StoredView s;
  if (l2.ether_type == parse::kEtherIpv4) {
    if (avail < 20 || (l3[0] >> 4) != 4) return;
    const uint32_t ihl = (l3[0] & 0xfu) * 4u;
    if (ihl < 20 || ihl > avail) return;
    l3[10] = l3[11] = 0;
    const uint16_t ck = static_cast<uint16_t>(~csum::sum(l3, ihl));
    std::memcpy(l3 + 10, &ck, 2);
    const uint32_t total = parse::load_be16(l3 + 2);
    if (total < ihl || total > avail) return;
    s.version = 4;
    s.ip_len = total;
    s.proto = l3[9];
  } else if (l2.ether_type == parse::kEtherIpv6) {
    if (avail < 40 || (l3[0] >> 4) != 6) return;
    const uint32_t total = 40u + parse::load_be16(l3 + 4);
    if (total > avail) return;
    s.version = 6;
    s.ip_len = total;
    s.proto = l3[6];
  } else {
    return;
  }
  parse_transport(l3, s);
  const PktView v = view_of(l3, s);
  if (v.l4 == nullptr) return;
  if (v.version == 4 && v.proto == kProtoIcmp4 && v.l4_len >= 4) {
    v.l4[2] = v.l4[3] = 0;
    const uint16_t ck = static_cast<uint16_t>(~csum::sum(v.l4, v.l4_len));
    std::memcpy(v.l4 + 2, &ck, 2);
    return;
  }
  if (v.version == 4 && v.proto == kProtoUdp && v.l4_len >= 8 && get16(v.l4 + 6) == 0) return;
  l4_cksum_full(v);
}

Before snapshot(rte_mbuf* m) {
  Before b;
  b.m = m;
  b.view = stored_view(m);
  b.packet_type = m->packet_type;
  PktView v;
  if (view_packet(m, v)) {
    b.ip4_cksum_ok = v.version == 4 && ip4_cksum_ok(v.l3);
    b.l4_cksum_ok = l4_cksum_valid(v);
    b.pad = m->data_len - m->l2_len - v.ip_len;
  }
  return b;
}

uint32_t touch_view(rte_mbuf* m) {
  PktView v;
  if (!view_packet(m, v)) return 0;
  uint32_t s = 0;
  for (uint32_t i = 0; i < v.ip_len; ++i) s += static_cast<const volatile uint8_t*>(v.l3)[i];
  return s;
}

void check_passed(rte_mbuf* m, const Before& b, const char* what) {
  FUZZ_CHECK(m->nb_segs == 1 && m->next == nullptr, "{}: {} segments", what, m->nb_segs);
  FUZZ_CHECK(m->pkt_len == m->data_len, "{}: pkt_len {} data_len {}", what, m->pkt_len, m->data_len);
  check_guard(m, what);
  FUZZ_CHECK(m->packet_type == b.packet_type, "{}: packet_type {:#x} was {:#x}", what, m->packet_type,
             b.packet_type);
  const StoredView kept = stored_view(m);
  parse_view(m);
  const StoredView fresh = stored_view(m);
  FUZZ_CHECK(same_view(kept, fresh), "{}: stored view {} but a fresh parse gives {}\n  before {}\n  frame {}",
             what, describe(kept), describe(fresh), describe(b.view), hex(m));
  FUZZ_CHECK(fresh.version == b.view.version, "{}: view version {} was {} ({})", what, fresh.version,
             b.view.version, hex(m));
  if (fresh.version == 0) return;
  PktView v;
  view_packet(m, v);
  const unsigned l2_len = m->l2_len, l3_len = m->l3_len;
  FUZZ_CHECK(l2_len + v.ip_len <= m->data_len, "{}: l2 {} + ip_len {} > data_len {}", what, l2_len, v.ip_len,
             m->data_len);
  const uint32_t pad = m->data_len - m->l2_len - v.ip_len;
  FUZZ_CHECK(pad == b.pad, "{}: {} bytes after the IP packet, were {} ({})", what, pad, b.pad, hex(m));
  if (v.version == 4) {
    const uint32_t ihl = (v.l3[0] & 0xfu) * 4u;
    FUZZ_CHECK(l3_len == ihl, "{}: l3_len {} but IHL says {}", what, l3_len, ihl);
    FUZZ_CHECK(!b.ip4_cksum_ok || ip4_cksum_ok(v.l3), "{}: IPv4 header checksum broken ({})", what, hex(m));
  } else {
    FUZZ_CHECK(l3_len == 40, "{}: IPv6 l3_len {}", what, l3_len);
  }
  FUZZ_CHECK(!b.l4_cksum_ok || l4_cksum_valid(v), "{}: transport checksum broken ({}; before {})", what,
             describe(fresh), describe(b.view));
  touch_view(m);
}

void check_generated(rte_mbuf* m, const char* what) {
  FUZZ_CHECK(m->nb_segs == 1 && m->next == nullptr, "{}: {} segments", what, m->nb_segs);
  FUZZ_CHECK(m->pkt_len == m->data_len, "{}: pkt_len {} data_len {}", what, m->pkt_len, m->data_len);
  forget_guard(m);
  const auto* f = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t len = m->data_len;
  const parse::L2 l2 = parse::ethernet(f, len);
  FUZZ_CHECK(l2.ok, "{}: no Ethernet header ({} bytes)", what, len);
  const uint8_t* ip = f + l2.l2_len;
  const uint32_t avail = len - l2.l2_len;
  StoredView s;
  if (l2.ether_type == parse::kEtherArp) {
    FUZZ_CHECK(avail >= 28, "{}: ARP of {} bytes", what, avail);
    return;
  } else if (l2.ether_type == parse::kEtherIpv4) {
    const auto r = parse::ip4(ip, avail, true);
    FUZZ_CHECK(r == parse::Ip4Result::Ok, "{}: IPv4 {} ({})", what, parse::name(r), hex(m));
    FUZZ_CHECK(parse::load_be16(ip + 2) == avail, "{}: total length {} in {} bytes", what,
               parse::load_be16(ip + 2), avail);
    s.version = 4;
    s.ip_len = avail;
    s.proto = ip[9];
  } else if (l2.ether_type == parse::kEtherIpv6) {
    const auto r = parse::ip6(ip, avail);
    FUZZ_CHECK(r == parse::Ip6Result::Ok, "{}: IPv6 {} ({})", what, parse::name(r), hex(m));
    FUZZ_CHECK(40u + parse::load_be16(ip + 4) == avail, "{}: payload length {} in {} bytes", what,
               parse::load_be16(ip + 4), avail);
    s.version = 6;
    s.ip_len = avail;
    s.proto = ip[6];
  } else {
    FUZZ_CHECK(false, "{}: EtherType {:#06x}", what, l2.ether_type);
  }
  parse_transport(ip, s);
  const PktView v = view_of(const_cast<uint8_t*>(ip), s);
  if (v.l4 == nullptr) return;
  if (v.version == 4 && v.proto == kProtoIcmp4) {
    // As fix_checksums: a message shorter than its header has no checksum to keep.
    if (v.l4_len >= 4) {
      FUZZ_CHECK(csum::sum(v.l4, v.l4_len) == 0xffff, "{}: ICMP checksum ({})", what, hex(m));
    }
  } else {
    FUZZ_CHECK(l4_cksum_valid(v), "{}: transport checksum ({}; {})", what, describe(s), hex(m));
  }
}

}  // namespace plfuzz
