#pragma once
// Classic pcap files (not pcapng): a reader for Ethernet captures with microsecond or nanosecond
// timestamps in either byte order, and a writer of Ethernet captures in the host's byte order.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace pathlab {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

struct PcapRecord {
  uint64_t ts_ns = 0;     // capture time, nanoseconds since the epoch
  uint32_t orig_len = 0;  // length on the wire (the frame may have been cut to caplen)
  std::span<const uint8_t> frame;  // the captured bytes; valid until the next call to next()
};

class PcapReader {
 public:
  // Throws std::runtime_error naming the file for a missing file, pcapng, an unknown magic or a
  // link type other than Ethernet (1).
  explicit PcapReader(const std::string& path);
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  // The next record; false at the end of the file. Throws on a truncated record.
  bool next(PcapRecord& rec);
  bool nanosecond() const { return nano_; }
  uint64_t records() const { return count_; }

 private:
  uint32_t u32(const uint8_t* p) const;

  std::string path_;
  FilePtr f_;
  bool swapped_ = false;
  bool nano_ = false;
  uint64_t count_ = 0;
  std::vector<uint8_t> buf_;
};

// Writes to a temporary file next to path (`.<name>.tmp-<pid>`), renamed to path by close(): path
// is either absent or complete, never torn.
class PcapWriter {
 public:
  // Creates the temporary file and writes the file header. Throws std::runtime_error on failure.
  PcapWriter(const std::string& path, bool nanosecond);
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;
  // Removes the temporary file unless close() renamed it.
  ~PcapWriter();

  // Writes one record; `segments` are the frame's pieces in order (an mbuf chain).
  void write(uint64_t ts_ns, std::span<const std::span<const uint8_t>> segments);
  void write(uint64_t ts_ns, std::span<const uint8_t> frame) { write(ts_ns, {&frame, 1}); }
  // Writes buffered records out; throws on a write error.
  void flush();
  // Flushes, closes and renames the temporary file to path; throws on an error (and removes it).
  void close();
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }
  uint64_t records() const { return count_; }

  static constexpr uint32_t kSnaplen = 262144;

 private:
  std::string path_;
  std::string tmp_;  // empty once renamed
  FilePtr f_;
  bool nano_ = false;
  uint64_t count_ = 0;
};

}  // namespace pathlab
