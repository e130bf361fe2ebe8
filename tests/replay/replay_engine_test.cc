// run_replay in-process on captures made here byte by byte: empty (caplen 0) records, frames
// larger than an mbuf, a stop signal, and failures that must leave no output. Suite replay-unit,
// not replay: scripts/test --sanitize runs it under ASan+UBSan (an empty record once passed a
// null source to memcpy).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <rte_eal.h>

#include "pathlab/config/loader.hpp"
#include "pathlab/replay/pcap.hpp"
#include "pathlab/replay/replay.hpp"

namespace {

using Bytes = std::vector<uint8_t>;
namespace fs = std::filesystem;

const char* kYaml =
    "process: {burst: 32}\n"
    "routers:\n"
    "  - id: r1\n"
    "    ports:\n"
    "      - {name: p0, device: d0, mac: \"02:00:00:00:00:01\", ipv4: 10.0.0.1/24}\n"
    "      - {name: p1, device: d1, mac: \"02:00:00:00:01:01\", ipv4: 10.0.1.1/24}\n"
    "    routes:\n"
    "      - {prefix: 10.1.0.0/16, via: 10.0.1.2}\n"
    "    neighbours:\n"
    "      - {port: p1, ip: 10.0.1.2, mac: \"02:00:00:00:01:02\"}\n";

pathlab::Config config() { return pathlab::load_config_string(kYaml, "t.yaml", {}); }

// EAL as `pathlab replay` starts it (default options), once per process.
class ReplayEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    std::vector<std::string> args = pathlab::replay_eal_args(config(), pathlab::ReplayOptions{});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0) << "rte_eal_init";
    dir_ = rte_eal_get_runtime_dir();
  }
  void TearDown() override {
    rte_eal_cleanup();
    rmdir(dir_.c_str());
  }

 private:
  std::string dir_;
};
::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new ReplayEnv);

void put32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

Bytes file_header() {
  Bytes b;
  for (const uint32_t v : {0xa1b2c3d4u, 0x00040002u, 0u, 0u, 262144u, 1u}) put32(b, v);
  return b;
}

// One record of `frame` cut to `caplen` bytes, at 1 s + `usec`.
void record(Bytes& b, const Bytes& frame, size_t caplen = SIZE_MAX, uint32_t usec = 0) {
  caplen = std::min(caplen, frame.size());
  put32(b, 1);
  put32(b, usec);
  put32(b, static_cast<uint32_t>(caplen));
  put32(b, static_cast<uint32_t>(frame.size()));
  b.insert(b.end(), frame.begin(), frame.begin() + static_cast<ptrdiff_t>(caplen));
}

// 60 bytes to r1.p0's MAC: IPv4/UDP from 10.0.0.2 to 10.1.0.9, forwarded out of p1.
Bytes udp_frame() {
  Bytes f = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
  const Bytes ip = {0x45, 0, 0, 46, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 1, 0, 9};
  uint32_t sum = 0;
  for (size_t i = 0; i < ip.size(); i += 2) sum += uint32_t{ip[i]} << 8 | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  f.insert(f.end(), ip.begin(), ip.end());
  f[24] = static_cast<uint8_t>(~sum >> 8);
  f[25] = static_cast<uint8_t>(~sum);
  const Bytes udp = {0x04, 0xd2, 0, 53, 0, 26, 0, 0};
  f.insert(f.end(), udp.begin(), udp.end());
  f.resize(60, 'x');
  return f;
}

// The number after "key": in a JSON summary (the first occurrence).
uint64_t number(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) throw std::runtime_error("no " + key + " in " + json);
  return std::stoull(json.substr(at + key.size() + 3));
}

