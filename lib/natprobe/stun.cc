// STUN message encoding and decoding (RFC 5389 §6, §15; RFC 5780 §7).
#include "pathlab/natprobe/stun.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace pathlab::natprobe {

namespace {

constexpr uint32_t kFingerprintXor = 0x5354554e;
constexpr size_t kMaxSoftware = 763;

void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t{get16(p)} << 16 | get16(p + 2); }

// The bytes an XOR address is XORed with: the cookie, then the transaction id.
std::array<uint8_t, 16> xor_pad(const TxId& txid) {
  std::array<uint8_t, 16> pad{0x21, 0x12, 0xA4, 0x42};
  std::memcpy(pad.data() + 4, txid.data(), txid.size());
  return pad;
}

Endpoint xored(Endpoint e, const TxId& txid) {
  const auto pad = xor_pad(txid);
  e.port ^= static_cast<uint16_t>(kMagicCookie >> 16);
  for (size_t i = 0; i < (e.ip6 ? 16u : 4u); ++i) e.addr[i] ^= pad[i];
  return e;
}

void put_attr(std::vector<uint8_t>& b, uint16_t type, std::span<const uint8_t> value) {
  put16(b, type);
  put16(b, static_cast<uint16_t>(value.size()));
  b.insert(b.end(), value.begin(), value.end());
  while (b.size() % 4) b.push_back(0);
}

void put_address(std::vector<uint8_t>& b, uint16_t type, const Endpoint& e) {
  std::vector<uint8_t> v{0, static_cast<uint8_t>(e.ip6 ? 0x02 : 0x01)};
  put16(v, e.port);
  v.insert(v.end(), e.addr.begin(), e.addr.begin() + (e.ip6 ? 16 : 4));
  put_attr(b, type, v);
}

std::optional<Endpoint> get_address(const uint8_t* p, size_t n) {
  if (n < 4) return std::nullopt;
  Endpoint e;
  if (p[1] == 0x01 && n == 8) e.ip6 = false;
  else if (p[1] == 0x02 && n == 20) e.ip6 = true;
  else return std::nullopt;
  e.port = get16(p + 2);
  std::memcpy(e.addr.data(), p + 4, n - 4);
  return e;
}

std::vector<uint8_t> word(uint32_t v) {
  std::vector<uint8_t> b;
  put32(b, v);
  return b;
}

// One attribute's value into m; an error text when it is malformed.
std::string take_attr(Message& m, uint16_t type, const uint8_t* p, size_t n) {
  const auto address = [&](std::optional<Endpoint>& into, bool x) -> std::string {
    auto e = get_address(p, n);
    if (!e) return fmt::format("attribute 0x{:04x}: bad address family or length {}", type, n);
    if (!into) into = x ? xored(*e, m.txid) : *e;
    return "";
  };
  switch (type) {
    case kMappedAddress: return address(m.mapped, false);
    case kXorMappedAddress: return address(m.xor_mapped, true);
    case kResponseOrigin: return address(m.response_origin, false);
    case kOtherAddress: return address(m.other_address, false);
    case kChangeRequest:
      if (n != 4) return fmt::format("CHANGE-REQUEST length {}", n);
      if (!m.change_request) m.change_request = get32(p);
      return "";
    case kResponsePort:
      if (n != 4) return fmt::format("RESPONSE-PORT length {}", n);
      if (!m.response_port) m.response_port = get16(p);
      return "";
    case kPadding:
      if (!m.padding) m.padding = n;
      return "";
    case kErrorCode: {
      if (n < 4) return fmt::format("ERROR-CODE length {}", n);
      const unsigned cls = p[2] & 7u, num = p[3];
      if (cls < 3 || cls > 6 || num > 99) return fmt::format("ERROR-CODE {}{:02}", cls, num);
      if (!m.error) m.error = ErrorCode{cls * 100 + num, std::string(p + 4, p + n)};
      return "";
    }
    case kUnknownAttributes:
      if (n % 2) return fmt::format("UNKNOWN-ATTRIBUTES length {}", n);
      if (!m.unknown_attributes.empty()) return "";
      for (size_t i = 0; i < n; i += 2) m.unknown_attributes.push_back(get16(p + i));
      return "";
    case kSoftware:
      if (n > kMaxSoftware) return fmt::format("SOFTWARE length {}", n);
      if (!m.software) m.software = std::string(p, p + n);
      return "";
    default:
      if (type < 0x8000) m.unknown_required.push_back(type);
      return "";
  }
}

}  // namespace

std::string Endpoint::text() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(ip6 ? AF_INET6 : AF_INET, addr.data(), buf, sizeof buf);
  return ip6 ? fmt::format("[{}]:{}", buf, port) : fmt::format("{}:{}", buf, port);
}

