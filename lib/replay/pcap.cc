#include "pathlab/replay/pcap.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

namespace pathlab {
namespace {

constexpr uint32_t kMagicUs = 0xa1b2c3d4;
constexpr uint32_t kMagicNs = 0xa1b23c4d;
constexpr uint32_t kMagicPcapng = 0x0a0d0d0a;
constexpr uint32_t kLinktypeEthernet = 1;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", path, what));
}

// Classic pcap headers, as on disk in the writer's byte order.
struct FileHeader {
  uint32_t magic;
  uint16_t major, minor;
  int32_t thiszone;
  uint32_t sigfigs, snaplen, linktype;
};
struct RecordHeader {
  uint32_t sec, frac, caplen, len;
};
static_assert(sizeof(FileHeader) == 24 && sizeof(RecordHeader) == 16);

}  // namespace

PcapReader::PcapReader(const std::string& path) : path_(path) {
  f_.reset(std::fopen(path.c_str(), "rb"));
  if (f_ == nullptr) fail(path, fmt::format("cannot open: {}", std::strerror(errno)));
  uint8_t h[24];
  if (std::fread(h, 1, sizeof h, f_.get()) != sizeof h) fail(path, "not a pcap file (shorter than a pcap header)");
  uint32_t magic;
  std::memcpy(&magic, h, 4);
  if (magic == kMagicUs || magic == kMagicNs) {
    swapped_ = false;
  } else if (__builtin_bswap32(magic) == kMagicUs || __builtin_bswap32(magic) == kMagicNs) {
    swapped_ = true;
    magic = __builtin_bswap32(magic);
  } else if (magic == kMagicPcapng) {
    fail(path, "pcapng is not supported; convert it with `editcap -F pcap IN OUT`");
  } else {
    fail(path, fmt::format("not a pcap file (magic 0x{:08x})", magic));
  }
  nano_ = magic == kMagicNs;
  const uint32_t linktype = u32(h + 20) & 0x0fffffff;  // the top bits carry FCS information
  if (linktype != kLinktypeEthernet) {
    fail(path, fmt::format("link type {} is not Ethernet (1); only Ethernet captures can be replayed", linktype));
  }
}

uint32_t PcapReader::u32(const uint8_t* p) const {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swapped_ ? __builtin_bswap32(v) : v;
}

bool PcapReader::next(PcapRecord& rec) {
  uint8_t h[16];
  const size_t got = std::fread(h, 1, sizeof h, f_.get());
  if (got == 0 && std::feof(f_.get())) return false;
  if (got != sizeof h) fail(path_, fmt::format("record {}: truncated header", count_ + 1));
  const uint32_t sec = u32(h), frac = u32(h + 4), caplen = u32(h + 8), len = u32(h + 12);
  // The file's snaplen is not trusted (some writers leave 0, a bad file says 4 GiB): 256 KiB,
  // libpcap's largest, is the bound.
  if (caplen > PcapWriter::kSnaplen) {
    fail(path_, fmt::format("record {}: capture length {} exceeds 262144 bytes", count_ + 1, caplen));
  }
  buf_.resize(caplen);
  if (caplen != 0 && std::fread(buf_.data(), 1, caplen, f_.get()) != caplen) {
    fail(path_, fmt::format("record {}: truncated ({} bytes announced)", count_ + 1, caplen));
  }
  rec.ts_ns = uint64_t{sec} * 1000000000ull + (nano_ ? frac : uint64_t{frac} * 1000ull);
  rec.orig_len = len;
  rec.frame = {buf_.data(), caplen};
  ++count_;
  return true;
}

PcapWriter::PcapWriter(const std::string& path, bool nanosecond) : path_(path), nano_(nanosecond) {
  const std::filesystem::path p(path);
  tmp_ = (p.parent_path() / fmt::format(".{}.tmp-{}", p.filename().string(), getpid())).string();
  f_.reset(std::fopen(tmp_.c_str(), "wb"));
  if (f_ == nullptr) {
    tmp_.clear();
    fail(path, fmt::format("cannot create: {}", std::strerror(errno)));
  }
  const FileHeader h{nano_ ? kMagicNs : kMagicUs, 2, 4, 0, 0, kSnaplen, kLinktypeEthernet};
  if (std::fwrite(&h, sizeof h, 1, f_.get()) != 1) {
    const int err = errno;
    f_.reset();
    std::remove(tmp_.c_str());
    fail(path, fmt::format("write: {}", std::strerror(err)));
  }
}

PcapWriter::~PcapWriter() {
  f_.reset();
  if (!tmp_.empty()) std::remove(tmp_.c_str());
}

void PcapWriter::write(uint64_t ts_ns, std::span<const std::span<const uint8_t>> segments) {
  uint32_t len = 0;
  for (const auto& s : segments) len += static_cast<uint32_t>(s.size());
  const uint32_t sec = static_cast<uint32_t>(ts_ns / 1000000000ull);
  const uint32_t ns = static_cast<uint32_t>(ts_ns % 1000000000ull);
  const uint32_t caplen = std::min(len, kSnaplen);
  const RecordHeader h{sec, nano_ ? ns : ns / 1000, caplen, len};
  bool ok = std::fwrite(&h, sizeof h, 1, f_.get()) == 1;
  uint32_t left = caplen;
  for (const auto& s : segments) {
    const size_t n = std::min<size_t>(s.size(), left);
    if (n != 0) ok = ok && std::fwrite(s.data(), 1, n, f_.get()) == n;
    left -= static_cast<uint32_t>(n);
  }
  if (!ok) fail(path_, fmt::format("write: {}", std::strerror(errno)));
  ++count_;
}

void PcapWriter::flush() {
  if (f_ != nullptr && std::fflush(f_.get()) != 0) fail(path_, fmt::format("write: {}", std::strerror(errno)));
}

void PcapWriter::close() {
  if (tmp_.empty()) return;
  const char* what = nullptr;
  if (f_ != nullptr && std::fclose(f_.release()) != 0) {
    what = "close";
  } else if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    what = "rename";
  }
  if (what != nullptr) {
    const int err = errno;
    std::remove(tmp_.c_str());
    tmp_.clear();
    fail(path_, fmt::format("{}: {}", what, std::strerror(err)));
  }
  tmp_.clear();
}

}  // namespace pathlab
