// tcp_seq: a whole conversation (handshake, data, SACK both ways, FIN both ways) against scapy
// frames with fixed offsets, for each side rewritten, IPv4 with options, VLAN, IPv6 with and
// without extension headers; random offsets read from the first SYN; two instances (ingress and
// egress) sharing one table; flows without a SYN; the match and probability picking flows;
// expiry (lazy and by the sweep); a new SYN after RST; table full; malformed headers; params.
#include <chrono>
#include <thread>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_mbuf.h>
#pragma GCC diagnostic pop

#include "harness.hpp"
#include "pathlab/engine/shared.hpp"
#include "pathlab/stages/packet.hpp"

namespace pathlab::test {
namespace {

const Frames& frames() {
  static Frames f("tcp_seq_frames.json");
  return f;
}

std::string field(const char* prefix, long k) { return prefix + std::to_string(k); }

StageSite with(StageSite site, SharedState& shared) {
  site.shared = &shared;
  return site;
}

// Runs every packet of a conversation case through `s` one at a time and compares with "outK".
void expect_conversation(StageRun& s, const std::string& c) {
  const long n = frames().number(c, "n");
  for (long k = 0; k < n; ++k) {
    const Out o = s.run1(frames().get(c, field("in", k)));
    EXPECT_EQ(o.verdict, kPass) << c << " #" << k;
    EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get(c, field("out", k)))) << c << " #" << k;
    EXPECT_TRUE(checksums_ok(o.bytes)) << c << " #" << k;
  }
}

uint32_t be32_at(const Bytes& b, size_t off) {
  return uint32_t{b[off]} << 24 | uint32_t{b[off + 1]} << 16 | uint32_t{b[off + 2]} << 8 |
         b[off + 3];
}

// Offset of the TCP header in an untagged IPv4 frame without options.
constexpr size_t kTcp4 = 14 + 20;

// The frame with SEQ moved by dseq and (when ACK is set) ACK and SACK edges by dack, checksum
// recomputed from scratch: the test's own model of the rewrite.
Bytes shifted(const Bytes& frame, uint32_t dseq, uint32_t dack) {
  rte_mbuf* m = make_mbuf(frame);
  PktView v;
  if (!view_packet(m, v) || !v.tcp_ok) {
    rte_pktmbuf_free(m);
    ADD_FAILURE() << "not TCP";
    return {};
  }
  auto add = [&](uint32_t off, uint32_t d) {
    uint8_t* p = v.l4 + off;
    const uint32_t x =
        (uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]) + d;
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(x >> (24 - 8 * i));
  };
  add(4, dseq);
  if (v.tcp_flags & kTcpAck) {
    add(8, dack);
    const uint32_t doff = (v.l4[12] >> 4) * 4u;
    for (uint32_t o = 20; o < doff && v.l4[o] != 0;) {
      if (v.l4[o] == 1) {
        ++o;
        continue;
      }
      const uint32_t len = v.l4[o + 1];
      if (v.l4[o] == 5) {
        for (uint32_t e = o + 2; e < o + len; e += 4) add(e, dack);
      }
      o += len;
    }
  }
  l4_cksum_full(v);
  Bytes out = bytes_of(m);
  rte_pktmbuf_free(m);
  return out;
}

StageSite egress_site() {
  StageSite s = StageRun::default_site();
  s.egress = true;
  return s;
}

