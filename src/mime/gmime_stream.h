// GMime streams over callbacks: a seekable read-only stream over a positional reader
// (so the parser can keep part contents as substreams instead of copying 50 MB bodies)
// and a write-only stream over an appender. mime/ does not link core/, hence callbacks.
#pragma once

#include <gmime/gmime.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace mailseal::mime {

using ReadAtFn = std::function<long(std::size_t offset, char* buf, std::size_t n)>;
using AppendFn = std::function<bool(std::string_view bytes)>;

// A byte range readable at any offset (a MessageBody, a string, a sub-range).
struct Source {
  ReadAtFn read_at;
  std::size_t size = 0;
};

Source source_from_string(const std::string& s);  // s must outlive the Source
Source sub_source(const Source& base, std::size_t offset, std::size_t length);
// The parts one after the other, read in place (each must outlive the result): the seal
// path puts a signed entity together this way instead of copying it into a new body.
Source concat_source(std::vector<Source> parts);

// g_mime_init exactly once, from any thread.
void ensure_init();

struct GObjectUnref {
  void operator()(gpointer p) const {
    if (p) g_object_unref(p);
  }
};
template <class T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

GPtr<GMimeStream> new_source_stream(Source source);
GPtr<GMimeStream> new_sink_stream(AppendFn append);

}  // namespace mailseal::mime
