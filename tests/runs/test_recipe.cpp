// config.json and --config files (src/runs/recipe.cpp): every key, given every kind of JSON value,
// is read as the same flag would be or refused in one line naming the key — never a JSON
// library's message.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "runs/recipe.h"

namespace gradflow::runs {
namespace {

TEST(ConfigFile, EveryKeyTakesItsFlagsValueOrSaysWhatItExpects) {
  const nlohmann::json values[] = {nullptr, true, 1, -1, 2.5, "x", "", nlohmann::json::array({1}),
                                   nlohmann::json::object({{"a", 1}})};
  std::size_t refused = 0;
  for (const RecipeOption& o : recipe_options())
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
  EXPECT_GT(refused, recipe_options().size());  // objects and arrays, at least, for every key
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
}  // namespace gradflow::runs

namespace gradflow::runs {
// What gradflow.fit writes for the network it was given: --layers, --output and --init that
// build it again, or nothing where they cannot.
TEST(ConfigFile, NetworkTextBuildsTheSameNetworkAgain) {
  struct Case {
    const char* layers;
    const char* output;
    Init init;
  };
  for (const Case& c : {Case{"32:relu:bn:dropout=0.1,8:tanh", "softmax", Init::Default},
                        Case{"none", "identity", Init::Default}, Case{"16:selu", "sigmoid", Init::HeUniform},
                        Case{"4:tanh,4:tanh", "identity", Init::Normal}}) {
    std::vector<LayerSpec> specs = parse_hidden_layers(c.layers, c.init);
    specs.push_back(nn::dense(3, c.init));
    if (std::string_view(c.output) != "identity") specs.push_back(parse_activation(c.output));
    const std::vector<LayerSpec> built = Sequential(5, specs, 1).specs();
    const auto text = network_text(built);
    ASSERT_TRUE(text) << c.layers;
    EXPECT_EQ(text->layers, c.layers);
    EXPECT_EQ(text->output, c.output);
    EXPECT_EQ(text->init, to_string(c.init));
  }
  const auto none = [](std::vector<LayerSpec> specs) { return !network_text(Sequential(5, specs, 1).specs()); };
  EXPECT_TRUE(none({nn::dense(4), nn::leaky_relu(0.2f), nn::dense(2)}));  // an argument --layers cannot say
  EXPECT_TRUE(none({nn::dense(4, Init::Normal), nn::relu(), nn::dense(2, Init::HeUniform)}));  // two inits
  EXPECT_TRUE(none({nn::batch_norm(), nn::dense(4), nn::relu(), nn::dense(2)}));  // not blocks
}
}  // namespace gradflow::runs