TEST(TcpSeq, FixedOffsetsWholeConversation) {
  struct Case {
    const char* frames;
    const char* params;
  };
  const Case cases[] = {
      {"v4_both", "rewrite: both\noffset: 0x20\nresponder_offset: 0x80000000"},
      {"v4_initiator", "offset: 16777216"},
      {"v4_responder", "rewrite: responder\nresponder_offset: 0x00010001"},
      {"v4_options_both", "rewrite: both\noffset: 0x20\nresponder_offset: 0x80000000"},
      {"vlan_both", "rewrite: both\noffset: 0x20\nresponder_offset: 0x80000000"},
      {"v6_both", "rewrite: both\noffset: 0x20\nresponder_offset: 0x80000000"},
      {"v6_ext_both", "rewrite: both\noffset: 0x20\nresponder_offset: 0x80000000"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.frames);
    StageRun s("tcp_seq", c.params);
    EXPECT_TRUE(s.stage().stateful());
    expect_conversation(s, c.frames);
    EXPECT_EQ(s.action("flows"), 1u);
    // The responder-only SYN carries nothing to rewrite.
    EXPECT_EQ(s.action("rewritten"), std::string(c.frames) == "v4_responder" ? 10u : 11u);
    EXPECT_EQ(s.action("untracked"), 0u);
    // Server SACK: one block moved; client SACK: two blocks (odd offsets), unless its peer's
    // numbers stay (v4_initiator: the responder's space is not rewritten).
    EXPECT_EQ(s.action("sack_blocks"), std::string(c.frames) == "v4_initiator"   ? 1u
                                       : std::string(c.frames) == "v4_responder" ? 2u
                                                                                 : 3u);
  }
}

// Whole burst at once: the SYN creates the flow and the later packets of the same burst see it.
TEST(TcpSeq, OneBurst) {
  StageRun s("tcp_seq", "rewrite: both\noffset: 0x20\nresponder_offset: 0x80000000");
  std::vector<Bytes> in;
  for (long k = 0; k < frames().number("v4_both", "n"); ++k)
    in.push_back(frames().get("v4_both", field("in", k)));
  const auto out = s.run(in);
  for (size_t k = 0; k < out.size(); ++k) {
    EXPECT_EQ(to_hex(out[k].bytes),
              to_hex(frames().get("v4_both", field("out", static_cast<long>(k)))))
        << k;
  }
}

// Random offsets: read d_i from the rewritten SYN; every later packet must follow the model.
TEST(TcpSeq, RandomOffsetsFollowTheFirstSyn) {
  for (const char* mode : {"initiator", "both"}) {
    SCOPED_TRACE(mode);
    StageRun s("tcp_seq", std::string("seed: 11\nrewrite: ") + mode);
    const auto& f = frames();
    const Bytes syn = f.get("v4_plain", "in0");
    const Bytes syn_out = s.run1(syn).bytes;
    const uint32_t d_i = be32_at(syn_out, kTcp4 + 4) - be32_at(syn, kTcp4 + 4);
    EXPECT_NE(d_i, 0u);
    EXPECT_EQ(to_hex(syn_out), to_hex(shifted(syn, d_i, 0)));
    // The server's SYN-ACK acknowledges the rewritten ISN; its own ISN moves by d_r.
    const Bytes synack = shifted(f.get("v4_plain", "in1"), 0, d_i);
    const Bytes synack_out = s.run1(synack).bytes;
    const uint32_t d_r = be32_at(synack_out, kTcp4 + 4) - be32_at(synack, kTcp4 + 4);
    EXPECT_EQ(d_r != 0, std::string(mode) == "both");
    EXPECT_EQ(to_hex(synack_out), to_hex(shifted(f.get("v4_plain", "in1"), d_r, 0)));
    for (long k = 2; k < f.number("v4_plain", "n"); ++k) {
      const Bytes plain = f.get("v4_plain", field("in", k));
      const bool from_client = plain[kTcp4 + 1] != 80;  // source port 40000 vs 80
      const Bytes in = from_client ? shifted(plain, 0, d_r) : shifted(plain, 0, d_i);
      const Bytes want = from_client ? shifted(plain, d_i, 0) : shifted(plain, d_r, 0);
      const Out o = s.run1(in);
      EXPECT_EQ(to_hex(o.bytes), to_hex(want)) << k;
      EXPECT_TRUE(checksums_ok(o.bytes)) << k;
    }
  }
}

TEST(TcpSeq, SeedRepeatsAndDiffers) {
  auto first_offset = [](const std::string& params) {
    StageRun s("tcp_seq", params);
    const Bytes syn = frames().get("v4_plain", "in0");
    return be32_at(s.run1(syn).bytes, kTcp4 + 4) - be32_at(syn, kTcp4 + 4);
  };
  EXPECT_EQ(first_offset("seed: 5"), first_offset("seed: 5"));
  EXPECT_NE(first_offset("seed: 5"), first_offset("seed: 6"));
}

