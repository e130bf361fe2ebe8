// The IPv4 header checksum after a TTL decrement: the RFC 1624 incremental update of the one
// changed 16-bit word (csum::update16; BM_TtlUpdate16 is the router's sequence as of this
// writing, BM_TtlUpdate16Word the same without a store-forwarding stall) against recomputing the
// whole header with rte_ipv4_cksum. Also update32 (a 32-bit field such as an address, as NAT would
// change) against the full sum, and the receive check of a header with and without options. Each iteration rewrites 256 headers laid out like packets
// (one per 64-byte line), so the figures are throughput per header, not latency.
#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ip.h>

#include "pathlab/net/checksum.hpp"

namespace pathlab::bench {
namespace {

constexpr size_t kHeaders = 256;

struct alignas(64) Line {
  rte_ipv4_hdr ip;
};

std::array<Line, kHeaders> make_headers() {
  std::array<Line, kHeaders> a{};
  for (size_t i = 0; i < kHeaders; ++i) {
    rte_ipv4_hdr& h = a[i].ip;
    h.version_ihl = RTE_IPV4_VHL_DEF;
    h.total_length = rte_cpu_to_be_16(50);
    h.packet_id = rte_cpu_to_be_16(static_cast<uint16_t>(i));
    h.fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
    h.time_to_live = 64;
    h.next_proto_id = 6;
    h.src_addr = rte_cpu_to_be_32(0x0a000002u + static_cast<uint32_t>(i));
    h.dst_addr = rte_cpu_to_be_32(0xc6120001u);
    h.hdr_checksum = rte_ipv4_cksum(&h);
  }
  return a;
}

// The checksum a receiver verifies: the sum over the header with the field in place is 0xffff.
bool valid(const rte_ipv4_hdr& h) { return rte_raw_cksum(&h, sizeof(h)) == 0xffff; }

void report(benchmark::State& state, uint64_t cycles) {
  const auto items = static_cast<int64_t>(state.iterations() * kHeaders);
  state.SetItemsProcessed(items);
  if (items != 0) {
    const double cpp = static_cast<double>(cycles) / static_cast<double>(items);
    state.counters["cyc/hdr"] = cpp;
    state.counters["ns/hdr"] = cpp * 1e9 / static_cast<double>(rte_get_tsc_hz());
  }
}

// Times `update` over every header per iteration, then checks each header still verifies.
template <typename Update>
void time_updates(benchmark::State& state, const char* what, Update update) {
  auto hs = make_headers();
  uint64_t cycles = 0;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc();
    for (auto& l : hs) update(l.ip);
    benchmark::ClobberMemory();
    cycles += rte_rdtsc() - t0;
  }
  for (const auto& l : hs) {
    if (!valid(l.ip)) {
      state.SkipWithError((std::string(what) + " produced a wrong checksum").c_str());
      return;
    }
  }
  report(state, cycles);
}

void BM_TtlUpdate16(benchmark::State& state) {
  time_updates(state, "update16", [](rte_ipv4_hdr& h) {
    uint16_t old_w;
    std::memcpy(&old_w, &h.time_to_live, 2);
    h.time_to_live--;
    uint16_t new_w;
    std::memcpy(&new_w, &h.time_to_live, 2);
    h.hdr_checksum = csum::update16(h.hdr_checksum, old_w, new_w);
  });
}

// The same update, with the TTL/protocol word read once, decremented as a word and stored whole:
// no 1-byte store followed by an overlapping 2-byte load (which cannot be store-forwarded and
// stalls until the store retires; BM_TtlUpdate16 pays that on every header).
void BM_TtlUpdate16Word(benchmark::State& state) {
  time_updates(state, "update16 (word)", [](rte_ipv4_hdr& h) {
    uint16_t old_w;
    std::memcpy(&old_w, &h.time_to_live, 2);
    const auto new_w = static_cast<uint16_t>(old_w - rte_cpu_to_be_16(0x0100));
    std::memcpy(&h.time_to_live, &new_w, 2);
    h.hdr_checksum = csum::update16(h.hdr_checksum, old_w, new_w);
  });
}

void BM_TtlFullCksum(benchmark::State& state) {
  time_updates(state, "rte_ipv4_cksum", [](rte_ipv4_hdr& h) {
    h.time_to_live--;
    h.hdr_checksum = 0;
    h.hdr_checksum = rte_ipv4_cksum(&h);
  });
}

void BM_AddrUpdate32(benchmark::State& state) {
  uint32_t next = 0x0b000001u;
  time_updates(state, "update32", [&next](rte_ipv4_hdr& h) {
    const uint32_t old_v = h.src_addr;
    const uint32_t new_v = rte_cpu_to_be_32(next++);
    h.src_addr = new_v;
    h.hdr_checksum = csum::update32(h.hdr_checksum, old_v, new_v);
  });
}

void BM_AddrFullCksum(benchmark::State& state) {
  uint32_t next = 0x0b000001u;
  time_updates(state, "rte_ipv4_cksum", [&next](rte_ipv4_hdr& h) {
    h.src_addr = rte_cpu_to_be_32(next++);
    h.hdr_checksum = 0;
    h.hdr_checksum = rte_ipv4_cksum(&h);
  });
}

// A router's check of every header it receives (RFC 1812 5.2.2): csum::ip4_header_sum over
// state.range(0) bytes (20, or 60 with 40 bytes of options as IPIM, record route or timestamp
// options make it), one header per 64-byte line.
void BM_VerifyHeader(benchmark::State& state) {
  const auto hlen = static_cast<uint32_t>(state.range(0));
  struct alignas(64) Hdr {
    uint8_t b[64];
  };
  std::vector<Hdr> hs(kHeaders);
  for (size_t i = 0; i < kHeaders; ++i) {
    uint8_t* b = hs[i].b;
    for (uint32_t k = 0; k < hlen; ++k) b[k] = static_cast<uint8_t>(i * 31 + k * 7);
    b[0] = static_cast<uint8_t>(0x40 | hlen / 4);
    put16(b + 10, 0);
    put16(b + 10, static_cast<uint16_t>(~csum::sum(b, hlen)));
  }
  uint64_t cycles = 0, good = 0;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc();
    for (const Hdr& h : hs) good += csum::ip4_header_sum(h.b, hlen) == 0xffff;
    benchmark::DoNotOptimize(good);
    cycles += rte_rdtsc() - t0;
  }
  if (good != state.iterations() * kHeaders) state.SkipWithError("a header failed its check");
  report(state, cycles);
}

double min_of(const std::vector<double>& v) { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }

BENCHMARK(BM_TtlUpdate16)->ComputeStatistics("min", min_of);
BENCHMARK(BM_TtlUpdate16Word)->ComputeStatistics("min", min_of);
BENCHMARK(BM_TtlFullCksum)->ComputeStatistics("min", min_of);
BENCHMARK(BM_AddrUpdate32)->ComputeStatistics("min", min_of);
BENCHMARK(BM_AddrFullCksum)->ComputeStatistics("min", min_of);
BENCHMARK(BM_VerifyHeader)->Arg(20)->Arg(40)->Arg(60)->ComputeStatistics("min", min_of);

}  // namespace
}  // namespace pathlab::bench
