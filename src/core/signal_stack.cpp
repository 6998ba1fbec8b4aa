#include "gradflow/signal_stack.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>

namespace gradflow {

namespace {
// Room for the kernel's frame (AMX state alone is 8 KB) and a handler's own calls.
std::size_t stack_bytes() {
  const long minimum = sysconf(_SC_MINSIGSTKSZ);
  return std::max<std::size_t>(64 * 1024, minimum > 0 ? 4 * static_cast<std::size_t>(minimum) : 0);
}
}  // namespace

SignalStack::SignalStack() {
  stack_t old{};
  if (sigaltstack(nullptr, &old) != 0 || !(old.ss_flags & SS_DISABLE)) return;
  const std::size_t bytes = stack_bytes();
  stack_ = std::make_unique_for_overwrite<char[]>(bytes);  // no need to zero 64 KB per call
  stack_t ss{};
  ss.ss_sp = stack_.get();
  ss.ss_size = bytes;
  if (sigaltstack(&ss, nullptr) != 0) stack_.reset();
}

SignalStack::~SignalStack() {
  if (!stack_) return;
  stack_t off{};
  off.ss_flags = SS_DISABLE;
  sigaltstack(&off, nullptr);
}

}  // namespace gradflow