// The recommended deployment: one entry on p0 ingress and p0 egress. Client packets enter
// through the ingress instance, server packets leave through the egress one; they share a table.
TEST(TcpSeq, IngressAndEgressShareTheTable) {
  const std::string params = "rewrite: both\noffset: 0x20\nresponder_offset: 0x80000000";
  SharedState shared("t", nullptr);  // the router's: instances find their table in it by name
  StageRun in("tcp_seq", params, with(StageRun::default_site(), shared));
  StageRun out("tcp_seq", params, with(egress_site(), shared));
  const long n = frames().number("v4_both", "n");
  for (long k = 0; k < n; ++k) {
    const Bytes f = frames().get("v4_both", field("in", k));
    const bool from_client = f[kTcp4 + 1] != 80;
    const Out o = (from_client ? in : out).run1(f);
    EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get("v4_both", field("out", k)))) << k;
  }
  EXPECT_EQ(in.action("flows"), 1u);
  EXPECT_EQ(out.action("flows"), 0u);
  EXPECT_EQ(in.action("rewritten") + out.action("rewritten"), static_cast<uint64_t>(n));
  EXPECT_EQ(out.action("untracked"), 0u);

  // Another table name: nothing shared, the egress side knows no flow.
  StageRun in2("tcp_seq", params + "\ntable: a", with(StageRun::default_site(), shared));
  StageRun out2("tcp_seq", params + "\ntable: b", with(egress_site(), shared));
  in2.run1(frames().get("v4_both", "in0"));
  const Bytes synack = frames().get("v4_both", "in1");
  EXPECT_EQ(out2.run1(synack).bytes, synack);
  EXPECT_EQ(out2.action("untracked"), 1u);
}

TEST(TcpSeq, SharedTableNeedsTheSameSettings) {
  SharedState shared("t", nullptr);
  StageRun a("tcp_seq", "capacity: 64", with(StageRun::default_site(), shared));
  EXPECT_THROW(StageRun("tcp_seq", "capacity: 128", with(egress_site(), shared)), std::runtime_error);
  EXPECT_NO_THROW(StageRun("tcp_seq", "capacity: 64\noffset: 7", with(egress_site(), shared)));
}

TEST(TcpSeq, FlowsWithoutSynPassUntouched) {
  StageRun s("tcp_seq", "offset: 0x20");
  for (long k = 1; k < frames().number("v4_both", "n"); ++k) {
    const Bytes f = frames().get("v4_both", field("in", k));
    EXPECT_EQ(s.run1(f).bytes, f) << k;
  }
  EXPECT_EQ(s.action("untracked"), 10u);
  EXPECT_EQ(s.action("flows"), 0u);
  const Bytes udp = frames().get("udp");
  EXPECT_EQ(s.run1(udp).bytes, udp);
  EXPECT_EQ(s.action("untracked"), 10u);  // only TCP is counted
}

TEST(TcpSeq, MatchPicksFlowsBySyn) {
  // The match (dport 80) holds for the client's packets only; the server's (sport 80) still
  // follow the flow it started.
  StageRun s("tcp_seq",
             "rewrite: both\noffset: 0x20\nresponder_offset: 0x80000000\n"
             "match: {proto: tcp, dport: 80}");
  expect_conversation(s, "v4_both");
  StageRun other("tcp_seq", "offset: 0x20\nmatch: {proto: tcp, dport: 443}");
  const Bytes syn = frames().get("v4_both", "in0");
  EXPECT_EQ(other.run1(syn).bytes, syn);
  EXPECT_EQ(other.action("untracked"), 1u);
  // A port-level match that excludes this site starts no flow.
  StageRun elsewhere("tcp_seq", "offset: 0x20\nmatch: {direction: egress}");
  EXPECT_EQ(elsewhere.run1(syn).bytes, syn);
  EXPECT_EQ(elsewhere.action("flows"), 0u);
}

