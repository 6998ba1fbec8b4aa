// config.json and --config files (app/config.cpp): every key, given every kind of JSON value,
// is read as the same flag would be or refused in one line naming the key — never a JSON
// library's message.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config.h"

namespace gradflow::app {
namespace {

TEST(ConfigFile, EveryKeyTakesItsFlagsValueOrSaysWhatItExpects) {
  const nlohmann::json values[] = {nullptr, true, 1, -1, 2.5, "x", "", nlohmann::json::array({1}),
                                   nlohmann::json::object({{"a", 1}})};
  std::size_t refused = 0;
  for (const TrainOption& o : train_options())
    for (const nlohmann::json& v : values) {
      const nlohmann::json file{{"version", 2}, {o.key, v}};
      try {
        from_json(file, "f.json");
      } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find(std::string("'") + o.key + "'"), std::string::npos) << m;
        EXPECT_EQ(m.find("json.exception"), std::string::npos) << m;
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
        ++refused;
      }
    }
  EXPECT_GT(refused, train_options().size());  // objects and arrays, at least, for every key
  // The natural type means what the flag means.
  EXPECT_EQ(from_json({{"diagnostics_every", 25}}, "f").diagnostics_every, "25");
  EXPECT_EQ(from_json({{"save_every", 1}}, "f").save_every, "1");
  EXPECT_EQ(from_json({{"label_column", -1}}, "f").label_column, "-1");
  // A version-1 file (no "version") with a non-string optimizer: the key named, not a type_error.
  try {
    from_json({{"optimizer", nlohmann::json::array()}}, "old.json");
    ADD_FAILURE() << "accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("'optimizer'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gradflow::app
