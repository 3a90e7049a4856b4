// Decodes the DATA stream (RFC 5321 4.1.1.4, 4.5.2): removes dot-stuffing and finds the
// end of data. Only CRLF "." CRLF ends the data; a lone CR or LF is never a line end for
// that purpose (SMTP smuggling, CVE-2023-51764 class). What happens to lone CR/LF inside
// the message is one documented rule, chosen by configuration:
//   refuse    (default) the message is read to its real end and refused (550 5.6.0);
//   normalise each lone CR or LF is stored as CRLF.
// Limits (size, line length) are checked as bytes arrive; after a fault the decoder only
// looks for the end of data and stores nothing more. Pure: bytes in, bytes out.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mailseal::smtp {

enum class BareLineEndings { refuse, normalise };

struct DataLimits {
  std::size_t max_size = 50 * 1024 * 1024;  // decoded bytes
  std::size_t max_line_length = 998;        // octets without CRLF (RFC 5322 2.1.1)
  BareLineEndings bare_line_endings = BareLineEndings::refuse;
};

enum class DataFault { none, too_big, line_too_long, bare_line_ending, nul_byte };

class DataDecoder {
 public:
  explicit DataDecoder(DataLimits limits) : limits_(limits) {}

  // Consumes bytes of `in` and appends the decoded message bytes to `out`. Returns the
  // number of bytes consumed: all of `in` unless the end of data was reached, in which
  // case the rest belongs to the next pipelined command.
  std::size_t feed(std::string_view in, std::string& out);

  bool done() const { return state_ == State::done; }
  DataFault fault() const { return fault_; }
  std::size_t size() const { return size_; }  // decoded bytes (counted even past a fault)

 private:
  enum class State { line_start, dot, dot_cr, in_line, cr, done };
  void emit(std::string& out, std::string_view bytes);
  void emit_line_end(std::string& out);
  void set_fault(DataFault f) {
    if (fault_ == DataFault::none) fault_ = f;
  }
  void bare(std::string& out);

  DataLimits limits_;
  State state_ = State::line_start;
  DataFault fault_ = DataFault::none;
  std::size_t size_ = 0;
  std::size_t line_length_ = 0;
};

// Encodes a message for the DATA phase of a client: dot-stuffs lines that start with '.'
// and, at finish(), ends a last unterminated line and appends the terminating ".".
class DotStuffer {
 public:
  void feed(std::string_view in, std::string& out);
  void finish(std::string& out);

 private:
  bool line_start_ = true;
  bool last_cr_ = false;
};

}  // namespace mailseal::smtp