TEST(TcpSeq, ProbabilityZeroTracksWithoutRewriting) {
  StageRun s("tcp_seq", "probability: 0\nrewrite: both");
  const auto& f = frames();
  for (long k = 0; k < f.number("v4_plain", "n"); ++k) {
    const Bytes in = f.get("v4_plain", field("in", k));
    EXPECT_EQ(s.run1(in).bytes, in) << k;
  }
  EXPECT_EQ(s.action("flows_unselected"), 1u);
  EXPECT_EQ(s.action("flows"), 0u);
  EXPECT_EQ(s.action("rewritten"), 0u);
  EXPECT_EQ(s.action("untracked"), 0u);
}

TEST(TcpSeq, ExpiryOnLookup) {
  StageRun s("tcp_seq", "offset: 0x20\ntimeout: 0.005\nclosing_timeout: 0.005");
  for (long k = 0; k < 3; ++k) {
    const Out o = s.run1(frames().get("v4_initiator", field("in", k)));
    EXPECT_NE(o.bytes, frames().get("v4_initiator", field("in", k))) << k;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const Bytes data = frames().get("v4_both", "in3");
  EXPECT_EQ(s.run1(data).bytes, data);
  EXPECT_EQ(s.action("expired"), 1u);
  EXPECT_EQ(s.action("untracked"), 1u);
}

TEST(TcpSeq, ExpiryBySweep) {
  StageRun s("tcp_seq", "offset: 0x20\ncapacity: 8\nclosing_timeout: 0.005");
  s.run({frames().get("syns", "in0"), frames().get("syns", "in1")});
  EXPECT_EQ(s.action("flows"), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  for (int i = 0; i < 4; ++i) s.run1(frames().get("udp"));  // 8 slots examined per burst
  EXPECT_EQ(s.action("expired"), 2u);
  // The slots are free again: eight new flows fit.
  std::vector<Bytes> syns;
  for (int k = 2; k < 10; ++k) syns.push_back(frames().get("syns", field("in", k)));
  s.run(syns);
  EXPECT_EQ(s.action("flows"), 10u);
  EXPECT_EQ(s.action("untracked"), 0u);
  EXPECT_EQ(s.action("table_full"), 0u);
}

TEST(TcpSeq, HalfOpenUsesTheShortTimeout) {
  StageRun s("tcp_seq", "offset: 16777216\ntimeout: 100\nclosing_timeout: 0.005");
  s.run1(frames().get("v4_both", "in0"));  // SYN, no answer
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const Bytes synack = frames().get("v4_plain", "in1");
  EXPECT_EQ(s.run1(synack).bytes, synack);
  EXPECT_EQ(s.action("expired"), 1u);
  // Answered, the flow keeps the long timeout.
  s.run1(frames().get("v4_both", "in0"));
  s.run1(frames().get("v4_initiator", "in1"));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const Out o = s.run1(frames().get("v4_initiator", "in2"));
  EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get("v4_initiator", "out2")));
  EXPECT_EQ(s.action("expired"), 1u);
}

TEST(TcpSeq, NewSynAfterRstStartsAnewFlow) {
  StageRun s("tcp_seq", "seed: 3");
  const Bytes syn = frames().get("v4_plain", "in0");
  const uint32_t d1 = be32_at(s.run1(syn).bytes, kTcp4 + 4) - be32_at(syn, kTcp4 + 4);
  // A retransmitted SYN keeps the offset.
  EXPECT_EQ(be32_at(s.run1(syn).bytes, kTcp4 + 4) - be32_at(syn, kTcp4 + 4), d1);
  // A RST from the server closes the flow; the next SYN on the same ports gets a new offset.
  Bytes rst = shifted(frames().get("v4_plain", "in1"), 0, d1);
  rst[kTcp4 + 13] = kTcpRst | kTcpAck;
  rst = shifted(rst, 0, 0);  // checksum
  const Out r = s.run1(rst);
  EXPECT_EQ(be32_at(r.bytes, kTcp4 + 8), be32_at(frames().get("v4_plain", "in1"), kTcp4 + 8));
  const uint32_t d2 = be32_at(s.run1(syn).bytes, kTcp4 + 4) - be32_at(syn, kTcp4 + 4);
  EXPECT_NE(d2, d1);
  EXPECT_EQ(s.action("flows"), 2u);
}

