// The pages as a reader sees them: rendered in headless Chromium, each asserting what a reader
// relies on — the answer first, named legends, whole epochs, the gradient by depth, log axes
// where values span decades, and only the panels that apply.
#include <cstdio>
#include <regex>

#include "cli_helpers.h"

namespace gradflow_cli_test {
namespace {

class ReportPage : public Cli {
 protected:
  static std::string fmt_pct(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f%%", 100 * v);
    return b;
  }
  std::string rendered(const std::string& page, const std::string& profile) {
    const std::string dom = render(page, dir / profile, 1200);
    if (dom.empty()) ADD_FAILURE() << "Debian's chromium is not installed (scripts/test.sh installs it)";
    EXPECT_EQ(dom.find("data-errors=\""), std::string::npos) << "JavaScript errors in " << page;
    return dom;
  }
  // Every tick label of the chart's x axis is a whole number.
  static void expect_whole_ticks(const std::string& dom, const std::string& title) {
    const std::string ticks = chart_attr(dom, title, "data-xticks");
    ASSERT_FALSE(ticks.empty()) << title;
    for (const auto& t : nlohmann::json::parse(ticks))
      EXPECT_TRUE(std::regex_match(t.get<std::string>(), std::regex("[0-9]*"))) << title << ": " << ticks;
  }
};

TEST_F(ReportPage, OpensWithTheAnswerAndNamesEveryLegendEntry) {
  ASSERT_EQ(run("train --data moons --layers 16:relu,16:relu,16:relu --epochs 7 --val-split 0.2 --diagnostics-every 3 "
                "--out " + path("r")).code, 0);
  const auto metrics = read_jsonl(path("r") + "/metrics.jsonl");
  const std::string final_acc = fmt_pct(metrics.back()["test_acc"].get<double>());
  const std::string dom = rendered(path("r") + "/report.html", "p1");
  // The headline comes before any chart and holds the final test accuracy, the model, the data.
  const std::size_t head = dom.find("id=\"headline\"");
  ASSERT_NE(head, std::string::npos);
  EXPECT_LT(head, dom.find("class=\"chart\""));
  EXPECT_NE(dom.find("test accuracy <b>" + final_acc + "</b>", head), std::string::npos) << dom.substr(head, 600);
  EXPECT_NE(dom.find("best validation accuracy", head), std::string::npos);
  EXPECT_NE(dom.find("2-16(relu)-16(relu)-16(relu)-2(softmax)", head), std::string::npos) << dom.substr(head, 600);
  // Legends name their series: no "--" placeholders of values under a cursor.
  EXPECT_EQ(dom.find(">--<"), std::string::npos);
  EXPECT_EQ(chart_attr(dom, "Loss", "data-legend"), "[\"train\",\"validation\",\"test\"]");
  EXPECT_NE(chart_attr(dom, "Gradient norm ‖∂L/∂W‖ per layer", "data-legend").find("L0 Dense(2→16)"), std::string::npos);
  // Whole epochs and steps; every curve and layer chart drawn; the gradient by depth on a log axis.
  for (const char* t : {"Loss", "Accuracy", "Learning rate", "Gradient norm ‖∂L/∂W‖ per layer"}) expect_whole_ticks(dom, t);
  const std::string depth = "Gradient by depth: ‖∂L/∂W‖ ÷ the last layer's";
  for (const char* t : {"Loss", "Accuracy", "Learning rate", "Time per epoch", "Gradient by depth: ‖∂L/∂W‖ ÷ the last layer's",
                        "Gradient norm ‖∂L/∂W‖ per layer", "Dead units (ReLU family)"})
    EXPECT_EQ(chart_attr(dom, t, "data-empty"), "") << t;
  EXPECT_EQ(chart_attr(dom, depth, "data-log"), "1");
  EXPECT_EQ(chart_attr(dom, depth, "data-x"), "[1,4]");  // four Dense layers
  expect_whole_ticks(dom, depth);
}

TEST_F(ReportPage, ARegressionShowsRSquaredAndMaeOnLogAxesWhereValuesSpanDecades) {
  ASSERT_EQ(run("train --data sine --layers 512:relu:bn:dropout=0.1,256:relu:bn:dropout=0.1 --batch-size 128 --epochs 12 "
                "--out " + path("g")).code, 0);
  const std::string dom = rendered(path("g") + "/report.html", "p2");
  EXPECT_EQ(dom.find(">Accuracy<"), std::string::npos) << "a regression has no accuracy panel";
  EXPECT_EQ(chart_attr(dom, "R² (1: perfect; 0: no better than the mean)", "data-empty"), "");
  EXPECT_EQ(chart_attr(dom, "Mean absolute error", "data-empty"), "");
  EXPECT_EQ(chart_attr(dom, "Loss", "data-log"), "1") << "epoch 1's loss is 100× the last";
  const auto metrics = read_jsonl(path("g") + "/metrics.jsonl");
  EXPECT_GT(metrics.back()["test_r2"].get<double>(), 0.8);
  EXPECT_NE(dom.find("test R² <b>"), std::string::npos);
}

TEST_F(ReportPage, CompareKeepsEachRunsColourAndShowsZeroGradientsAsZeros) {
  const std::string base = " --data moons --layers 16:relu,16:relu --epochs 3 --diagnostics-every 2 --no-report --out ";
  ASSERT_EQ(run("train" + base + path("pre")).code, 0);
  ASSERT_EQ(run("train --init-from " + path("pre") + " --freeze 1" + base + path("frozen")).code, 0);
  ASSERT_EQ(run("compare " + path("pre") + " " + path("frozen") + " --out " + path("c.html")).code, 0);
  const std::string dom = rendered(path("c.html"), "p3");
  EXPECT_NE(dom.find("<table class=\"headline\" id=\"headline\">"), std::string::npos);
  EXPECT_EQ(count(dom, "<tr data-final="), 2u);
  // The frozen run's first layer has a gradient of exactly 0: drawn at the floor, and said so.
  const std::string g = "Gradient norm ‖∂L/∂W‖ per layer";
  EXPECT_GT(std::stoi("0" + chart_attr(dom, g, "data-zeros")), 0);
  EXPECT_NE(dom.find("of exactly 0 drawn at the axis floor"), std::string::npos);
  expect_whole_ticks(dom, "Loss");
}

}  // namespace
}  // namespace gradflow_cli_test
