#pragma once
// What a stage applies to: the `match`, `probability` and `seed` keys every stage takes.
//
//   match:
//     port: p0                 # only on this port (a stage on another port does nothing)
//     direction: ingress       # or egress
//     ip: 4                    # or 6
//     proto: tcp               # tcp, udp, icmp, icmpv6 or a number
//     src: [10.0.0.0/8, 2001:db8::/32]
//     dst: 192.0.2.1
//     sport: 1024-65535        # a port, a range, or a list of them
//     dport: [80, 443]
//     tcp_flags: [syn, "!ack"] # all listed set, all "!"-listed clear
//   probability: 0.25          # of matching packets, default 1
//   seed: 7                    # reproducible draws; default: random at start
//
// Every key is optional; an empty match takes every packet. Port-level keys are decided when the
// stage instance is built, so a stage that cannot apply costs one branch per burst.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pathlab/engine/stage.hpp"
#include "pathlab/stages/packet.hpp"

namespace pathlab {

class YamlMap;

class Match {
 public:
  // Reads `match` (if present) from the stage's params.
  static Match parse(YamlMap& params);

  // Build time: does this stage apply at all on this port and direction?
  bool applies_at(const StageSite& site) const;
  // Per packet. `seen`: view_packet succeeded.
  bool test(const PktView& v) const {
    if (any_) return true;
    return test_slow(v);
  }
  bool matches_everything() const { return any_; }
  // True when the match needs the transport header (ports, TCP flags).
  bool needs_l4() const { return !sport_.empty() || !dport_.empty() || flags_mask_ != 0; }
  // True when the match reads more than view_l3 fills: the transport header, or the protocol
  // (IPv6 finds it past the extension headers).
  bool needs_upper_layer() const { return needs_l4() || proto_ >= 0; }

 private:
  bool test_slow(const PktView& v) const;

  struct Net4 {
    uint32_t net, mask;  // network order
  };
  struct Net6 {
    uint8_t net[16];
    uint8_t len;
  };
  bool any_ = true;
  std::string port_;
  int direction_ = -1;  // -1 either, 0 ingress, 1 egress
  uint8_t ip_ = 0;      // 0 either
  int proto_ = -1;
  std::vector<Net4> src4_, dst4_;
  std::vector<Net6> src6_, dst6_;
  bool has_src_ = false, has_dst_ = false;
  std::vector<std::pair<uint16_t, uint16_t>> sport_, dport_;
  uint8_t flags_set_ = 0, flags_mask_ = 0;
};

// A seeded Bernoulli draw (splitmix64). probability 1 never draws.
class Chance {
 public:
  Chance() = default;
  Chance(double p, uint64_t seed);
  bool hit() {
    if (always_) return true;
    return next() < threshold_;
  }
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  void reseed(uint64_t seed) { state_ = seed; }
  bool always() const { return always_; }

 private:
  bool always_ = true;
  uint64_t threshold_ = 0;
  uint64_t state_ = 0;
};

// The keys every mangling stage shares.
struct StageCommon {
  Match match;
  double probability = 1.0;
  uint64_t seed = 0;  // resolved: the configured seed, or one drawn at parse time
  // Reads match/probability/seed; the caller reads its own keys and calls params.done().
  static StageCommon parse(YamlMap& params);
  // One stream per (router, port, direction, worker) from the seed, so instances differ but runs
  // repeat.
  uint64_t instance_seed(const StageSite& site) const;
};

// Base for stages that act on matching packets: holds the match, the draw and whether the
// instance applies on its port at all.
class MatchStage : public Stage {
 protected:
  MatchStage(std::span<const CounterDesc> drops, std::span<const CounterDesc> actions,
             const StageCommon& c, const StageSite& site)
      : Stage(drops, actions),
        match_(c.match),
        active_(c.match.applies_at(site)),
        seed_(c.instance_seed(site)),
        chance_(c.probability, seed_) {}

  // The packet is one this stage should act on (the match holds and the draw hits).
  bool selected(const PktView& v) { return match_.test(v) && chance_.hit(); }
  bool active() const { return active_; }
  const Match& match() const { return match_; }
  // Every packet is selected: an empty match and probability 1 (no draw to keep in step).
  bool selects_all() const { return match_.matches_everything() && chance_.always(); }
  Chance& chance() { return chance_; }

 public:
  void reseed(uint64_t s) override { chance_.reseed(seed_ ^ (s * 0x9e3779b97f4a7c15ull)); }

 private:
  Match match_;
  bool active_;
  uint64_t seed_;
  Chance chance_;
};

// Fills every verdict with kPass (an inactive instance's whole burst).
inline void pass_all(Batch& b) {
  for (uint16_t i = 0; i < b.n; ++i) b.verdict[i] = kPass;
}

}  // namespace pathlab