TEST(TcpSeq, FinBothWaysThenShortTimeout) {
  StageRun s("tcp_seq", "offset: 0x20\ntimeout: 100\nclosing_timeout: 0.005");
  for (long k = 0; k < 10; ++k)
    s.run1(frames().get("v4_initiator", field("in", k)));  // up to both FINs
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const Bytes last = frames().get("v4_initiator", "in10");
  EXPECT_EQ(s.run1(last).bytes, last);
  EXPECT_EQ(s.action("expired"), 1u);
}

TEST(TcpSeq, TableFull) {
  StageRun s("tcp_seq", "offset: 0x20\ncapacity: 8");
  std::vector<Bytes> syns;
  for (int k = 0; k < 10; ++k) syns.push_back(frames().get("syns", field("in", k)));
  const auto out = s.run(syns);
  for (int k = 0; k < 8; ++k) EXPECT_NE(out[k].bytes, syns[k]) << k;
  EXPECT_EQ(out[8].bytes, syns[8]);
  EXPECT_EQ(out[9].bytes, syns[9]);
  EXPECT_EQ(s.action("flows"), 8u);
  EXPECT_EQ(s.action("table_full"), 2u);
}

TEST(TcpSeq, MalformedHeadersAreNotTouched) {
  StageRun s("tcp_seq", "offset: 0x20");
  s.run1(frames().get("v4_both", "in0"));
  const Bytes trunc = frames().get("trunc");
  EXPECT_EQ(s.run1(trunc).bytes, trunc);
  // A SACK option running past the header: the ACK moves, the option stays as it was.
  const Out o = s.run1(frames().get("bad_sack"));
  EXPECT_EQ(to_hex(o.bytes), to_hex(frames().get("bad_sack", "out")));
  EXPECT_TRUE(checksums_ok(o.bytes));
  EXPECT_EQ(s.action("sack_blocks"), 0u);
}

TEST(TcpSeq, BadParams) {
  EXPECT_EQ(parse_error("tcp_seq", "rewrite: sometimes"),
            "test.yaml:1:10: stage.rewrite: 'sometimes' is not initiator, responder or both");
  EXPECT_EQ(parse_error("tcp_seq", "offset: 0"),
            "test.yaml:1:9: stage.offset: '0' is not random or an offset 1..4294967295");
  EXPECT_EQ(parse_error("tcp_seq", "offset: 0x100000000"),
            "test.yaml:1:9: stage.offset: '0x100000000' is not random or an offset 1..4294967295");
  EXPECT_EQ(parse_error("tcp_seq", "offset: lots"),
            "test.yaml:1:9: stage.offset: 'lots' is not random or an offset 1..4294967295");
  EXPECT_EQ(parse_error("tcp_seq", "rewrite: responder\noffset: 5"),
            "test.yaml:2:9: stage.offset: rewrite: responder leaves the initiator's numbers alone");
  EXPECT_EQ(parse_error("tcp_seq", "responder_offset: 5"),
            "test.yaml:1:19: stage.responder_offset: needs rewrite: responder or both");
  EXPECT_EQ(parse_error("tcp_seq", "timeout: 0"),
            "test.yaml:1:10: stage.timeout: 0 is not within 0.001..10000000 seconds");
  EXPECT_EQ(parse_error("tcp_seq", "closing_timeout: -1"),
            "test.yaml:1:18: stage.closing_timeout: -1 is not within 0.001..10000000 seconds");
  EXPECT_NE(parse_error("tcp_seq", "capacity: 4"), "");
  EXPECT_EQ(parse_error("tcp_seq", "table: ''"),
            "test.yaml:1:8: stage.table: a table name cannot be empty");
  EXPECT_NE(parse_error("tcp_seq", "bogus: 1"), "");
  EXPECT_EQ(parse_error("tcp_seq", ""), "");
  EXPECT_EQ(parse_error("tcp_seq",
                        "rewrite: both\noffset: random\nresponder_offset: 0xffffffff\n"
                        "timeout: 60\nclosing_timeout: 0.5\ncapacity: 1024\ntable: t1\n"
                        "match: {proto: tcp, dport: 80}\nprobability: 0.5\nseed: 1"),
            "");
}

}  // namespace
}  // namespace pathlab::test
