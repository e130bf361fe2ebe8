// Loss and reordering from the cumulative nonce.
#include "pathlab/ipim/nonce_loss.hpp"

#include <algorithm>
#include <optional>

namespace pathlab::ipim {

namespace {

// Up to three of `candidates` whose nonces sum to `target` (mod 2^32); the probes of the lost
// echoes between two echoes the sender got.
std::optional<std::vector<uint32_t>> explain(uint32_t target, const std::vector<uint32_t>& cand,
                                             const std::vector<uint32_t>& nonces) {
  const size_t n = cand.size();
  for (size_t i = 0; i < n; ++i)
    if (nonces[cand[i]] == target) return std::vector{cand[i]};
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j)
      if (nonces[cand[i]] + nonces[cand[j]] == target) return std::vector{cand[i], cand[j]};
  if (n > 200) return std::nullopt;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j)
      for (size_t k = j + 1; k < n; ++k)
        if (nonces[cand[i]] + nonces[cand[j]] + nonces[cand[k]] == target)
          return std::vector{cand[i], cand[j], cand[k]};
  return std::nullopt;
}

}  // namespace

LossReport reconstruct_arrivals(const std::vector<uint32_t>& nonces,
                                const std::vector<EchoNonces>& echoes) {
  LossReport r;
  std::vector<bool> answered(nonces.size(), false);
  std::vector<EchoNonces> unique;
  uint32_t latest_echo_nonce = 0;
  bool any = false;
  for (const EchoNonces& e : echoes) {
    if (e.seq >= nonces.size() || answered[e.seq]) {
      ++r.duplicates;
      continue;
    }
    answered[e.seq] = true;
    if (any && e.echo_nonce < latest_echo_nonce) ++r.reordered_reverse;
    latest_echo_nonce = any ? std::max(latest_echo_nonce, e.echo_nonce) : e.echo_nonce;
    any = true;
    unique.push_back(e);
  }
  // The reflector's send order (its nonces increase) is its receive order.
  std::sort(unique.begin(), unique.end(),
            [](const EchoNonces& a, const EchoNonces& b) { return a.echo_nonce < b.echo_nonce; });
  std::vector<bool> reached(nonces.size(), false);
  uint32_t sum = 0, max_seq = 0;
  for (const EchoNonces& e : unique) {
    if (e.seq < max_seq) ++r.reordered_forward;
    max_seq = std::max(max_seq, e.seq);
    reached[e.seq] = true;
    const uint32_t missing = e.nonce_sum - sum - nonces[e.seq];
    sum = e.nonce_sum;
    if (missing == 0) continue;
    std::vector<uint32_t> cand;
    for (uint32_t s = 0; s < nonces.size(); ++s)
      if (!answered[s] && !reached[s]) cand.push_back(s);
    if (const auto found = explain(missing, cand, nonces)) {
      for (uint32_t s : *found) reached[s] = true;
    } else {
      ++r.inconsistent;
    }
  }
  for (uint32_t s = 0; s < nonces.size(); ++s) {
    if (answered[s]) continue;
    ++r.lost;
    if (reached[s]) ++r.lost_reverse;
    else if (s < max_seq) ++r.lost_forward;
    else ++r.lost_unknown;
  }
  return r;
}

}  // namespace pathlab::ipim
