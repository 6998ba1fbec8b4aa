// Data handling as users have their data: stratified hold-outs, CSV text labels, missing values
// and imputation, header columns matched by name.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <unistd.h>

#include "gradflow/data/input_range.h"
#include "gradflow/gradflow.h"

using namespace gradflow;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir() { return fs::temp_directory_path() / ("gradflow_data_" + std::to_string(::getpid())); }

struct RemoveTempDir : ::testing::Environment {
  void TearDown() override { fs::remove_all(temp_dir()); }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new RemoveTempDir);

std::string write_csv(const std::string& name, const std::string& text) {
  fs::create_directories(temp_dir());
  const fs::path p = temp_dir() / name;
  std::ofstream(p) << text;
  return p.string();
}

std::string error_of(const std::string& path, const csv::Options& o = {}) {
  try {
    csv::read(path, o);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

Dataset imbalanced(std::size_t a, std::size_t b) {
  Dataset d;
  d.num_classes = 2;
  d.x.resize(a + b, 1);
  d.y.resize(a + b, 1);
  for (std::size_t i = 0; i < a + b; ++i) {
    d.x(i, 0) = static_cast<float>(i);
    d.y(i, 0) = i % 10 == 9 && b > 0 && i / 10 < b ? 1.0f : 0.0f;
  }
  return d;
}

}  // namespace

TEST(Split, HoldsOutTheSameFractionOfEveryClass) {
  Dataset d = imbalanced(90, 10);  // 90 of class 0, 10 of class 1
  const auto [kept, held] = split_stratified(d, 0.2, 7);
  ASSERT_EQ(held.size(), 20u);
  ASSERT_EQ(kept.size(), 80u);
  std::size_t ones = 0;
  for (std::size_t i = 0; i < held.size(); ++i) ones += held.y[i] == 1.0f;
  EXPECT_EQ(ones, 2u);  // 20% of 10
  // Together the parts are the data, each in its original order.
  std::vector<float> all;
  for (const Dataset* p : {&kept, &held})
    for (std::size_t i = 0; i < p->size(); ++i) {
      if (i) {
        EXPECT_LT(p->x(i - 1, 0), p->x(i, 0));
      }
      all.push_back(p->x(i, 0));
    }
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<float>(i));
  // The same seed draws the same samples; another seed others.
  EXPECT_EQ(split_stratified(d, 0.2, 7).second.x.span()[0], held.x.span()[0]);
  const auto other = split_stratified(d, 0.2, 8).second;
  EXPECT_FALSE(std::equal(other.x.span().begin(), other.x.span().end(), held.x.span().begin()));
  // A class of one sample keeps it for training.
  Dataset rare = imbalanced(9, 0);
  rare.y(0, 0) = 1.0f;
  const auto [rk, rh] = split_stratified(rare, 0.5, 7);
  std::size_t rare_kept = 0;
  for (std::size_t i = 0; i < rk.size(); ++i) rare_kept += rk.y[i] == 1.0f;
  EXPECT_EQ(rare_kept, 1u);
  EXPECT_EQ(rh.size(), 5u);  // round(0.5 · 9), all from the class of 8
  EXPECT_THROW(split_stratified(d, 0.001, 7), std::invalid_argument);  // nothing held out
  EXPECT_THROW(split_stratified(d, 0.999, 7), std::invalid_argument);  // nothing left to train on
}

TEST(Imputer, FillsWithTheTrainingMeanOrMedian) {
  const float nan = std::nanf("");
  Tensor x(4, 2);
  const float v[] = {1, nan, 2, 10, 3, 20, nan, 40};
  std::copy(std::begin(v), std::end(v), x.data());
  const Imputer mean = Imputer::fit(x, "mean");
  EXPECT_FLOAT_EQ(mean.fill[0], 2.0f);
  EXPECT_FLOAT_EQ(mean.fill[1], 70.0f / 3);
  const Imputer median = Imputer::fit(x, "median");
  EXPECT_FLOAT_EQ(median.fill[0], 2.0f);
  EXPECT_FLOAT_EQ(median.fill[1], 20.0f);
  Tensor y = x;
  EXPECT_EQ(median.apply(y), 2u);
  EXPECT_EQ(y(0, 1), 20.0f);
  EXPECT_EQ(y(3, 0), 2.0f);
  EXPECT_EQ(y(2, 1), 20.0f);  // present values stay
  Tensor even(2, 1);
  even[0] = 1, even[1] = 4;
  EXPECT_FLOAT_EQ(Imputer::fit(even, "median").fill[0], 2.5f);  // as numpy.median
  Tensor empty(2, 1);
  empty[0] = empty[1] = nan;
  EXPECT_THROW(Imputer::fit(empty, "mean", {"age"}), std::invalid_argument);
  EXPECT_THROW(Imputer::fit(x, "mode"), std::invalid_argument);
}

