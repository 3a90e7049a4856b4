// Callback adapters between RNP streams and mailseal's MessageBody / memory buffers.
// Reads use MessageBody::Reader (position per adapter); writes append to the sink.
// RNP calls these from inside its C code: they never throw.
#include <algorithm>
#include <cstring>
#include <optional>

#include "openpgp/stream_adapter.h"

namespace mailseal::openpgp::detail {

struct InputAdapter::Context {
  explicit Context(const Source& s)
      : body(s.body()), bytes(s.bytes()), read_at(s.read_at()), size(s.size()) {
    if (body) reader = body->reader();
  }
  const core::MessageBody* body;
  std::optional<core::MessageBody::Reader> reader;
  std::string_view bytes;  // when there is no body; consumed from the front
  Source::ReadAt read_at;  // positional reads, up to `size`, from `position`
  std::size_t size = 0, position = 0;
  bool failed = false;
};

struct OutputAdapter::Context {
  Sink sink;
  bool failed = false;
};

namespace {

bool read_source(void* app_ctx, void* buf, size_t len, size_t* read) {
  auto* ctx = static_cast<InputAdapter::Context*>(app_ctx);
  if (ctx->read_at) {
    const size_t want = std::min(len, ctx->size - ctx->position);
    long got = want ? ctx->read_at(ctx->position, static_cast<char*>(buf), want) : 0;
    if (got < 0) {
      ctx->failed = true;
      *read = 0;
      return false;
    }
    ctx->position += static_cast<size_t>(got);
    *read = static_cast<size_t>(got);
    return true;
  }
  if (!ctx->reader) {  // bytes in memory (a callback too: RNP refuses empty memory input)
    size_t n = std::min(len, ctx->bytes.size());
    if (n) std::memcpy(buf, ctx->bytes.data(), n);
    ctx->bytes.remove_prefix(n);
    *read = n;
    return true;
  }
  long got = ctx->reader->read(static_cast<char*>(buf), len);
  if (got < 0) {
    ctx->failed = true;
    *read = 0;
    return false;
  }
  *read = static_cast<size_t>(got);
  return true;
}

bool write_sink(void* app_ctx, const void* buf, size_t len) {
  auto* ctx = static_cast<OutputAdapter::Context*>(app_ctx);
  if (ctx->failed) return false;
  try {
    std::string_view bytes(static_cast<const char*>(buf), len);
    if (ctx->sink.body()) {
      ctx->sink.body()->append(bytes);
      if (!ctx->sink.body()->ok()) ctx->failed = true;
    } else if (ctx->sink.string()) {
      ctx->sink.string()->append(bytes);
    }
  } catch (...) {  // std::bad_alloc must not unwind through RNP's C frames
    ctx->failed = true;
  }
  return !ctx->failed;
}

bool write_nothing(void*, const void*, size_t) {
  return true;
}

}  // namespace

InputAdapter::~InputAdapter() = default;
OutputAdapter::~OutputAdapter() = default;

bool InputAdapter::read_failed() const {
  return ctx_ && ctx_->failed;
}

Result<std::unique_ptr<InputAdapter>> InputAdapter::open(const Source& source) {
  std::unique_ptr<InputAdapter> a(new InputAdapter());
  rnp_input_t in = nullptr;
  if (source.body() && !source.body()->ok())
    return fail(ErrorKind::io, "source body has a write error");
  a->ctx_ = std::make_unique<Context>(source);
  rnp_result_t rc = rnp_input_from_callback(&in, read_source, nullptr, a->ctx_.get());
  if (rc != RNP_SUCCESS) return rnp_fail("rnp_input_from_callback", rc);
  a->input_.reset(in);
  return a;
}

bool OutputAdapter::write_failed() const {
  return ctx_ && ctx_->failed;
}

Result<std::unique_ptr<OutputAdapter>> OutputAdapter::open(const Sink& sink) {
  std::unique_ptr<OutputAdapter> a(new OutputAdapter());
  a->ctx_ = std::make_unique<Context>(Context{sink, false});
  rnp_output_t out = nullptr;
  rnp_result_t rc = rnp_output_to_callback(&out, write_sink, nullptr, a->ctx_.get());
  if (rc != RNP_SUCCESS) return rnp_fail("rnp_output_to_callback", rc);
  a->output_.reset(out);
  return a;
}

Result<std::unique_ptr<OutputAdapter>> OutputAdapter::null() {
  std::unique_ptr<OutputAdapter> a(new OutputAdapter());
  rnp_output_t out = nullptr;
  rnp_result_t rc = rnp_output_to_callback(&out, write_nothing, nullptr, nullptr);
  if (rc != RNP_SUCCESS) return rnp_fail("rnp_output_to_callback", rc);
  a->output_.reset(out);
  return a;
}

Status OutputAdapter::finish() {
  if (!output_) return success();
  rnp_result_t rc = rnp_output_finish(output_.get());
  output_.reset();
  if (write_failed()) return fail(ErrorKind::io, "writing the output failed");
  if (rc != RNP_SUCCESS) return rnp_fail("rnp_output_finish", rc, ErrorKind::io);
  return success();
}

}  // namespace mailseal::openpgp::detail
