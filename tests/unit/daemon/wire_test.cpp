#include "daemon/wire.h"

#include <string>

#include <gtest/gtest.h>

namespace maptrail::daemon {
namespace {

TEST(Wire, BytesSurviveJsonExactly) {
  const std::string bytes = std::string("/tmp/a\xff") + "b%41\xc3\xa9 (deleted)\\012\x80";
  std::string encoded = encode_bytes(bytes);
  EXPECT_EQ(encoded, "/tmp/a%FFb%2541%C3%A9 (deleted)\\012%80");
  nlohmann::json j = {{"maps", encoded}};
  auto carried = nlohmann::json::parse(j.dump());
  auto decoded = decode_bytes(carried.at("maps").get<std::string>());
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, bytes);
}

TEST(Wire, ABadEscapeIsAnError) {
  for (const char* bad : {"%", "%4", "%G1", "a%zz"}) {
    auto decoded = decode_bytes(bad);
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(decoded.error().err, EPROTO);
  }
  EXPECT_EQ(*decode_bytes("%4a%4A"), "JJ");
}

TEST(Wire, AVmaNamedInBytesThatAreNotUtf8ComesBackTheSame) {
  model::Vma v;
  v.start = 0x1000;
  v.end = 0x3000;
  v.perms = model::kRead;
  v.inode = 7;
  v.name = "/tmp/caf\xe9\xff";
  auto j = nlohmann::json::parse(
      to_json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  auto back = vma_from_json(j);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->name, v.name);
  EXPECT_EQ(*back, v);

  v.name = "/usr/lib/libc.so.6";
  EXPECT_FALSE(to_json(v).contains("name_bytes")) << "plain names travel as they are";
}

}  // namespace
}  // namespace maptrail::daemon
