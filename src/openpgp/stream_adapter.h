// Internal: turns a Source / Sink into an rnp_input_t / rnp_output_t through
// rnp_input_from_callback / rnp_output_to_callback. The adapter owns the callback
// context, so it must outlive every RNP operation that uses its handle.
#pragma once

#include <memory>

#include "openpgp/result.h"
#include "openpgp/rnp_handles.h"
#include "openpgp/streams.h"

namespace mailseal::openpgp::detail {

class InputAdapter {
 public:
  static Result<std::unique_ptr<InputAdapter>> open(const Source& source);
  rnp_input_t get() const { return input_.get(); }
  bool read_failed() const;

  struct Context;
  ~InputAdapter();

 private:
  InputAdapter() = default;
  std::unique_ptr<Context> ctx_;
  InputPtr input_;  // destroyed before ctx_ (declared after it)
};

class OutputAdapter {
 public:
  static Result<std::unique_ptr<OutputAdapter>> open(const Sink& sink);
  // A writer that discards everything (verify without keeping the content).
  static Result<std::unique_ptr<OutputAdapter>> null();
  rnp_output_t get() const { return output_.get(); }
  bool write_failed() const;
  // Flushes RNP's buffers into the sink (armor trailer etc.) and closes the output.
  Status finish();

  struct Context;
  ~OutputAdapter();

 private:
  OutputAdapter() = default;
  std::unique_ptr<Context> ctx_;
  OutputPtr output_;
};

}  // namespace mailseal::openpgp::detail
