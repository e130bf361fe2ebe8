// Fuzz target: the pcap reader (lib/replay/pcap.cc), on a memfd holding the input. Every record
// read is copied into an mbuf ending at its last byte and put through the router's input checks
// and the packet view, as replay's frames are. The reader's contract is std::runtime_error for a
// bad file; anything else escaping aborts.
// Input: a pcap file.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include "common.hpp"
#include "pathlab/replay/pcap.hpp"

using namespace plfuzz;

namespace {
int g_fd = -1;
std::string g_path;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  init_eal();
  g_fd = memfd_create("plfuzz-pcap", 0);
  if (g_fd < 0) std::abort();
  g_path = fmt::format("/proc/self/fd/{}", g_fd);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (ftruncate(g_fd, 0) != 0 || pwrite(g_fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
  try {
    pathlab::PcapReader rd(g_path);
    pathlab::PcapRecord rec;
    for (int i = 0; i < 64 && rd.next(rec); ++i) {
      FUZZ_CHECK(rd.records() == static_cast<uint64_t>(i) + 1, "record count");
      rte_mbuf* m = make_packet(rec.frame, Buf::Exact);
      if (m == nullptr) continue;
      router_input(m, true, true);
      touch_view(m);
      rte_pktmbuf_free(m);
    }
  } catch (const std::runtime_error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\n==plfuzz== PcapReader threw %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  end_iteration();
  return 0;
}
