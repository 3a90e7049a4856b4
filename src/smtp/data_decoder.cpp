// DATA decoding and dot-stuffing state machines.
#include "smtp/data_decoder.h"

#include <cstring>

namespace mailseal::smtp {

void DataDecoder::emit(std::string& out, std::string_view bytes) {
  size_ += bytes.size();
  line_length_ += bytes.size();
  if (size_ > limits_.max_size) set_fault(DataFault::too_big);
  if (line_length_ > limits_.max_line_length) set_fault(DataFault::line_too_long);
  if (fault_ == DataFault::none) out.append(bytes);
}

void DataDecoder::emit_line_end(std::string& out) {
  size_ += 2;
  if (size_ > limits_.max_size) set_fault(DataFault::too_big);
  if (fault_ == DataFault::none) out.append("\r\n");
  line_length_ = 0;
}

// A lone CR or LF: refused, or stored as a line end. Either way it is not an end of data
// candidate: the state after it is in_line, so "\n.\n" or "\r.\r" never terminates.
void DataDecoder::bare(std::string& out) {
  if (limits_.bare_line_endings == BareLineEndings::refuse) {
    set_fault(DataFault::bare_line_ending);
  } else {
    emit_line_end(out);
  }
}

std::size_t DataDecoder::feed(std::string_view in, std::string& out) {
  std::size_t i = 0;
  while (i < in.size() && state_ != State::done) {
    const char c = in[i];
    switch (state_) {
      case State::line_start:
        if (c == '.') {
          state_ = State::dot;
          ++i;
          continue;
        }
        state_ = State::in_line;
        continue;  // reprocess c in in_line
      case State::dot:
        if (c == '\r') {
          state_ = State::dot_cr;
          ++i;
          continue;
        }
        state_ = State::in_line;  // the leading dot was stuffing: drop it
        continue;
      case State::dot_cr:
        if (c == '\n') {
          state_ = State::done;
          ++i;
          continue;
        }
        bare(out);  // "." CR x: the CR is lone
        state_ = State::in_line;
        continue;
      case State::cr:
        if (c == '\n') {
          emit_line_end(out);
          state_ = State::line_start;
          ++i;
          continue;
        }
        bare(out);
        state_ = State::in_line;
        continue;
      case State::in_line: {
        // Fast path: copy the run of ordinary bytes up to the next CR, LF or NUL.
        std::size_t j = i;
        while (j < in.size() && in[j] != '\r' && in[j] != '\n' && in[j] != '\0') ++j;
        if (j > i) emit(out, in.substr(i, j - i));
        i = j;
        if (i == in.size()) continue;
        if (in[i] == '\r') {
          state_ = State::cr;
        } else if (in[i] == '\n') {
          bare(out);
        } else {
          set_fault(DataFault::nul_byte);
        }
        ++i;
        continue;
      }
      case State::done:
        break;
    }
  }
  return i;
}

void DotStuffer::feed(std::string_view in, std::string& out) {
  // Line by line with memchr: large bodies are copied in runs, not byte by byte.
  std::size_t i = 0;
  while (i < in.size()) {
    if (line_start_ && in[i] == '.') out.push_back('.');
    const void* lf = std::memchr(in.data() + i, '\n', in.size() - i);
    if (!lf) {
      out.append(in.substr(i));
      last_cr_ = in.back() == '\r';
      line_start_ = false;
      return;
    }
    std::size_t j = static_cast<std::size_t>(static_cast<const char*>(lf) - in.data());
    out.append(in.substr(i, j + 1 - i));
    line_start_ = j > i ? in[j - 1] == '\r' : last_cr_;
    last_cr_ = false;
    i = j + 1;
  }
}

void DotStuffer::finish(std::string& out) {
  if (!line_start_) out.append(last_cr_ ? "\n" : "\r\n");
  out.append(".\r\n");
  line_start_ = true;
  last_cr_ = false;
}

}  // namespace mailseal::smtp
