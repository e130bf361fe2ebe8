// The pcap reader and writer on files made here byte by byte (the classic format of
// pcap-savefile(5)): bounds a hostile header cannot move, no descriptor leaked by a refused file,
// empty records, a round trip, and the writer's temporary file.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pathlab/replay/pcap.hpp"

namespace {

using Bytes = std::vector<uint8_t>;
namespace fs = std::filesystem;

void put32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void version_2_4(Bytes& b) {
  for (const uint8_t x : {2, 0, 4, 0}) b.push_back(x);
}

Bytes file_header(uint32_t snaplen, uint32_t linktype = 1) {
  Bytes b;
  put32(b, 0xa1b2c3d4);
  version_2_4(b);
  put32(b, 0);
  put32(b, 0);
  put32(b, snaplen);
  put32(b, linktype);
  return b;
}

void record(Bytes& b, uint32_t sec, uint32_t usec, uint32_t caplen, uint32_t len, const Bytes& data) {
  put32(b, sec);
  put32(b, usec);
  put32(b, caplen);
  put32(b, len);
  b.insert(b.end(), data.begin(), data.end());
}

class Pcap : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pl-pcap-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const Bytes& b) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
    return p;
  }
  fs::path dir_;
};

size_t open_fds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST_F(Pcap, RefusedFilesLeakNoDescriptor) {
  const std::string bad_link = write("linktype.pcap", file_header(65535, 101));
  const std::string bad_magic = write("magic.pcap", Bytes(24, 0x42));
  const std::string short_file = write("short.pcap", Bytes(10, 0));
  const size_t before = open_fds();
  // More than the usual 1024-descriptor limit: a leak would end in EMFILE.
  for (int i = 0; i < 1500; ++i) {
    for (const auto& p : {bad_link, bad_magic, short_file}) {
      EXPECT_THROW(pathlab::PcapReader{p}, std::runtime_error);
    }
  }
  EXPECT_EQ(open_fds(), before);
}

TEST_F(Pcap, CaplenIsBoundedWhateverTheSnaplenSays) {
  Bytes b = file_header(0xffffffff);
  record(b, 1, 0, 1u << 30, 1u << 30, {});  // 1 GiB announced in a 40-byte file
  pathlab::PcapReader rd(write("huge.pcap", b));
  pathlab::PcapRecord rec;
  try {
    rd.next(rec);
    FAIL() << "a 1 GiB record was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds 262144"), std::string::npos) << e.what();
  }
}

TEST_F(Pcap, LargestCaplenIsRead) {
  Bytes b = file_header(0);  // some writers leave snaplen 0
  const Bytes frame(262144, 0xab);
  record(b, 1, 0, 262144, 262144, frame);
  pathlab::PcapReader rd(write("max.pcap", b));
  pathlab::PcapRecord rec;
  ASSERT_TRUE(rd.next(rec));
  EXPECT_EQ(rec.frame.size(), 262144u);
  EXPECT_FALSE(rd.next(rec));
}

TEST_F(Pcap, EmptyRecordIsARecord) {
  Bytes b = file_header(65535);
  record(b, 7, 250, 0, 60, {});
  record(b, 8, 0, 2, 2, {0x01, 0x02});
  pathlab::PcapReader rd(write("empty.pcap", b));
  pathlab::PcapRecord rec;
  ASSERT_TRUE(rd.next(rec));
  EXPECT_EQ(rec.frame.size(), 0u);
  EXPECT_EQ(rec.orig_len, 60u);
  EXPECT_EQ(rec.ts_ns, 7000250000ull);
  ASSERT_TRUE(rd.next(rec));
  EXPECT_EQ(rec.frame.size(), 2u);
  EXPECT_FALSE(rd.next(rec));
  EXPECT_EQ(rd.records(), 2u);
}

TEST_F(Pcap, TruncatedRecordNamesIt) {
  Bytes b = file_header(65535);
  record(b, 1, 0, 4, 4, {1, 2, 3, 4});
  record(b, 1, 0, 100, 100, {1, 2, 3});
  pathlab::PcapReader rd(write("trunc.pcap", b));
  pathlab::PcapRecord rec;
  ASSERT_TRUE(rd.next(rec));
  try {
    rd.next(rec);
    FAIL() << "a truncated record was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("record 2: truncated"), std::string::npos) << e.what();
  }
}

TEST_F(Pcap, WriterRoundTripsBytesAndNanoseconds) {
  const std::string p = (dir_ / "out.pcap").string();
  const Bytes a = {1, 2, 3}, c = {4, 5};
  {
    pathlab::PcapWriter w(p, true);
    const std::span<const uint8_t> segs[] = {a, c};
    w.write(1234567890123ull, segs);
    w.write(5, std::span<const uint8_t>{});
    w.close();
  }
  std::ifstream in(p, std::ios::binary);
  const Bytes got((std::istreambuf_iterator<char>(in)), {});
  Bytes want;
  put32(want, 0xa1b23c4d);
  version_2_4(want);
  put32(want, 0);
  put32(want, 0);
  put32(want, 262144);
  put32(want, 1);
  record(want, 1234, 567890123, 5, 5, {1, 2, 3, 4, 5});
  record(want, 0, 5, 0, 0, {});
  EXPECT_EQ(got, want);
  pathlab::PcapReader rd(p);
  EXPECT_TRUE(rd.nanosecond());
  pathlab::PcapRecord rec;
  ASSERT_TRUE(rd.next(rec));
  EXPECT_EQ(rec.ts_ns, 1234567890123ull);
}

std::vector<std::string> names(const fs::path& dir) {
  std::vector<std::string> n;
  for (const auto& e : fs::directory_iterator(dir)) n.push_back(e.path().filename().string());
  return n;
}

// Until close(), records go to a temporary file next to the output; close() renames it.
TEST_F(Pcap, WriterRenamesItsTemporaryFileOnClose) {
  const std::string p = (dir_ / "out.pcap").string();
  pathlab::PcapWriter w(p, false);
  const std::string tmp = (dir_ / (".out.pcap.tmp-" + std::to_string(getpid()))).string();
  EXPECT_EQ(w.temp_path(), tmp);
  w.write(1, Bytes{1, 2, 3});
  w.flush();
  EXPECT_FALSE(fs::exists(p));
  EXPECT_EQ(fs::file_size(tmp), 24u + 16u + 3u);
  w.close();
  EXPECT_EQ(names(dir_), std::vector<std::string>{"out.pcap"});
  EXPECT_EQ(fs::file_size(p), 24u + 16u + 3u);
}

// A writer destroyed without close() (an error, an exception) leaves nothing, and an older file
// at the output's path as it was.
TEST_F(Pcap, WriterNotClosedLeavesNothing) {
  const std::string p = write("out.pcap", Bytes{'o', 'l', 'd'});
  {
    pathlab::PcapWriter w(p, false);
    w.write(1, Bytes(100, 7));
    w.flush();
    EXPECT_EQ(names(dir_).size(), 2u);
  }
  EXPECT_EQ(names(dir_), std::vector<std::string>{"out.pcap"});
  EXPECT_EQ(fs::file_size(p), 3u);
}

TEST_F(Pcap, WriterInAMissingDirectoryThrows) {
  const std::string p = (dir_ / "no/such/out.pcap").string();
  EXPECT_THROW(pathlab::PcapWriter(p, false), std::runtime_error);
  EXPECT_TRUE(names(dir_).empty());
}

}  // namespace
