// YamlMap and convert<T>: typed reads, ranges, positions, and unknown-key rejection.
#include "pathlab/config/yaml_reader.hpp"

#include <gtest/gtest.h>

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
