#include "progress.h"

#include <unistd.h>

#include <cmath>

#include <fmt/format.h>

namespace gradflow::app {

Progress::Progress(std::size_t epochs, std::size_t samples, const RunFolder* folder, bool with_val)
    : epochs_(epochs), samples_(samples), folder_(folder), tty_(::isatty(STDOUT_FILENO)), with_val_(with_val) {}

namespace {
std::string pct(double v) { return std::isnan(v) ? "      -" : fmt::format("{:6.2f}%", 100 * v); }
// A loss in `width` columns: fixed to 4 decimals while it fits, else in scientific notation (a
// diverging run's 5.8e13 must not push the table's columns apart).
std::string num(double v, int width = 9) {
  if (std::isnan(v)) return fmt::format("{:>{}}", "-", width);
  if (std::fabs(v) < 1e4) return fmt::format("{:{}.4f}", v, width);
  return fmt::format("{:{}.3e}", v, width);
}
}  // namespace

void Progress::on_train_begin(Trainer&) {
  fmt::print("{:>5}  {:>10}  {:>9}  {}{:>9}  {:>8}  {:>9}  {:>7}\n", "epoch", "train_loss", "train_acc",
             with_val_ ? fmt::format("{:>9}  {:>8}  ", "val_loss", "val_acc") : "", "test_loss", "test_acc", "lr",
             "seconds");
  std::fflush(stdout);
}

void Progress::on_epoch_begin(Trainer&, std::size_t) {
  epoch_start_ = last_draw_ = Clock::now();
  seen_ = 0;
  loss_sum_ = 0;
}

void Progress::on_step_end(Trainer&, const StepInfo& s) {
  seen_ += s.batch_size;
  loss_sum_ += s.loss * static_cast<double>(s.batch_size);
  const auto now = Clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if ((tty_ && since > 0.1) || (!tty_ && since > 10.0)) {
    last_draw_ = now;
    draw(s);
  }
}

void Progress::draw(const StepInfo& s) {
  const double elapsed = std::chrono::duration<double>(Clock::now() - epoch_start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(seen_) / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(samples_ - seen_) / rate : 0;
  const double frac = static_cast<double>(seen_) / static_cast<double>(samples_);
  const int width = 30, filled = static_cast<int>(frac * width);
  const std::string line = fmt::format(
      "epoch {}/{} [{}{}] {:3.0f}% {}/{}  {:.0f} samples/s  ETA {}  loss {:.4f}", s.epoch, epochs_,
      std::string(static_cast<std::size_t>(filled), '#'), std::string(static_cast<std::size_t>(width - filled), '.'),
      100 * frac, seen_, samples_, rate, eta < 10 ? fmt::format("{:.1f}s", eta) : fmt::format("{:.0f}s", eta),
      loss_sum_ / static_cast<double>(seen_));
  if (tty_) fmt::print("\r{}\x1b[K", line);
  else fmt::print("{}\n", line);
  std::fflush(stdout);
}

void Progress::warn(const std::string& message) {
  if (tty_) fmt::print("\r\x1b[K");
  fmt::print("warning: {}\n", message);
  std::fflush(stdout);
  warnings_.push_back(message);
}

void Progress::on_epoch_end(Trainer&, const EpochMetrics& m) {
  const double lr = m.lr;  // the rate the epoch trained with (a plateau schedule has already moved on)
  if (tty_) fmt::print("\r\x1b[K");
  fmt::print("{:>5}  {:>10}  {:>9}  {}{}  {:>8}  {:>9.3g}  {:>7.2f}\n", m.epoch, num(m.train_loss, 10), pct(m.train_acc),
             with_val_ ? fmt::format("{}  {:>8}  ", num(m.val_loss), pct(m.val_acc)) : "", num(m.test_loss),
             pct(m.test_acc), lr, m.seconds);
  std::fflush(stdout);
  if (folder_) folder_->append_metrics(m, lr, warnings_);
  warnings_.clear();
}

}  // namespace gradflow::app
