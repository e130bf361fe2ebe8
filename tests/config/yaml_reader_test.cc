// YamlMap and convert<T>: typed reads, ranges, positions, and unknown-key rejection.
#include "pathlab/config/yaml_reader.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace pathlab {
namespace {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(YamlReader, ErrorFormat) {
  EXPECT_STREQ(ConfigError(SourcePos{"a.yaml", 3, 7}, "x.y", "bad").what(), "a.yaml:3:7: x.y: bad");
  EXPECT_STREQ(ConfigError(SourcePos{"a.yaml", 0, 0}, "x", "bad").what(), "a.yaml: x: bad");
  EXPECT_STREQ(ConfigError(SourcePos{"a.yaml", 2, 1}, "", "bad").what(), "a.yaml:2:1: bad");
}

TEST(YamlReader, PosIsOneBased) {
  YAML::Node n = YAML::Load("a: 1\nb:\n  c: 2\n");
  SourcePos p = pos_of(n["b"]["c"], "f");
  EXPECT_EQ(p.file, "f");
  EXPECT_EQ(p.line, 3);
  EXPECT_EQ(p.column, 6);
  EXPECT_EQ(pos_of(YAML::Node(YAML::NodeType::Map), "f").line, 0);
}

TEST(YamlReader, TypedReads) {
  YAML::Node n = YAML::Load(
      "s: hello\nb: true\nu8: 255\nneg: -5\nhex: 0x1f\nd: 2.5\n"
      "mac: 02:00:00:00:00:01\nip4: 10.1.2.3\nip6: \"fd00::1\"\np4: 10.1.2.0/24\np6: "
      "\"fd00::/8\"\n");
  YamlMap m(n, "f", "top");
  EXPECT_EQ(m.get<std::string>("s"), "hello");
  EXPECT_TRUE(m.get<bool>("b"));
  EXPECT_EQ(m.get<uint8_t>("u8"), 255);
  EXPECT_EQ(m.get<int>("neg"), -5);
  EXPECT_EQ(m.get<uint32_t>("hex"), 31u);
  EXPECT_DOUBLE_EQ(m.get<double>("d"), 2.5);
  EXPECT_EQ(m.get<MacAddr>("mac"), *parse_mac("02:00:00:00:00:01"));
  EXPECT_EQ(m.get<Ip4Addr>("ip4"), *parse_ip4("10.1.2.3"));
  EXPECT_EQ(m.get<Ip6Addr>("ip6"), *parse_ip6("fd00::1"));
  EXPECT_EQ(m.get<Ip4Prefix>("p4"), *parse_ip4_prefix("10.1.2.0/24"));
  EXPECT_EQ(m.get<Ip6Prefix>("p6"), *parse_ip6_prefix("fd00::/8"));
  EXPECT_EQ(m.get_or<int>("absent", 7), 7);
  EXPECT_FALSE(m.maybe<int>("absent").has_value());
  EXPECT_NO_THROW(m.done());
}

TEST(YamlReader, ConversionErrors) {
  YAML::Node n = YAML::Load("u8: 256\nneg: -1\nb: maybe\nl: [1]\nmac: zz\nx: 1.5.\n");
  YamlMap m(n, "f", "t");
  EXPECT_EQ(error_of([&] { m.get<uint8_t>("u8"); }),
            "f:1:5: t.u8: expected an integer in 0..255, got '256'");
  EXPECT_EQ(error_of([&] { m.get<unsigned>("neg"); }),
            "f:2:6: t.neg: expected an integer in 0..4294967295, got '-1'");
  EXPECT_EQ(error_of([&] { m.get<int8_t>("u8"); }),
            "f:1:5: t.u8: expected an integer in -128..127, got '256'");
  EXPECT_EQ(error_of([&] { m.get<bool>("b"); }), "f:3:4: t.b: expected true or false, got 'maybe'");
  EXPECT_EQ(error_of([&] { m.get<int>("l"); }), "f:4:4: t.l: expected an integer, got a list");
  EXPECT_EQ(error_of([&] { m.get<MacAddr>("mac"); }), "f:5:6: t.mac: invalid MAC address 'zz'");
  EXPECT_EQ(error_of([&] { m.get<double>("x"); }), "f:6:4: t.x: expected a number, got '1.5.'");
  EXPECT_EQ(error_of([&] { m.get<int>("nope"); }), "f:1:1: t.nope: missing required key");
}

TEST(YamlReader, Ranges) {
  YAML::Node n = YAML::Load("a: 5\nb: -3\n");
  YamlMap m(n, "f", "");
  EXPECT_EQ(m.get_in<int>("a", 1, 10), 5);
  EXPECT_EQ(error_of([&] { m.get_in<uint16_t>("a", 6, 10); }), "f:1:4: a: 5 is out of range 6..10");
  EXPECT_EQ(error_of([&] { m.get_in<int>("b", -2, 2); }), "f:2:4: b: -3 is out of range -2..2");
  EXPECT_EQ(m.get_or_in<int>("c", 9, 1, 10), 9);
}

// get_in reads any integer and gives the range asked for, not the type's.
TEST(YamlReader, RangesBeyondTheType) {
  YAML::Node n = YAML::Load("a: 70000\nb: -1\nc: 99999999999999999999\nd: 0x10000\ne: -0\n");
  YamlMap m(n, "f", "");
  EXPECT_EQ(error_of([&] { m.get_in<uint16_t>("a", 68, 9216); }),
            "f:1:4: a: 70000 is out of range 68..9216");
  EXPECT_EQ(error_of([&] { m.get_in<uint16_t>("b", 68, 9216); }),
            "f:2:4: b: -1 is out of range 68..9216");
  EXPECT_EQ(error_of([&] { m.get_in<uint16_t>("c", 68, 9216); }),
            "f:3:4: c: 99999999999999999999 is out of range 68..9216");
  EXPECT_EQ(error_of([&] { m.get_in<int8_t>("c", -5, 5); }),
            "f:3:4: c: 99999999999999999999 is out of range -5..5");
  EXPECT_EQ(error_of([&] { m.get_in<int8_t>("a", -5, 5); }),
            "f:1:4: a: 70000 is out of range -5..5");
  EXPECT_EQ(error_of([&] { m.get_in<uint32_t>("d", 64, 65535); }),
            "f:4:4: d: 0x10000 is out of range 64..65535");
  EXPECT_EQ(m.get_in<uint32_t>("d", 64, 65536), 65536u);
  EXPECT_EQ(m.get_in<uint16_t>("e", 0, 5), 0);
  EXPECT_EQ(m.get_in<int64_t>("b", INT64_MIN, 0), -1);
  // plain reads keep the type's range, for numbers too big for 64 bits too
  EXPECT_EQ(error_of([&] { m.get<uint8_t>("c"); }),
            "f:3:4: c: expected an integer in 0..255, got '99999999999999999999'");
}

TEST(YamlReader, RangeExtremes) {
  YAML::Node n = YAML::Load(
      "min: -9223372036854775808\nbelow: -9223372036854775809\nmax: 18446744073709551615\n");
  YamlMap m(n, "f", "");
  EXPECT_EQ(m.get_in<int64_t>("min", INT64_MIN, 0), INT64_MIN);
  EXPECT_EQ(error_of([&] { m.get_in<int64_t>("below", INT64_MIN, 0); }),
            "f:2:8: below: -9223372036854775809 is out of range -9223372036854775808..0");
  EXPECT_EQ(m.get_in<uint64_t>("max", 0, UINT64_MAX), UINT64_MAX);
}

TEST(YamlReader, EscapeBytes) {
  using namespace std::string_literals;
  EXPECT_EQ(escape_bytes("plain ascii"), "plain ascii");
  EXPECT_EQ(escape_bytes("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e");  // é € U+1D11E
  EXPECT_EQ(escape_bytes("a\0b"s), "a\\x00b");
  EXPECT_EQ(escape_bytes("\t\n\r\x1b[31m\x7f"), "\\x09\\x0a\\x0d\\x1b[31m\\x7f");
  EXPECT_EQ(escape_bytes("\xc2\x9b\xc2\xa0"), "\\xc2\\x9b\xc2\xa0");  // C1 CSI; NBSP passes
  EXPECT_EQ(escape_bytes("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escape_bytes("\x80x"), "\\x80x");                           // lone continuation byte
  EXPECT_EQ(escape_bytes("\xc3"), "\\xc3");                             // truncated at the end
  EXPECT_EQ(escape_bytes("\xe2\x82x"), "\\xe2\\x82x");                  // truncated in the middle
  EXPECT_EQ(escape_bytes("\xc0\x80"), "\\xc0\\x80");                    // overlong NUL
  EXPECT_EQ(escape_bytes("\xe0\x80\x80"), "\\xe0\\x80\\x80");           // overlong
  EXPECT_EQ(escape_bytes("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a surrogate
  EXPECT_EQ(escape_bytes("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(escape_bytes("\xf5"), "\\xf5");
}

TEST(YamlReader, ErrorsEscapeFileKeyAndMessage) {
  using namespace std::string_literals;
  ConfigError e(SourcePos{"a\nb.yaml", 1, 2}, "k\xff", "got 'x\0y'"s);
  EXPECT_STREQ(e.what(), "a\\x0ab.yaml:1:2: k\\xff: got 'x\\x00y'");
  EXPECT_EQ(e.key(), "k\\xff");
  EXPECT_EQ(e.message(), "got 'x\\x00y'");
  // values from YAML escapes and raw bytes alike
  YAML::Node n = YAML::Load("a: \"1\\0\\x01\"\nb: \xff\xfe\n");
  YamlMap m(n, "f", "");
  EXPECT_EQ(error_of([&] { m.get<int>("a"); }), "f:1:4: a: expected an integer, got '1\\x00\\x01'");
  EXPECT_EQ(error_of([&] { m.get<int>("b"); }), "f:2:4: b: expected an integer, got '\\xff\\xfe'");
}

TEST(YamlReader, UnknownAndDuplicateKeys) {
  YAML::Node n = YAML::Load("name: x\nmtux: 1\nextra: 2\n");
  YamlMap m(n, "f", "ports[0]");
  m.get<std::string>("name");
  EXPECT_EQ(error_of([&] { m.done(); }), "f:2:1: ports[0].mtux: unknown key");
  EXPECT_EQ(error_of([&] { m.only({"name", "extra"}); }), "f:2:1: ports[0].mtux: unknown key");
  EXPECT_EQ(error_of([] { YamlMap(YAML::Load("a: 1\nb: 2\na: 3\n"), "f", "x"); }),
            "f:3:1: x.a: duplicate key");
  EXPECT_EQ(error_of([] { YamlMap(YAML::Load("[1, 2]"), "f", "x"); }),
            "f:1:1: x: expected a map, got a list");
}

TEST(YamlReader, NullIsEmpty) {
  YAML::Node n = YAML::Load("a:\nb: ~\n");
  YamlMap m(n, "f", "");
  YamlMap inner(m.node("a"), "f", "a");
  EXPECT_FALSE(inner.has("x"));
  EXPECT_TRUE(m.list<int>("b").empty());
  EXPECT_NO_THROW(m.done());
}

TEST(YamlReader, ListsAndItems) {
  YAML::Node n = YAML::Load("one: 10.0.0.1/8\nmany: [10.0.0.1/8, 10.0.0.2/8]\nmap: {a: 1}\n");
  YamlMap m(n, "f", "p");
  EXPECT_EQ(m.list<Ip4Prefix>("one").size(), 1u);
  auto items = m.items("many");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1].path, "p.many[1]");
  EXPECT_EQ(items[1].pos.line, 2);
  EXPECT_EQ(items[1].pos.column, 20);
  EXPECT_EQ(error_of([&] { m.items("one"); }), "f:1:6: p.one: expected a list, got a scalar");
  EXPECT_EQ(error_of([&] { m.list<int>("map"); }), "f:3:6: p.map: expected a list, got a map");
}

TEST(YamlReader, StageParamsFallBackToTheSpecPosition) {
  StageYaml bare{"count", "", YAML::Node(YAML::NodeType::Map), SourcePos{"f", 4, 9},
                 "ports[0].ingress[0]"};
  YamlMap m = stage_params(bare, "f");
  EXPECT_EQ(m.pos().line, 4);
  EXPECT_EQ(error_of([&] { m.get<int>("rate"); }),
            "f:4:9: ports[0].ingress[0].rate: missing required key");
}

}  // namespace
}  // namespace pathlab