TEST(Csv, TextLabelsBecomeClassesInSortedOrder) {
  const std::string f = write_csv("text.csv", "a,b,species\n1,2,virginica\n3,4,setosa\n5,6,versicolor\n7,8,setosa\n");
  const Dataset d = csv::read(f);
  ASSERT_EQ(d.num_classes, 3u);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
  EXPECT_EQ(d.y[0], 2.0f);
  EXPECT_EQ(d.y[1], 0.0f);
  EXPECT_EQ(d.y[2], 1.0f);
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d.label_name, "species");
  // A data row whose label is text is no header.
  const Dataset h = csv::read(write_csv("nohead.csv", "1,2,cat\n3,4,dog\n"));
  EXPECT_EQ(h.size(), 2u);
  EXPECT_TRUE(h.feature_names.empty());
  // Other data is read by the training classes' names; an unknown name is an error.
  csv::Options o;
  o.class_names = d.class_names;
  const Dataset t = csv::read(write_csv("t.csv", "a,b,species\n1,2,versicolor\n"), o);
  EXPECT_EQ(t.y[0], 1.0f);
  EXPECT_NE(error_of(write_csv("u.csv", "a,b,species\n1,2,daisy\n"), o)
                .find("u.csv:2: label 'daisy' is not one of the 3 classes (setosa, versicolor, virginica)"),
            std::string::npos);
  // A regression target must be numeric.
  csv::Options r;
  r.regression = true;
  EXPECT_NE(error_of(f, r).find("text.csv:2: the target 'virginica' is not a finite number"), std::string::npos);
}

TEST(Csv, ANumericTargetIsNotMadeIntoClasses) {
  const std::string frac = write_csv("frac.csv", "x,price\n1,2.5\n2,3.75\n");
  EXPECT_NE(error_of(frac).find("frac.csv:2: label '2.5' out of range"), std::string::npos) << error_of(frac);
  EXPECT_NE(error_of(frac).find("a label column with fractions is a numeric target: train a regression"),
            std::string::npos);
  std::string many = "x,year\n";
  for (int i = 0; i < 300; ++i) many += std::to_string(i) + "," + std::to_string(1800 + i) + "\n";
  EXPECT_NE(error_of(write_csv("many.csv", many)).find("a label column of large numbers is a numeric target"),
            std::string::npos);
  csv::Options r;
  r.regression = true;
  EXPECT_FLOAT_EQ(csv::read(frac, r).y[1], 3.75f);
}

TEST(Csv, MissingValuesAreAnErrorOrNaNToImpute) {
  const std::string f = write_csv("miss.csv", "a,b,label\n1,2,0\n3,NA,1\n,4,0\n5,nan,1\n6,?,0\n");
  EXPECT_NE(error_of(f).find("miss.csv:3: column 2 ('b'): missing value ('NA'); fill it in, or impute them (mean or "
                             "median)"),
            std::string::npos)
      << error_of(f);
  csv::Options o;
  o.allow_missing = true;
  const Dataset d = csv::read(f, o);
  EXPECT_TRUE(std::isnan(d.x(1, 1)));
  EXPECT_TRUE(std::isnan(d.x(2, 0)));
  EXPECT_TRUE(std::isnan(d.x(3, 1)));
  EXPECT_TRUE(std::isnan(d.x(4, 1)));
  EXPECT_NE(error_of(write_csv("nolabel.csv", "a,label\n1,0\n2,NA\n"), o).find("nolabel.csv:3: column 2 ('label'): the label is missing"),
            std::string::npos);
  // "inf" is no missing value: still an error.
  EXPECT_NE(error_of(write_csv("inf.csv", "a,label\n1,0\ninf,1\n"), o).find("'inf' is not a finite number"),
            std::string::npos);
}

