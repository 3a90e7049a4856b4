// QueryEngine: async libunbound queries, a delivery thread, waits with a deadline.
//
// Ownership of a query's callback slot: libunbound calls the callback exactly once,
// unless ub_cancel() succeeds first. In threaded mode ub_cancel() marks the query under
// the same lock under which the answer path picks the callback, so UB_NOERROR from
// ub_cancel means "the callback will never run" (we free the slot) and UB_NOID means "it
// runs or ran" (we wait for it; it frees the slot). See libunbound.c, ub_cancel and
// process_answer_detail.
#include "dns/query_engine.h"

#include <fcntl.h>
#include <poll.h>
#include <unbound.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace mailseal::dns {

namespace {

struct Batch {
  std::mutex mutex;
  std::condition_variable done_cv;
  std::vector<Answer> answers;
  std::vector<bool> done;
};

struct Slot {
  std::shared_ptr<Batch> batch;
  std::size_t index;
};

void on_answer(void* data, int err, ub_result* result) {
  std::unique_ptr<Slot> slot(static_cast<Slot*>(data));
  Batch& b = *slot->batch;
  {
    std::lock_guard lock(b.mutex);
    Answer& a = b.answers[slot->index];
    if (err != 0 || !result) {
      a.failure = std::string("resolver error: ") + ub_strerror(err);
    } else {
      a.rcode = result->rcode;
      a.havedata = result->havedata != 0;
      a.nxdomain = result->nxdomain != 0;
      a.secure = result->secure != 0;
      a.bogus = result->bogus != 0;
      if (result->why_bogus) a.why_bogus = result->why_bogus;
      for (int i = 0; result->data && result->data[i]; ++i)
        a.rdata.emplace_back(result->data[i], static_cast<std::size_t>(result->len[i]));
    }
    b.done[slot->index] = true;
  }
  ub_resolve_free(result);
  b.done_cv.notify_all();
}

}  // namespace

QueryEngine::QueryEngine(ub_ctx* ctx) : ctx_(ctx) {
  if (pipe2(wake_, O_CLOEXEC) != 0) {
    ub_ctx_delete(ctx_);
    throw std::runtime_error("dns: cannot create a pipe");
  }
  thread_ = std::thread([this] { deliver_answers(); });
}

QueryEngine::~QueryEngine() {
  char stop = 1;
  (void)!write(wake_[1], &stop, 1);
  thread_.join();
  close(wake_[0]);
  close(wake_[1]);
  ub_ctx_delete(ctx_);
}

void QueryEngine::deliver_answers() {
  pollfd fds[2] = {{ub_fd(ctx_), POLLIN, 0}, {wake_[0], POLLIN, 0}};
  while (true) {
    if (poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[1].revents) return;
    if (fds[0].revents) ub_process(ctx_);  // runs on_answer for each answer that came in
  }
}

std::vector<Answer> QueryEngine::ask(const std::vector<Question>& questions,
                                     std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto batch = std::make_shared<Batch>();
  batch->answers.resize(questions.size());
  batch->done.assign(questions.size(), false);
  std::vector<int> ids(questions.size(), 0);
  std::vector<Slot*> slots(questions.size(), nullptr);
  for (std::size_t i = 0; i < questions.size(); ++i) {
    batch->answers[i].name = questions[i].name;
    auto* slot = slots[i] = new Slot{batch, i};
    int err = ub_resolve_async(ctx_, questions[i].name.c_str(), questions[i].type, 1 /* IN */, slot,
                               on_answer, &ids[i]);
    if (err != 0) {
      delete slot;  // not submitted: the callback will never run
      std::lock_guard lock(batch->mutex);
      batch->answers[i].failure = std::string("resolver error: ") + ub_strerror(err);
      batch->done[i] = true;
    }
  }
  std::unique_lock lock(batch->mutex);
  auto all_done = [&] {
    return std::all_of(batch->done.begin(), batch->done.end(), [](bool d) { return d; });
  };
  if (!batch->done_cv.wait_until(lock, deadline, all_done)) {
    auto seconds = std::chrono::duration_cast<std::chrono::duration<double>>(timeout).count();
    char text[64];
    std::snprintf(text, sizeof text, "no answer within %gs", seconds);
    for (std::size_t i = 0; i < questions.size(); ++i) {
      if (batch->done[i]) continue;
      lock.unlock();
      int err = ub_cancel(ctx_, ids[i]);
      lock.lock();
      if (err == UB_NOERROR) {
        // Cancelled before its callback was picked: the slot is ours to free.
        delete slots[i];
        batch->answers[i].failure = text;
        batch->done[i] = true;
      }
      // UB_NOID: the callback runs or ran; it marks the answer done.
    }
    batch->done_cv.wait(lock, all_done);
  }
  return std::move(batch->answers);
}

}  // namespace mailseal::dns
