// Blocking DNS queries with a deadline over one shared libunbound context.
//
// libunbound has no per-query timeout: ub_resolve() can block for a minute when the
// resolver is dead. So every query goes through ub_resolve_async() (libunbound's own
// resolver thread does the work); one thread of ours turns the answers into callbacks
// (ub_process), and the asking thread waits on a condition variable until its answers
// are in or its deadline passes, then cancels what is left. Safe to call from any number
// of threads at once.
#pragma once

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "dns/answer.h"

struct ub_ctx;

namespace mailseal::dns {

class QueryEngine {
 public:
  // Takes ownership of a configured context that has not answered anything yet
  // (ub_ctx_async(ctx, 1) must have been set).
  explicit QueryEngine(ub_ctx* ctx);
  ~QueryEngine();  // no ask() may be running
  QueryEngine(const QueryEngine&) = delete;
  QueryEngine& operator=(const QueryEngine&) = delete;

  struct Question {
    std::string name;
    int type = 0;  // RR type, e.g. 15 for MX
  };
  // The questions are asked in parallel; all share the one timeout. An answer that did
  // not arrive has `failure` set ("no answer within 10s").
  std::vector<Answer> ask(const std::vector<Question>& questions,
                          std::chrono::milliseconds timeout);

 private:
  void deliver_answers();

  ub_ctx* ctx_;
  int wake_[2] = {-1, -1};  // pipe: tells the delivery thread to stop
  std::thread thread_;
};

}  // namespace mailseal::dns