TEST(Csv, HeaderColumnsAreMatchedToTheModelsFeaturesByName) {
  csv::Options o;
  o.has_labels = false;
  o.feature_names = {"a", "b", "c"};
  o.ignore_columns = {"species"};
  const Dataset d = csv::read(write_csv("order.csv", "c,species,a,b\n3,x,1,2\n"), o);
  ASSERT_EQ(d.features(), 3u);
  EXPECT_EQ(d.x(0, 0), 1.0f);
  EXPECT_EQ(d.x(0, 1), 2.0f);
  EXPECT_EQ(d.x(0, 2), 3.0f);
  EXPECT_NE(error_of(write_csv("lack.csv", "a,c\n1,3\n"), o)
                .find("lack.csv: the header does not match the model's 3 features: missing b"),
            std::string::npos);
  EXPECT_NE(error_of(write_csv("extra.csv", "a,b,c,d\n1,2,3,4\n"), o).find("not a feature: d"), std::string::npos);
  // Without a header the columns are taken in order.
  EXPECT_EQ(csv::read(write_csv("plain.csv", "1,2,3\n"), o).x(0, 2), 3.0f);
}

TEST(InputRange, RawPixelsIntoAModelTrainedOnScaledImagesNameTheScale) {
  Tensor train(3, 4);
  for (std::size_t i = 0; i < train.size(); ++i) train[i] = static_cast<float>(i % 5) / 4.0f;  // [0, 1]
  const InputRange r = InputRange::fit(train, kIdxPixelForm);
  EXPECT_EQ(r.min, (std::vector<float>{0, 0, 0, 0.25f}));
  EXPECT_EQ(r.check(train), "");
  Tensor raw = train;
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] *= 255;
  const std::string w = r.check(raw, {"p0", "p1", "p2", "p3"});
  EXPECT_NE(w.find("9 of 12 values are far outside the training data's range, in 4 of 4 features: 'p3' 191.25 "
                   "(trained on [0.25, 0.75]), 'p0' 255 (trained on [0, 1])"),
            std::string::npos) << w;
  EXPECT_NE(w.find("raw 0-255 pixels"), std::string::npos) << w;
  EXPECT_NE(w.find("divide the inputs by 255"), std::string::npos) << w;
  EXPECT_NE(w.find(kIdxPixelForm), std::string::npos) << w;
}

TEST(InputRange, InputsScaledDownAreFlaggedAndMissingValuesSkipped) {
  Tensor train(3, 4);  // raw pixels: [0, 0, 0, 0], [255, 200, 100, 50], [NaN, 10, 10, 10]
  const float v[] = {0, 0, 0, 0, 255, 200, 100, 50, std::numeric_limits<float>::quiet_NaN(), 10, 10, 10};
  std::copy(v, v + 12, train.data());
  const InputRange r = InputRange::fit(train);
  EXPECT_EQ(r.max, (std::vector<float>{255, 200, 100, 50}));  // the NaN skipped
  Tensor small(2, 4);
  for (std::size_t i = 0; i < small.size(); ++i) small[i] = train[i] / 255;  // pixels already divided by 255
  const std::string w = r.check(small);
  EXPECT_NE(w.find("less than 1/50 of the training data's [0, 255]"), std::string::npos) << w;
  EXPECT_THROW(r.check(Tensor(1, 3)), std::invalid_argument);
}

TEST(Idx, ALimitReadsTheFirstSamplesAsReadingAllThenKeepingThem) {
  if (!std::filesystem::exists(idx::kFashionMnistDir)) GTEST_FAIL() << "dataset-fashion-mnist is not installed";
  const Dataset all = idx::fashion_mnist(idx::kFashionMnistDir, false);
  const Dataset first = idx::fashion_mnist(idx::kFashionMnistDir, false, 700);
  ASSERT_EQ(first.size(), 700u);
  EXPECT_EQ(first.num_classes, all.num_classes);
  EXPECT_EQ(std::memcmp(first.x.data(), all.x.data(), first.x.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(first.y.data(), all.y.data(), first.y.size() * sizeof(float)), 0);
  EXPECT_EQ(idx::fashion_mnist(idx::kFashionMnistDir, false, 20000).size(), all.size());  // more than there are
}
