// Splits received bytes into lines for the command phase. A line ends at LF (a preceding
// CR is removed); a line longer than the limit is reported once and then discarded up to
// its end, so a client cannot make us buffer without bound. Pure: no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mailseal::smtp {

class LineBuffer {
 public:
  enum class Result { line, need_more, too_long };

  void append(std::string_view bytes) { data_.append(bytes); }
  // Extracts the next line (without CRLF) into `line`.
  Result next_line(std::size_t max_length, std::string& line);
  // Bytes received but not yet consumed (e.g. pipelined after DATA's end).
  std::string_view pending() const { return std::string_view(data_).substr(start_); }
  void consume(std::size_t n);
  void clear();  // STARTTLS: discard everything pipelined before the handshake
  bool has_line() const;

 private:
  void compact();
  std::string data_;
  std::size_t start_ = 0;
  bool discarding_ = false;
};

// Parses a (possibly multi-line) server reply from the start of `in`. Returns the number of
// bytes used, or 0 if the reply is not complete yet. Malformed lines give code 0.
struct ParsedReply {
  int code = 0;
  std::string enhanced;
  std::string text;  // lines joined by '\n', status codes stripped
};
std::size_t parse_reply(std::string_view in, ParsedReply& out);

}  // namespace mailseal::smtp
