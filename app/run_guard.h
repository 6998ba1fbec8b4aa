// What keeps a run folder whole when training is interrupted or another process reaches for
// it: signals turned into a stop between steps, an exclusive lock on the folder, and the
// clean-up of temporary files a killed process left.
#pragma once

#include <string>

#include "gradflow/signal_stack.h"
#include "gradflow/trainer.h"

namespace gradflow::app {

// While alive: the first SIGINT or SIGTERM asks training to stop after the step under way (a
// Callback that calls Trainer::interrupt); a second one exits at once with 128 + signal
// (every file is written whole, by rename, so nothing is corrupted). The previous handlers
// are restored on destruction.
class InterruptGuard final : public Callback {
 public:
  InterruptGuard();
  ~InterruptGuard() override;
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  void on_step_end(Trainer& t, const StepInfo&) override;
  // The signal received (0: none).
  int signal() const;

 private:
  SignalStack stack_;  // the handler runs there, not on a stack inside a product
};

// An exclusive lock on DIR/.lock (flock), held while alive: a second `train --out DIR` or
// `--resume DIR` fails at once instead of interleaving its files with ours.
class RunLock {
 public:
  explicit RunLock(const std::string& folder);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// Removes the temporary files (.NAME.tmp-PID) that a process killed while writing left in
// `folder`; their targets are untouched (writes are atomic).
void remove_temporaries(const std::string& folder);

// Refuses to start when `folder`'s file system has less free space than `bytes`.
void check_free_space(const std::string& folder, double bytes);
// The bytes the model files (*.safetensors) in `folder` hold: what a resumed run replaces.
double model_files_bytes(const std::string& folder);

}  // namespace gradflow::app
