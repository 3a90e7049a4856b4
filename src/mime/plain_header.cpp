#include "mime/plain_header.h"

#include <gmime/gmime.h>
#include <strings.h>

#include <algorithm>

namespace mailseal::mime {
namespace {

bool is_field_name_char(unsigned char c) {
  return c >= 33 && c <= 126 && c != ':';
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// GMime's raw value without the final line end and the blanks after the colon (what
// entity.cpp's trim_value makes of it).
std::string field_value(std::string_view raw) {
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r')) raw.remove_suffix(1);
  std::size_t start = raw.find_first_not_of(" \t");
  return start == std::string_view::npos ? std::string() : std::string(raw.substr(start));
}

}  // namespace

std::optional<std::vector<Header>> plain_header_fields(std::string_view block,
                                                       std::size_t max_fields) {
  for (std::size_t i = 0; i < block.size(); ++i) {
    const auto c = static_cast<unsigned char>(block[i]);
    if (c == 0 || c >= 0x80) return std::nullopt;
    if (c == '\r' && (i + 1 == block.size() || block[i + 1] != '\n')) return std::nullopt;
  }
  std::vector<Header> message_fields, content_fields;
  std::size_t count = 0;
  std::size_t pos = 0;
  while (true) {
    if (pos >= block.size()) return std::nullopt;  // no empty line at the end
    std::size_t eol = block.find('\n', pos);
    if (eol == std::string_view::npos) return std::nullopt;
    std::string_view first(block.data() + pos, eol + 1 - pos);
    if (first == "\n" || first == "\r\n") {
      if (eol + 1 != block.size()) return std::nullopt;  // bytes after the empty line
      break;
    }
    std::size_t colon = 0;
    while (colon < first.size() && is_field_name_char(static_cast<unsigned char>(first[colon])))
      ++colon;
    if (colon == 0 || colon >= first.size() || first[colon] != ':') return std::nullopt;
    // The field goes on over every following line that starts with a blank.
    std::size_t end = eol + 1;
    while (end < block.size() && (block[end] == ' ' || block[end] == '\t')) {
      std::size_t next = block.find('\n', end);
      if (next == std::string_view::npos) return std::nullopt;
      end = next + 1;
    }
    if (++count > max_fields) return std::nullopt;
    Header h{std::string(first.substr(0, colon)),
             field_value(block.substr(pos + colon + 1, end - pos - colon - 1))};
    (is_content_header(h.name) ? content_fields : message_fields).push_back(std::move(h));
    pos = end;
  }
  for (auto& h : content_fields) message_fields.push_back(std::move(h));
  return message_fields;
}

ContentTypeFields parse_content_type(const std::string& value) {
  ContentTypeFields out;
  ensure_init();
  GMimeContentType* ct = g_mime_content_type_parse(nullptr, value.c_str());
  if (!ct) return out;
  const char* type = g_mime_content_type_get_media_type(ct);
  const char* subtype = g_mime_content_type_get_media_subtype(ct);
  out.mime_type = lower(std::string(type ? type : "") + "/" + (subtype ? subtype : ""));
  auto param = [ct](const char* name) {
    const char* v = g_mime_content_type_get_parameter(ct, name);
    return std::string(v ? v : "");
  };
  out.boundary = param("boundary");
  out.protocol = lower(param("protocol"));
  out.smime_type = lower(param("smime-type"));
  g_object_unref(ct);
  return out;
}

std::optional<PlainPart> plain_part(std::string_view block, std::size_t max_fields) {
  auto fields = plain_header_fields(block, max_fields);
  if (!fields) return std::nullopt;
  PlainPart p;
  const Header *type = nullptr, *encoding = nullptr;
  for (const auto& h : *fields) {
    const Header** slot = strcasecmp(h.name.c_str(), "Content-Type") == 0                ? &type
                          : strcasecmp(h.name.c_str(), "Content-Transfer-Encoding") == 0 ? &encoding
                                                                                         : nullptr;
    if (!slot) continue;
    if (*slot) return std::nullopt;
    *slot = &h;
  }
  p.has_type = type != nullptr;
  if (type)
    p.type = parse_content_type(type->value);
  else
    p.type.mime_type = "text/plain";
  if (encoding) p.encoding = lower(encoding->value);
  p.headers = std::move(*fields);
  return p;
}

}  // namespace mailseal::mime