std::optional<Endpoint> parse_ip(const std::string& s, uint16_t port) {
  Endpoint e;
  e.port = port;
  if (inet_pton(AF_INET, s.c_str(), e.addr.data()) == 1) return e;
  e.ip6 = true;
  if (inet_pton(AF_INET6, s.c_str(), e.addr.data()) == 1) return e;
  return std::nullopt;
}

uint32_t crc32(std::span<const uint8_t> data) {
  uint32_t c = 0xFFFFFFFF;
  for (uint8_t byte : data) {
    c ^= byte;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

std::vector<uint8_t> encode(const Message& m) {
  std::vector<uint8_t> b;
  put16(b, m.type);
  put16(b, 0);
  put32(b, kMagicCookie);
  b.insert(b.end(), m.txid.begin(), m.txid.end());
  if (m.mapped) put_address(b, kMappedAddress, *m.mapped);
  if (m.xor_mapped) put_address(b, kXorMappedAddress, xored(*m.xor_mapped, m.txid));
  if (m.response_origin) put_address(b, kResponseOrigin, *m.response_origin);
  if (m.other_address) put_address(b, kOtherAddress, *m.other_address);
  if (m.change_request) put_attr(b, kChangeRequest, word(*m.change_request));
  if (m.response_port) put_attr(b, kResponsePort, word(uint32_t{*m.response_port} << 16));
  if (m.error) {
    std::vector<uint8_t> v{0, 0, static_cast<uint8_t>(m.error->code / 100),
                           static_cast<uint8_t>(m.error->code % 100)};
    v.insert(v.end(), m.error->reason.begin(), m.error->reason.end());
    put_attr(b, kErrorCode, v);
  }
  if (!m.unknown_attributes.empty()) {
    std::vector<uint8_t> v;
    for (uint16_t t : m.unknown_attributes) put16(v, t);
    put_attr(b, kUnknownAttributes, v);
  }
  if (m.software) put_attr(b, kSoftware, std::span(reinterpret_cast<const uint8_t*>(m.software->data()),
                                                   m.software->size()));
  if (m.padding) put_attr(b, kPadding, std::vector<uint8_t>(*m.padding, 0));
  const size_t body = b.size() - kHeaderSize + (m.fingerprint ? 8 : 0);
  if (body > 0xFFFF) throw std::length_error(fmt::format("STUN message of {} bytes", body));
  b[2] = static_cast<uint8_t>(body >> 8);
  b[3] = static_cast<uint8_t>(body);
  if (m.fingerprint) put_attr(b, kFingerprint, word(crc32(b) ^ kFingerprintXor));
  return b;
}

Decoded decode(std::span<const uint8_t> wire) {
  const auto fail = [](std::string why) { return Decoded{std::nullopt, std::move(why)}; };
  if (wire.size() < kHeaderSize) return fail(fmt::format("{} bytes: shorter than the header", wire.size()));
  const uint8_t* w = wire.data();
  Message m;
  m.type = get16(w);
  const size_t len = get16(w + 2);
  if (m.type & 0xC000) return fail("the two leading bits are not zero");
  if (get32(w + 4) != kMagicCookie) return fail(fmt::format("magic cookie 0x{:08x}", get32(w + 4)));
  if (len % 4) return fail(fmt::format("length {} is not a multiple of 4", len));
  if (kHeaderSize + len != wire.size())
    return fail(fmt::format("length {} but {} bytes after the header", len, wire.size() - kHeaderSize));
  std::memcpy(m.txid.data(), w + 8, m.txid.size());
  bool after_integrity = false;
  for (size_t pos = kHeaderSize; pos < wire.size();) {
    if (wire.size() - pos < 4) return fail(fmt::format("attribute header cut at offset {}", pos));
    const uint16_t type = get16(w + pos);
    const size_t n = get16(w + pos + 2), padded = (n + 3) & ~size_t{3};
    if (padded > wire.size() - pos - 4)
      return fail(fmt::format("attribute 0x{:04x} of length {} overruns the message at offset {}", type, n, pos));
    const uint8_t* v = w + pos + 4;
    if (type == kFingerprint) {
      if (n != 4 || pos + 8 != wire.size()) return fail("FINGERPRINT is not a last 4-byte attribute");
      if (get32(v) != (crc32(wire.first(pos)) ^ kFingerprintXor)) return fail("FINGERPRINT mismatch");
      m.fingerprint = true;
    } else if (type == kMessageIntegrity) {
      after_integrity = true;
    } else if (!after_integrity) {
      std::string why = take_attr(m, type, v, n);
      if (!why.empty()) return fail(std::move(why));
    }
    pos += 4 + padded;
  }
  return Decoded{std::move(m), ""};
}

}  // namespace pathlab::natprobe
