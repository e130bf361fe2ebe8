#pragma once
// Packet fields at any alignment. load/store: big-endian values in host order; get/put: the bytes
// as they sit in the packet (network order), for checksum arithmetic and copies.
#include <cstdint>
#include <cstring>

namespace pathlab {

inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t load_be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
inline void store_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void store_be32(uint8_t* p, uint32_t v) {
  store_be16(p, static_cast<uint16_t>(v >> 16));
  store_be16(p + 2, static_cast<uint16_t>(v));
}

inline uint16_t get16(const uint8_t* p) {
  uint16_t w;
  std::memcpy(&w, p, 2);
  return w;
}
inline void put16(uint8_t* p, uint16_t w) { std::memcpy(p, &w, 2); }
inline uint32_t get32(const uint8_t* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}
inline void put32(uint8_t* p, uint32_t w) { std::memcpy(p, &w, 4); }
inline uint64_t get64(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline void put64(uint8_t* p, uint64_t w) { std::memcpy(p, &w, 8); }

}  // namespace pathlab
