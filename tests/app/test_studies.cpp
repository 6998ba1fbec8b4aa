// gradflow study: every study's quick form runs, writes its results and page, and each claim
// comes out as the study expects (held, or — for a textbook claim the measurement contradicts —
// not held). Only properties with wide margins are claimed, so they hold on any x86-64 CPU.
#include "cli_helpers.h"

namespace gradflow_cli_test {
namespace {

class Studies : public Cli, public ::testing::WithParamInterface<const char*> {};

TEST_P(Studies, QuickFormReproducesItsClaims) {
  const std::string name = GetParam();
  if (name != "xor" && name != "approximation" && !fs::exists("/usr/share/datasets/fashion-mnist"))
    GTEST_FAIL() << "dataset-fashion-mnist is not installed (scripts/test.sh installs it)";
  const Result r = run("study " + name + " --quick --out " + path("s"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(slurp(path("s") + "/results.json"));
  EXPECT_EQ(j["study"], name);
  EXPECT_TRUE(j["quick"].get<bool>());
  ASSERT_FALSE(j["claims"].empty());
  for (const auto& c : j["claims"])
    EXPECT_EQ(c["held"], c["expected"]) << c["text"].get<std::string>() << "\n" << r.out;
  EXPECT_FALSE(j["table"]["rows"].empty());
  EXPECT_FALSE(j["charts"].empty());
  for (const auto& c : j["charts"]) EXPECT_FALSE(c["caption"].get<std::string>().empty()) << c["title"];
  EXPECT_FALSE(j["settings"].empty());
  const std::string page = slurp(path("s") + "/report.html");
  EXPECT_NE(page.find("gradflow study " + name), std::string::npos);
  // The page as a reader sees it: every chart drawn, no script error, whole epochs and layers.
  const std::string dom = render(path("s") + "/report.html", dir / "profile");
  ASSERT_FALSE(dom.empty()) << "Debian's chromium is not installed (scripts/test.sh installs it)";
  EXPECT_EQ(dom.find("data-errors=\""), std::string::npos) << "JavaScript errors in the page";
  EXPECT_NE(dom.find("data-charts=\"" + std::to_string(j["charts"].size()) + "\""), std::string::npos);
  for (std::size_t p = 0; (p = dom.find("data-xticks=\"", p)) != std::string::npos;) {
    p += 13;
    const std::string ticks = dom.substr(p, dom.find('"', p) - p);
    EXPECT_EQ(ticks.find('.'), std::string::npos) << ticks;
  }
  // The terminal shows the table and every claim's outcome.
  EXPECT_NE(r.out.find(j["table"]["columns"][0].get<std::string>()), std::string::npos) << r.out;
  EXPECT_EQ(count(r.out, "[held]") + count(r.out, "[did not hold]"), j["claims"].size()) << r.out;
}

INSTANTIATE_TEST_SUITE_P(All, Studies,
                         ::testing::Values("xor", "approximation", "init", "deep-relu", "dying-relu", "selu",
                                           "batchnorm", "optimizers", "transfer"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST_F(Cli, StudyListsItsStudiesAndRefusesAnUnknownOne) {
  const Result l = run("study --list");
  ASSERT_EQ(l.code, 0);
  for (const char* s : {"xor", "approximation", "init", "deep-relu", "dying-relu", "selu", "batchnorm", "optimizers",
                        "transfer"})
    EXPECT_NE(l.out.find(s), std::string::npos) << s;
  expect_clean_error(run("study gelu --out " + path("g")), "unknown study 'gelu'", path("g"));
}

}  // namespace
}  // namespace gradflow_cli_test
