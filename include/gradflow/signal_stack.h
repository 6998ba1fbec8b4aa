// An alternate signal stack for the calling thread, for as long as the object lives.
//
// Why: a signal handler runs on the stack of the thread it interrupts, and the kernel writes
// the interrupted registers (several KB with AVX-512) just below that thread's stack pointer.
// Interrupting a thread inside a oneDNN matrix product that way corrupted the heap: a Ctrl-C
// during training aborted with "corrupted size vs. prev_size" in 8 of 150 runs on one thread
// (oneDNN 2.6.3, AVX-512; 0 of 200 with the handler on an alternate stack). A program that
// handles signals while training — SIGINT to stop, SIGTERM to checkpoint — holds a SignalStack
// on the training thread and installs its handlers with SA_ONSTACK (Python's own handlers
// have that flag). The library's worker threads block asynchronous signals, so the kernel
// delivers them to a thread of the program's.
//
// Nesting is fine: when the thread has an alternate stack already (Python's faulthandler
// sets one), this one leaves it in place.
#pragma once

#include <memory>

namespace gradflow {

class SignalStack {
 public:
  SignalStack();
  ~SignalStack();
  SignalStack(const SignalStack&) = delete;
  SignalStack& operator=(const SignalStack&) = delete;

 private:
  std::unique_ptr<char[]> stack_;  // null when the thread had one already
};

}  // namespace gradflow