class Replay : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pl-replay-engine-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    opt_.in = (dir_ / "in.pcap").string();
    opt_.out = (dir_ / "out.pcap").string();
    opt_.threads = 1;
    opt_.json = true;
  }
  void TearDown() override { fs::remove_all(dir_); }
  void input(const Bytes& b) {
    std::ofstream(opt_.in, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
  }
  // Runs the replay (of kYaml unless `yaml` is given); the summary goes to summary_.
  pathlab::ReplayResult run(const char* yaml = nullptr) {
    ::testing::internal::CaptureStdout();
    try {
      const pathlab::ReplayResult r = pathlab::run_replay(
          yaml == nullptr ? config() : pathlab::load_config_string(yaml, "t.yaml", {}), opt_);
      summary_ = ::testing::internal::GetCapturedStdout();
      return r;
    } catch (...) {
      summary_ = ::testing::internal::GetCapturedStdout();
      throw;
    }
  }
  std::vector<std::string> files() const {
    std::vector<std::string> n;
    for (const auto& e : fs::directory_iterator(dir_)) n.push_back(e.path().filename().string());
    std::sort(n.begin(), n.end());
    return n;
  }
  uint64_t records(const std::string& port) const {
    pathlab::PcapReader r(pathlab::replay_output_path(opt_.out, "r1", port));
    pathlab::PcapRecord rec;
    while (r.next(rec)) {
    }
    return r.records();
  }

  fs::path dir_;
  pathlab::ReplayOptions opt_;
  std::string summary_;
};

// Records with caplen 0 (the first ones: the reader's buffer is still unallocated) are runts.
TEST_F(Replay, EmptyRecordsAreRunts) {
  Bytes b = file_header();
  for (int i = 0; i < 3; ++i) record(b, udp_frame(), 0);
  record(b, udp_frame());
  record(b, udp_frame(), 0);
  record(b, udp_frame());
  input(b);
  const pathlab::ReplayResult r = run();
  EXPECT_TRUE(r.balanced) << summary_;
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(number(summary_, "packets"), 6u);
  EXPECT_EQ(number(summary_, "eth/runt"), 4u) << summary_;
  EXPECT_EQ(records("p1"), 2u);
}

// Frames larger than an mbuf are counted as the router counts a chain (eth/multi_segment) and
// take no mbuf: 200 of 64 KiB once needed 33 mbufs each, more than the pool of one thread.
TEST_F(Replay, OversizedFramesTakeNoMbuf) {
  Bytes b = file_header();
  const Bytes big(65535, 0xee);
  uint64_t bytes = 0;
  for (int i = 0; i < 220; ++i) {
    record(b, i % 11 == 0 ? udp_frame() : big);
    bytes += i % 11 == 0 ? 60 : big.size();
  }
  input(b);
  const pathlab::ReplayResult r = run();
  EXPECT_TRUE(r.balanced) << summary_;
  EXPECT_EQ(number(summary_, "eth/multi_segment"), 200u) << summary_;
  EXPECT_EQ(number(summary_, "rx_packets"), 220u);
  EXPECT_EQ(number(summary_, "rx_bytes"), bytes);
  EXPECT_EQ(records("p1"), 20u);
}

// A stop signal before the first record: nothing is read, the (empty) outputs are complete and
// in place, and the summary says why.
TEST_F(Replay, StopSignalEndsTheReading) {
  Bytes b = file_header();
  for (int i = 0; i < 100; ++i) record(b, udp_frame());
  input(b);
  std::atomic<int> stop{SIGTERM};
  opt_.stop = &stop;
  const pathlab::ReplayResult r = run();
  EXPECT_TRUE(r.balanced) << summary_;
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_NE(summary_.find("\"interrupted\":true,\"signal\":\"SIGTERM\""), std::string::npos) << summary_;
  EXPECT_EQ(number(summary_, "packets"), 0u);
  EXPECT_EQ(files(), (std::vector<std::string>{"in.pcap", "out.r1.p0.pcap", "out.r1.p1.pcap"}));
  EXPECT_EQ(records("p1"), 0u);
}

// An input that fails half-way leaves no output, torn or empty; an older output stays as it was.
TEST_F(Replay, FailedReplayLeavesNoOutput) {
  Bytes b = file_header();
  for (int i = 0; i < 3000; ++i) record(b, udp_frame());
  b.resize(b.size() - 10);
  input(b);
  std::ofstream(pathlab::replay_output_path(opt_.out, "r1", "p1")) << "old";
  opt_.chunk = 64;
  EXPECT_THROW(run(), std::runtime_error);
  EXPECT_EQ(files(), (std::vector<std::string>{"in.pcap", "out.r1.p1.pcap"}));
  EXPECT_EQ(fs::file_size(pathlab::replay_output_path(opt_.out, "r1", "p1")), 3u);
}

TEST_F(Replay, UnwritableOutputLeavesNothing) {
  Bytes b = file_header();
  record(b, udp_frame());
  input(b);
  opt_.out = (dir_ / "missing" / "out.pcap").string();
  EXPECT_THROW(run(), std::runtime_error);
  EXPECT_EQ(files(), std::vector<std::string>{"in.pcap"});
}

}  // namespace

