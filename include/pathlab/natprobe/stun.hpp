#pragma once
// The STUN message format (RFC 5389) with the NAT behaviour-discovery attributes of RFC 5780:
// Binding requests and responses, the address attributes, CHANGE-REQUEST, RESPONSE-PORT,
// PADDING, ERROR-CODE, UNKNOWN-ATTRIBUTES, SOFTWARE and FINGERPRINT. Host code only.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pathlab::natprobe {

constexpr uint32_t kMagicCookie = 0x2112A442;
constexpr size_t kHeaderSize = 20;

// Message types (method Binding, RFC 5389 §6 and §18.1).
constexpr uint16_t kBindingRequest = 0x0001;
constexpr uint16_t kBindingIndication = 0x0011;
constexpr uint16_t kBindingSuccess = 0x0101;
constexpr uint16_t kBindingError = 0x0111;

// Attribute types (RFC 5389 §18.2, RFC 5780 §9).
enum Attr : uint16_t {
  kMappedAddress = 0x0001,
  kChangeRequest = 0x0003,
  kErrorCode = 0x0009,
  kUnknownAttributes = 0x000A,
  kMessageIntegrity = 0x0008,
  kXorMappedAddress = 0x0020,
  kPadding = 0x0026,
  kResponsePort = 0x0027,
  kSoftware = 0x8022,
  kFingerprint = 0x8028,
  kResponseOrigin = 0x802B,
  kOtherAddress = 0x802C,
};

// CHANGE-REQUEST flags.
constexpr uint32_t kChangeIp = 0x4, kChangePort = 0x2;

using TxId = std::array<uint8_t, 12>;

// A transport address: IPv4 (the first 4 bytes of addr) or IPv6.
struct Endpoint {
  bool ip6 = false;
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
  std::string text() const;  // 192.0.2.1:3478, [2001:db8::1]:3478
  bool same_ip(const Endpoint& o) const { return ip6 == o.ip6 && addr == o.addr; }
};
// A numeric address (no name lookup); nullopt when it is not one.
std::optional<Endpoint> parse_ip(const std::string& s, uint16_t port);

struct ErrorCode {
  unsigned code = 0;  // 300..699
  std::string reason;
  bool operator==(const ErrorCode&) const = default;
};

struct Message {
  uint16_t type = kBindingRequest;
  TxId txid{};
  std::optional<Endpoint> mapped, xor_mapped, response_origin, other_address;
  std::optional<uint32_t> change_request;  // the flags word
  std::optional<uint16_t> response_port;
  std::optional<size_t> padding;           // PADDING's length (its bytes are zero when sent)
  std::optional<ErrorCode> error;
  std::vector<uint16_t> unknown_attributes;  // UNKNOWN-ATTRIBUTES (error 420)
  std::optional<std::string> software;
  bool fingerprint = false;                  // encode: append one; decode: one was present and valid
  // decode: comprehension-required attributes (< 0x8000) this codec does not know.
  std::vector<uint16_t> unknown_required;
};

// The wire form; the length field and FINGERPRINT are filled in. std::length_error past 64 KiB.
std::vector<uint8_t> encode(const Message& m);

struct Decoded {
  std::optional<Message> msg;
  std::string error;  // why not, when msg is empty
};
// Checks the header (leading zero bits, length a multiple of 4 and equal to the datagram's,
// the magic cookie), every attribute's bounds and length, and FINGERPRINT when present (which
// must then be last). Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored.
Decoded decode(std::span<const uint8_t> wire);

uint32_t crc32(std::span<const uint8_t> data);

}  // namespace pathlab::natprobe
