#pragma once
// The end-to-end block (docs/ipim.md, "End-to-end block"): the endpoints' fields that travel in
// the UDP payload of a probe and of its echo, and the integrity digests over header fields.
// Host code only: no DPDK.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pathlab::ipim {

inline constexpr uint32_t kE2eMagic = 0x4950494d;  // "IPIM"
inline constexpr uint8_t kE2eVersion = 1;
inline constexpr uint8_t kE2eProbe = 1, kE2eEcho = 2;
inline constexpr unsigned kE2eProbeLen = 52;  // a probe's block
inline constexpr unsigned kE2eEchoFixed = 56; // an echo's block before the option it saw

// Integrity groups: coverage bit i, digest byte i.
inline constexpr unsigned kGroups = 8;
enum Group : unsigned { kDscp, kEcn, kDfOrFlow, kIpId, kSrc, kDst, kPorts, kLength };
inline constexpr uint16_t kCoverAll = 0xff;
// "dscp", "ecn", "df" (IPv4) or "flowlabel" (IPv6), "ipid", "src", "dst", "ports", "length".
const char* group_name(unsigned group, bool ip6);
// Parses a comma list of group names ("all", "none", "df" and "flowlabel" both name group 2);
// nullopt for an unknown name.
std::optional<uint16_t> parse_coverage(const std::string& list);

enum IntegrityMode : uint8_t { kModePlain = 0, kModeSenderSalt = 1, kModeSharedSalt = 2 };

struct E2eBlock {
  uint8_t type = kE2eProbe;
  uint16_t host_id = 0;
  uint32_t seq = 0;
  uint32_t nonce = 0;
  uint32_t nonce_sum = 0;  // sum of the peer's nonces received in this run
  uint32_t t = 0;          // send time, us mod 2^32
  uint32_t t_echo = 0;     // t of the peer's last packet
  uint32_t delta = 0;      // us from that arrival to this send
  uint16_t coverage = 0;
  uint8_t mode = kModePlain;
  std::array<uint8_t, kGroups> hash{};
  std::array<uint8_t, kGroups> hash_echo{};
  // Echo only: the probe as the reflector received it.
  uint8_t rx_ttl = 0;
  uint8_t rx_tos = 0;
  std::vector<uint8_t> rx_option;  // the IPIM option, type byte first; empty if none
};

std::vector<uint8_t> encode_e2e(const E2eBlock& b);
// nullopt unless the payload starts with a whole version-1 block (magic, known type, and for an
// echo the option bytes it announces).
std::optional<E2eBlock> decode_e2e(std::span<const uint8_t> payload);

// For `decode`: the block's fields as JSON (docs/ipim.md "Decoders": the keys of
// tools/scapy/ipim.py decode_e2e; null: a block cut short) and as a few lines of text.
std::string e2e_json(const E2eBlock* b);
std::string e2e_text(const E2eBlock& b, const std::string& indent);

// The header fields the integrity groups cover, as sent or as received.
struct HeaderFields {
  bool ip6 = false;
  uint8_t tos = 0;            // IPv4 TOS or IPv6 Traffic Class
  uint32_t df_or_flow = 0;    // IPv4 DF bit (0/1) or IPv6 flow label (20 bits)
  uint16_t ip_id = 0;         // IPv4 identification
  std::array<uint8_t, 16> src{}, dst{};  // IPv4 uses the first 4 bytes
  uint16_t sport = 0, dport = 0;
  uint16_t payload_len = 0;   // IPv4 total length - header length; IPv6 Payload Length
};

// Byte i: the low byte of FNV-1a-32 over salt | i | field i, for the covered groups; 0 otherwise.
std::array<uint8_t, kGroups> digests(const HeaderFields& h, uint16_t coverage,
                                     std::span<const uint8_t> salt = {});
// Groups (as a coverage mask) whose digest differs between a and b, among those covered.
uint16_t changed_groups(uint16_t coverage, const std::array<uint8_t, kGroups>& a,
                        const std::array<uint8_t, kGroups>& b);

}  // namespace pathlab::ipim