// A link stage on p1's egress (docs/links.md) runs on the capture's clock: 60 B frames 1 ms
// apart fit a 1 Mbit/s link (672 us each); ten at once fill its queue of 3. Every packet arrives
// at its own timestamp, whatever process.burst: the spaced frames all fit with bursts of 32 too.
// The outputs are nanosecond pcaps in time order.
static std::string with_link(int burst, const std::string& link) {
  std::string y = kYaml;
  y.replace(y.find("burst: 32"), 9, "burst: " + std::to_string(burst));
  const std::string p1 = "ipv4: 10.0.1.1/24}";
  y.replace(y.find(p1), p1.size(), "ipv4: 10.0.1.1/24, egress: [{stage: link, " + link + "}]}");
  return y;
}

TEST_F(Replay, LinkStageRunsOnTheCaptureClock) {
  Bytes spaced = file_header(), together = file_header();
  for (uint32_t i = 0; i < 10; ++i) {
    record(spaced, udp_frame(), SIZE_MAX, i * 1000);
    record(together, udp_frame());
  }
  struct Case {
    const Bytes* in;
    int burst;
    uint64_t sent;
  };
  for (const Case& c : {Case{&spaced, 1, 10}, Case{&together, 1, 3}, Case{&spaced, 32, 10}, Case{&together, 32, 3}}) {
    input(*c.in);
    const std::string y = with_link(c.burst, "rate: 1mbit, queue: {packets: 3}");
    const pathlab::ReplayResult r = run(y.c_str());
    EXPECT_TRUE(r.balanced) << summary_;
    EXPECT_EQ(records("p1"), c.sent) << c.burst << summary_;
    EXPECT_EQ(number(summary_, "r1.p1.egress.link.queue_full"), 10 - c.sent) << summary_;
    pathlab::PcapReader out(pathlab::replay_output_path(opt_.out, "r1", "p1"));
    EXPECT_TRUE(out.nanosecond());
    pathlab::PcapRecord rec;
    uint64_t last = 0;
    while (out.next(rec)) {
      EXPECT_GE(rec.ts_ns, last);
      last = rec.ts_ns;
    }
  }
}

// With a holding stage the output does not depend on --chunk or --threads: the link's random
// stream runs from the start, in order (not reseeded per chunk), and frames larger than an mbuf
// in the middle of the capture change nothing but the counters.
TEST_F(Replay, LinkReplayIsTheSameForAnyChunk) {
  Bytes b = file_header();
  const Bytes big(65535, 0xee);
  for (uint32_t i = 0; i < 400; ++i) {
    record(b, i % 7 == 3 ? big : udp_frame(), SIZE_MAX, i / 3 * 300);  // three at a time, 300 us apart
  }
  input(b);
  const std::string y = with_link(4, "rate: 1mbit, queue: {packets: 5}, loss: {random: 0.3}, seed: 5");
  const std::string p1 = pathlab::replay_output_path(opt_.out, "r1", "p1");
  auto slurp = [](const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  std::string first;
  uint64_t full = 0, lost = 0;
  for (const auto& [chunk, threads] : {std::pair{1u, 1u}, {4u, 2u}, {64u, 3u}, {1000u, 1u}}) {
    opt_.chunk = chunk;
    opt_.threads = threads;
    const pathlab::ReplayResult r = run(y.c_str());
    EXPECT_TRUE(r.balanced) << summary_;
    EXPECT_EQ(number(summary_, "eth/multi_segment"), 57u) << summary_;
    if (first.empty()) {
      first = slurp(p1);
      full = number(summary_, "r1.p1.egress.link.queue_full");
      lost = number(summary_, "r1.p1.egress.link.loss");
      EXPECT_GT(full, 0u);
      EXPECT_GT(lost, 0u);
      EXPECT_EQ(records("p1"), 343u - full - lost);
    } else {
      EXPECT_EQ(slurp(p1), first) << "chunk " << chunk << ", threads " << threads;
      EXPECT_EQ(number(summary_, "r1.p1.egress.link.queue_full"), full);
      EXPECT_EQ(number(summary_, "r1.p1.egress.link.loss"), lost);
    }
  }
}
