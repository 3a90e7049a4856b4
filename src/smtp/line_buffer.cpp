// LineBuffer and the client-side reply parser.
#include "smtp/line_buffer.h"

#include <cctype>

namespace mailseal::smtp {

void LineBuffer::compact() {
  if (start_ > 0 && (start_ == data_.size() || start_ > 64 * 1024)) {
    data_.erase(0, start_);
    start_ = 0;
  }
}

void LineBuffer::consume(std::size_t n) {
  start_ += n;
  compact();
}

void LineBuffer::clear() {
  data_.clear();
  start_ = 0;
  discarding_ = false;
}

bool LineBuffer::has_line() const {
  return data_.find('\n', start_) != std::string::npos;
}

LineBuffer::Result LineBuffer::next_line(std::size_t max_length, std::string& line) {
  while (true) {
    auto nl = data_.find('\n', start_);
    if (nl == std::string::npos) {
      if (data_.size() - start_ > max_length + 2) {
        // Over-long: drop what we have, keep discarding until the line ends.
        const bool first = !discarding_;
        discarding_ = true;
        data_.clear();
        start_ = 0;
        if (first) return Result::too_long;
      }
      return Result::need_more;
    }
    std::size_t end = nl;
    if (end > start_ && data_[end - 1] == '\r') --end;
    const bool was_discarding = discarding_;
    const bool too_long = end - start_ > max_length;
    if (!was_discarding && !too_long) line.assign(data_, start_, end - start_);
    start_ = nl + 1;
    discarding_ = false;
    compact();
    if (was_discarding) continue;  // the tail of a line already reported
    if (too_long) return Result::too_long;
    return Result::line;
  }
}

std::size_t parse_reply(std::string_view in, ParsedReply& out) {
  out = ParsedReply{};
  std::size_t pos = 0;
  while (true) {
    auto nl = in.find('\n', pos);
    if (nl == std::string_view::npos) return 0;
    std::string_view line = in.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    int code = 0;
    if (line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
        std::isdigit(static_cast<unsigned char>(line[1])) &&
        std::isdigit(static_cast<unsigned char>(line[2])))
      code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    const bool more = line.size() > 3 && line[3] == '-';
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
    // Enhanced status code "d.ddd.ddd " at the start of the text (RFC 2034).
    std::size_t sp = text.find(' ');
    std::string_view first = text.substr(0, sp);
    if (first.size() >= 5 && first[1] == '.' &&
        (first[0] == '2' || first[0] == '4' || first[0] == '5')) {
      if (out.enhanced.empty()) out.enhanced = std::string(first);
      text = sp == std::string_view::npos ? std::string_view{} : text.substr(sp + 1);
    }
    if (out.code == 0) out.code = code;
    if (code == 0 || code != out.code) out.code = 0;  // malformed or inconsistent
    if (!out.text.empty()) out.text += '\n';
    out.text += text;
    if (!more) return pos;
  }
}

}  // namespace mailseal::smtp
