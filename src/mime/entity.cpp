// Parsing, classification and canonicalisation over GMime (see entity.h).
#include "mime/entity.h"

#include "mime/clean_base64.h"
#include "mime/plain_header.h"

#include <strings.h>
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace mailseal::mime {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim_value(const char* raw) {
  std::string v = raw ? raw : "";
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  std::size_t start = v.find_first_not_of(" \t");
  return start == std::string::npos ? "" : v.substr(start);
}

struct Issues {
  std::string critical;
};

void on_issue(gint64 offset, GMimeParserWarning code, const gchar* item, gpointer data) {
  auto* issues = static_cast<Issues*>(data);
  if (code >= GMIME_CRIT_INVALID_HEADER_NAME && code != GMIME_WARN_PART_WITHOUT_CONTENT &&
      issues->critical.empty()) {
    issues->critical = "MIME parser issue " + std::to_string(static_cast<int>(code)) +
                       " at offset " + std::to_string(offset) +
                       (item ? std::string(": ") + item : "");
  }
}

struct ParsedMessage {
  GPtr<GMimeMessage> message;
  Issues issues;
};

// Parses with a persistent stream: part contents stay substreams of `source`.
ParsedMessage parse_message(const Source& source) {
  ParsedMessage out;
  GPtr<GMimeStream> stream = new_source_stream(source);
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_persist_stream(parser.get(), TRUE);
  GMimeParserOptions* opts = g_mime_parser_options_new();
  g_mime_parser_options_set_warning_callback(opts, on_issue, &out.issues);
  out.message.reset(g_mime_parser_construct_message(parser.get(), opts));
  g_mime_parser_options_free(opts);
  return out;
}

std::string param(GMimeContentType* ct, const char* name) {
  const char* v = ct ? g_mime_content_type_get_parameter(ct, name) : nullptr;
  return v ? v : "";
}

std::string media_type(GMimeObject* obj) {
  GMimeContentType* ct = obj ? g_mime_object_get_content_type(obj) : nullptr;
  if (!ct) return "";
  const char* t = g_mime_content_type_get_media_type(ct);
  const char* s = g_mime_content_type_get_media_subtype(ct);
  return lower(std::string(t ? t : "") + "/" + (s ? s : ""));
}

SmimeKind kind_of(GMimeObject* obj) {
  GMimeContentType* ct = obj ? g_mime_object_get_content_type(obj) : nullptr;
  return classify(media_type(obj), lower(param(ct, "smime-type")), lower(param(ct, "protocol")));
}

// Depth check and search for encrypted parts below the top level.
bool walk(GMimeObject* obj, int depth, const Limits& limits, Entity& e) {
  if (!obj) return true;
  if (depth > limits.max_depth) return false;
  SmimeKind k = kind_of(obj);
  if (depth > 0 && (k == SmimeKind::enveloped || k == SmimeKind::auth_enveloped))
    e.encrypted_part_inside = true;
  if (GMIME_IS_MULTIPART(obj)) {
    GMimeMultipart* mp = GMIME_MULTIPART(obj);
    for (int i = 0; i < g_mime_multipart_get_count(mp); ++i)
      if (!walk(g_mime_multipart_get_part(mp, i), depth + 1, limits, e)) return false;
  } else if (GMIME_IS_MESSAGE_PART(obj)) {
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
    if (inner && !walk(g_mime_message_get_mime_part(inner), depth + 1, limits, e)) return false;
  }
  return true;
}

// Offset of the first byte after the empty line that ends the header block.
std::optional<std::size_t> find_body_offset(const Source& src) {
  std::string buf;
  char chunk[8192];
  std::size_t off = 0;
  while (buf.size() < 4 * 1024 * 1024) {
    long n = src.read_at(off, chunk, sizeof chunk);
    if (n <= 0) break;
    buf.append(chunk, static_cast<std::size_t>(n));
    off += static_cast<std::size_t>(n);
    if (buf.rfind("\r\n", 0) == 0) return 2;
    if (buf.rfind("\n", 0) == 0) return 1;
    std::size_t a = buf.find("\r\n\r\n"), b = buf.find("\n\n");
    if (a != std::string::npos && (b == std::string::npos || a + 1 <= b)) return a + 4;
    if (b != std::string::npos) return b + 2;
  }
  return std::nullopt;
}

// A write-only GMime stream that only records whether a bare LF went through it.
struct BareLfProbe {
  bool prev_cr = false;
  bool found = false;
};

bool decoded_has_bare_lf(GMimeDataWrapper* content) {
  BareLfProbe probe;
  GPtr<GMimeStream> sink = new_sink_stream([&probe](std::string_view bytes) {
    for (char c : bytes) {
      if (c == '\n' && !probe.prev_cr) probe.found = true;
      probe.prev_cr = c == '\r';
    }
    return !probe.found;  // stop early: one is enough
  });
  g_mime_data_wrapper_write_to_stream(content, sink.get());
  return probe.found;
}

// RFC 8551 3.1.1: text is signed in its canonical form, lines ending in CRLF, whatever
// transfer encoding carries it. GMime re-encodes 8-bit text as base64 (and keeps an
// existing base64 or quoted-printable body) without touching line ends, so a text part
// with bare LF gets new content: decoded, LF -> CRLF, and its encoding chosen afresh.
// The new content is a filter over the original stream, so nothing is held in memory.
bool canonicalise_text_parts(GMimeObject* obj) {
  // Signed or encrypted multiparts are someone else's exact bytes: left alone (GMime's
  // encode leaves them alone too).
  if (GMIME_IS_MULTIPART_SIGNED(obj) || GMIME_IS_MULTIPART_ENCRYPTED(obj)) return false;
  if (GMIME_IS_MESSAGE_PART(obj)) {
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
    return inner && g_mime_message_get_mime_part(inner) &&
           canonicalise_text_parts(g_mime_message_get_mime_part(inner));
  }
  if (GMIME_IS_MULTIPART(obj)) {
    GMimeMultipart* mp = GMIME_MULTIPART(obj);
    bool changed = false;
    for (int i = 0; i < g_mime_multipart_get_count(mp); ++i)
      changed |= canonicalise_text_parts(g_mime_multipart_get_part(mp, i));
    return changed;
  }
  if (!GMIME_IS_PART(obj) || media_type(obj).rfind("text/", 0) != 0) return false;
  GMimePart* part = GMIME_PART(obj);
  GMimeDataWrapper* content = g_mime_part_get_content(part);
  if (!content || !decoded_has_bare_lf(content)) return false;
  GMimeStream* raw = g_mime_data_wrapper_get_stream(content);
  GMimeContentEncoding enc = g_mime_data_wrapper_get_encoding(content);
  g_mime_stream_reset(raw);
  GPtr<GMimeStream> filtered(g_mime_stream_filter_new(raw));
  if (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
      enc == GMIME_CONTENT_ENCODING_UUENCODE) {
    GPtr<GMimeFilter> decode(g_mime_filter_basic_new(enc, FALSE));
    g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), decode.get());
  }
  GPtr<GMimeFilter> crlf(g_mime_filter_unix2dos_new(FALSE));
  g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), crlf.get());
  GPtr<GMimeDataWrapper> canonical(
      g_mime_data_wrapper_new_with_stream(filtered.get(), GMIME_CONTENT_ENCODING_DEFAULT));
  g_mime_part_set_content(part, canonical.get());
  g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_DEFAULT);
  return true;
}

// The transfer encodings of the leaf parts, in tree order (inside attached messages too).
void collect_encodings(GMimeObject* obj, std::vector<int>& out) {
  if (!obj) return;
  if (GMIME_IS_MESSAGE_PART(obj)) {
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
    if (inner) collect_encodings(g_mime_message_get_mime_part(inner), out);
    return;
  }
  if (GMIME_IS_MULTIPART(obj)) {
    GMimeMultipart* mp = GMIME_MULTIPART(obj);
    for (int i = 0; i < g_mime_multipart_get_count(mp); ++i)
      collect_encodings(g_mime_multipart_get_part(mp, i), out);
    return;
  }
  if (GMIME_IS_PART(obj)) out.push_back(g_mime_part_get_content_encoding(GMIME_PART(obj)));
}

// True when none of the eight bytes is NUL, CR, LF or has the high bit set.
bool plain_word(std::uint64_t w) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  auto has_zero = [](std::uint64_t x) { return ((x - ones) & ~x & highs) != 0; };
  return (w & highs) == 0 && !has_zero(w) && !has_zero(w ^ (ones * '\r')) &&
         !has_zero(w ^ (ones * '\n'));
}

// Bytes 1-127 only, every line ended by CRLF (no bare CR or LF) and at most 998 octets
// before it (RFC 5322 2.1.1): text that no transport or canonicalisation would change.
bool seven_bit_crlf(const Source& src, std::size_t from) {
  // Byte classes: 0 ordinary, 1 CR, 2 LF, 3 never allowed (NUL, 8-bit).
  static constexpr auto kClass = [] {
    std::array<unsigned char, 256> t{};
    t[0] = 3;
    for (int c = 0x80; c < 0x100; ++c) t[c] = 3;
    t['\r'] = 1;
    t['\n'] = 2;
    return t;
  }();
  char buf[64 * 1024];
  bool cr = false;
  std::size_t line = 0;
  for (std::size_t off = from;;) {
    long n = src.read_at(off, buf, sizeof buf);
    if (n < 0) return false;
    if (n == 0) break;
    for (long i = 0; i < n; ++i) {
      // Eight ordinary bytes at a time (no NUL, 8-bit, CR or LF among them).
      while (!cr && i + 8 <= n) {
        std::uint64_t w;
        std::memcpy(&w, buf + i, 8);
        if (!plain_word(w)) break;
        line += 8;
        if (line > 998) return false;
        i += 8;
      }
      if (i >= n) break;
      const unsigned char k = kClass[static_cast<unsigned char>(buf[i])];
      if (k == 0 && !cr) {
        if (++line > 998) return false;
        continue;
      }
      if (k == 3) return false;
      if (cr != (k == 2)) return false;  // CR not followed by LF, or LF without CR
      if (k == 2) line = 0;
      cr = k == 1;
    }
    off += static_cast<std::size_t>(n);
  }
  return !cr;
}

// The Content-* fields of a header block as they are (folded lines kept); nullopt when
// there is no Content-Type.
std::optional<std::string> content_fields(std::string_view block) {
  std::string out;
  bool keep = false, has_type = false;
  while (!block.empty()) {
    std::size_t eol = block.find("\r\n");
    if (eol == std::string_view::npos) break;
    std::string_view line = block.substr(0, eol + 2);
    block.remove_prefix(eol + 2);
    if (line == "\r\n") break;
    if (line[0] != ' ' && line[0] != '\t') {
      std::string name = lower(std::string(line.substr(0, line.find(':'))));
      keep = name.rfind("content-", 0) == 0;
      has_type |= name == "content-type";
    }
    if (keep) out.append(line);
  }
  if (!has_type) return std::nullopt;
  return out;
}

}  // namespace

SmimeKind classify(const std::string& mime_type, const std::string& smime_type,
                   const std::string& protocol) {
  if (mime_type == "multipart/signed" &&
      (protocol == "application/pkcs7-signature" || protocol == "application/x-pkcs7-signature"))
    return SmimeKind::multipart_signed;
  if (mime_type != "application/pkcs7-mime" && mime_type != "application/x-pkcs7-mime")
    return SmimeKind::none;
  if (smime_type == "enveloped-data") return SmimeKind::enveloped;
  if (smime_type == "authenveloped-data") return SmimeKind::auth_enveloped;
  if (smime_type == "signed-data") return SmimeKind::signed_data;
  return SmimeKind::other_pkcs7;
}

Entity parse_entity(const Source& source, const Limits& limits, bool strict) {
  Entity e;
  ensure_init();
  ParsedMessage pm = parse_message(source);
  if (!pm.message) {
    e.error = "not a MIME message";
    return e;
  }
  if (strict && !pm.issues.critical.empty()) {
    e.error = pm.issues.critical;
    return e;
  }
  // GMime keeps Content-* fields on the MIME part and the rest on the message.
  GMimeObject* part = g_mime_message_get_mime_part(pm.message.get());
  int content_types = 0, encodings = 0;
  for (GMimeObject* obj : {GMIME_OBJECT(pm.message.get()), part}) {
    GMimeHeaderList* list = obj ? g_mime_object_get_header_list(obj) : nullptr;
    int count = list ? g_mime_header_list_get_count(list) : 0;
    for (int i = 0; i < count; ++i) {
      GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
      Header hdr{g_mime_header_get_name(h), trim_value(g_mime_header_get_raw_value(h))};
      if (strcasecmp(hdr.name.c_str(), "Content-Type") == 0) ++content_types;
      if (strcasecmp(hdr.name.c_str(), "Content-Transfer-Encoding") == 0) ++encodings;
      e.headers.push_back(std::move(hdr));
    }
  }
  if (e.headers.size() > limits.max_headers) {
    e.error = "too many header fields";
    return e;
  }
  if (strict && (content_types > 1 || encodings > 1)) {
    e.error = "duplicate Content-Type or Content-Transfer-Encoding";
    return e;
  }
  std::optional<std::size_t> body = find_body_offset(source);
  e.body_offset = body.value_or(source.size);
  e.mime_type = part ? media_type(part) : "text/plain";
  GMimeContentType* ct = part ? g_mime_object_get_content_type(part) : nullptr;
  e.boundary = param(ct, "boundary");
  e.signature_protocol = lower(param(ct, "protocol"));
  e.smime = kind_of(part);
  if (strict && e.mime_type.rfind("multipart/", 0) == 0 && e.boundary.empty()) {
    e.error = "multipart without boundary";
    return e;
  }
  if (!walk(part, 0, limits, e)) {
    e.error = "MIME nesting deeper than " + std::to_string(limits.max_depth);
    return e;
  }
  e.ok = true;
  return e;
}

namespace {

// The bytes of the header block (up to and including its empty line); nullopt when
// there is no end of the header within `max` bytes or the source cannot be read.
std::optional<std::string> read_header_block(const Source& source, std::size_t max) {
  std::optional<std::size_t> body = find_body_offset(source);
  if (!body || *body > max) return std::nullopt;
  std::string block(*body, '\0');
  for (std::size_t got = 0; got < block.size();) {
    long n = source.read_at(got, block.data() + got, block.size() - got);
    if (n <= 0) return std::nullopt;
    got += static_cast<std::size_t>(n);
  }
  return block;
}

// parse_header_block without GMime's parser, when plain_header_fields takes the block.
std::optional<Entity> plain_header_entity(const std::string& block, const Limits& limits) {
  std::optional<PlainPart> part = plain_part(block, limits.max_headers);
  if (!part) return std::nullopt;
  Entity e;
  e.mime_type = part->type.mime_type;
  e.boundary = part->type.boundary;
  e.signature_protocol = part->type.protocol;
  e.smime = classify(part->type.mime_type, part->type.smime_type, part->type.protocol);
  e.headers = std::move(part->headers);
  e.body_offset = block.size();
  e.ok = true;
  return e;
}

}  // namespace

Entity parse_header_block(const Source& source, const Limits& limits) {
  if (std::optional<std::string> block = read_header_block(source, 256 * 1024)) {
    if (std::optional<Entity> plain = plain_header_entity(*block, limits)) return *plain;
  }
  return parse_header_block_with_gmime(source, limits);
}

Entity parse_header_block_with_gmime(const Source& source, const Limits& limits) {
  const std::size_t end = find_body_offset(source).value_or(source.size);
  Entity e = parse_entity(sub_source(source, 0, end), limits, false);
  e.body_offset = end;
  return e;
}

bool is_kept_outer_header(const std::string& name) {
  static const char* kept[] = {"From",       "To",           "Cc",         "Reply-To",
                               "Subject",    "Date",         "Message-ID", "In-Reply-To",
                               "References", "MIME-Version", "Received"};
  for (const char* k : kept)
    if (strcasecmp(name.c_str(), k) == 0) return true;
  return strncasecmp(name.c_str(), "List-", 5) == 0;
}

bool is_content_header(const std::string& name) {
  return strncasecmp(name.c_str(), "Content-", 8) == 0;
}

bool write_without_fields(const Source& message, const std::vector<std::string>& drop,
                          const AppendFn& out) {
  std::optional<std::size_t> found = find_body_offset(message);
  if (!found && message.size > 4 * 1024 * 1024) return false;  // no end of the headers
  std::size_t body = found.value_or(message.size);
  std::string head(body, '\0');
  std::size_t got = 0;
  while (got < body) {
    long n = message.read_at(got, head.data() + got, body - got);
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  std::string kept;
  bool dropping = false;
  for (std::size_t pos = 0; pos < head.size();) {
    std::size_t eol = head.find('\n', pos);
    std::size_t next = eol == std::string::npos ? head.size() : eol + 1;
    std::string_view line(head.data() + pos, next - pos);
    bool continuation = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    if (!continuation) {
      std::size_t colon = line.find(':');
      std::string name(line.substr(0, colon == std::string_view::npos ? 0 : colon));
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
      dropping = false;
      for (const auto& d : drop)
        dropping |= !name.empty() && strcasecmp(name.c_str(), d.c_str()) == 0;
    }
    if (!dropping) kept.append(line);
    pos = next;
  }
  if (!out(kept)) return false;
  char chunk[65536];
  for (std::size_t off = body; off < message.size;) {
    long n = message.read_at(off, chunk, sizeof chunk);
    if (n <= 0) return false;
    if (!out(std::string_view(chunk, static_cast<std::size_t>(n)))) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

bool write_canonical_entity(const Source& message, const AppendFn& out, std::string* error) {
  ensure_init();
  ParsedMessage pm = parse_message(message);
  GMimeObject* part = pm.message ? g_mime_message_get_mime_part(pm.message.get()) : nullptr;
  if (!part) {
    if (error) *error = "message has no content";
    return false;
  }
  canonicalise_text_parts(part);
  g_mime_object_encode(part, GMIME_ENCODING_CONSTRAINT_7BIT);
  GMimeFormatOptions* fo = g_mime_format_options_new();
  g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
  GPtr<GMimeStream> sink = new_sink_stream(out);
  GPtr<GMimeStream> filtered(g_mime_stream_filter_new(sink.get()));
  GPtr<GMimeFilter> unix2dos(g_mime_filter_unix2dos_new(FALSE));
  g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), unix2dos.get());
  ssize_t n = g_mime_object_write_to_stream(part, fo, filtered.get());
  int flushed = g_mime_stream_flush(filtered.get());
  g_mime_format_options_free(fo);
  if (n < 0 || flushed != 0) {
    if (error) *error = "writing the canonical entity failed";
    return false;
  }
  return true;
}

namespace {

// True when the header block makes the message one leaf part, not text, whose body is
// base64 or quoted-printable: write_canonical_entity would leave it exactly as it is
// (canonicalise_text_parts only converts text; GMime's encode returns at once for these
// two encodings), so GMime need not be asked. The Content-Type is read by GMime's own
// parser; anything unusual in the block says false and GMime is asked.
bool leaf_kept_as_encoded(const std::string& block) {
  std::optional<PlainPart> part = plain_part(block, Limits{}.max_headers);
  if (!part || !part->has_type) return false;
  for (const char* container : {"multipart/", "message/", "text/"})
    if (part->type.mime_type.rfind(container, 0) == 0) return false;
  return part->encoding == "base64" || part->encoding == "quoted-printable";
}

}  // namespace

std::optional<Source> canonical_entity_in_place(const Source& message, std::string& head) {
  ensure_init();
  std::optional<std::string> read = read_header_block(message, 1024 * 1024);
  if (!read) return std::nullopt;
  const std::string& block = *read;
  const std::size_t body = block.size();
  if (!seven_bit_crlf(source_from_string(block), 0)) return std::nullopt;
  std::optional<std::string> fields = content_fields(block);
  if (!fields || !seven_bit_crlf(message, body)) return std::nullopt;
  head = *fields + "\r\n";
  auto in_place = [&] {
    return concat_source(
        {source_from_string(head), sub_source(message, body, message.size - body)});
  };
  if (leaf_kept_as_encoded(block)) return in_place();
  // Would write_canonical_entity change anything? Ask GMime the same questions it would
  // act on: a text part with bare LF inside its transfer encoding, a part it would give
  // another encoding for the 7-bit constraint.
  ParsedMessage pm = parse_message(message);
  GMimeObject* part = pm.message ? g_mime_message_get_mime_part(pm.message.get()) : nullptr;
  if (!part) return std::nullopt;
  std::vector<int> before, after;
  collect_encodings(part, before);
  if (canonicalise_text_parts(part)) return std::nullopt;
  g_mime_object_encode(part, GMIME_ENCODING_CONSTRAINT_7BIT);
  collect_encodings(part, after);
  if (before != after) return std::nullopt;
  return in_place();
}

namespace {

// write_decoded_content without GMime: a single part whose header block the plain
// reader takes and whose body is clean base64 (clean_base64.h). nullopt: ask GMime.
std::optional<bool> decoded_without_gmime(const Source& entity, const AppendFn& out,
                                          std::string* error) {
  std::optional<std::string> block = read_header_block(entity, 256 * 1024);
  if (!block) return std::nullopt;
  std::optional<PlainPart> part = plain_part(*block, Limits{}.max_headers);
  if (!part || part->encoding != "base64") return std::nullopt;
  const std::string& media = part->type.mime_type;
  if (media.rfind("multipart/", 0) == 0 || media.rfind("message/", 0) == 0) return std::nullopt;
  std::optional<bool> r =
      decode_clean_base64(sub_source(entity, block->size(), entity.size - block->size()), out);
  if (r && !*r && error) *error = "decoding the part failed";
  return r;
}

}  // namespace

bool write_decoded_content(const Source& entity, const AppendFn& out, std::string* error) {
  if (std::optional<bool> done = decoded_without_gmime(entity, out, error)) return *done;
  return write_decoded_content_with_gmime(entity, out, error);
}

bool write_decoded_content_with_gmime(const Source& entity, const AppendFn& out,
                                      std::string* error) {
  ensure_init();
  ParsedMessage pm = parse_message(entity);
  GMimeObject* part = pm.message ? g_mime_message_get_mime_part(pm.message.get()) : nullptr;
  if (!part || !GMIME_IS_PART(part)) {
    if (error) *error = "entity is not a single part";
    return false;
  }
  GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(part));
  if (!content) {
    if (error) *error = "part has no content";
    return false;
  }
  GPtr<GMimeStream> sink = new_sink_stream(out);
  if (g_mime_data_wrapper_write_to_stream(content, sink.get()) < 0) {
    if (error) *error = "decoding the part failed";
    return false;
  }
  return true;
}

namespace {

void collect_parts(GMimeObject* obj, int depth, const std::string& type, const Limits& limits,
                   std::size_t max_parts, std::size_t max_bytes, std::vector<std::string>& out) {
  if (!obj || depth > limits.max_depth || out.size() >= max_parts) return;
  if (GMIME_IS_MULTIPART(obj)) {
    GMimeMultipart* mp = GMIME_MULTIPART(obj);
    for (int i = 0; i < g_mime_multipart_get_count(mp); ++i)
      collect_parts(g_mime_multipart_get_part(mp, i), depth + 1, type, limits, max_parts, max_bytes,
                    out);
    return;
  }
  if (!GMIME_IS_PART(obj) || media_type(obj) != type) return;
  GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(obj));
  if (!content) return;
  std::string bytes;
  bool too_big = false;
  GPtr<GMimeStream> sink = new_sink_stream([&](std::string_view b) {
    if (bytes.size() + b.size() > max_bytes) too_big = true;
    if (!too_big) bytes.append(b);
    return true;
  });
  if (g_mime_data_wrapper_write_to_stream(content, sink.get()) < 0 || too_big) return;
  out.push_back(std::move(bytes));
}

}  // namespace

std::vector<std::string> decoded_parts_of_type(const Source& entity, const std::string& mime_type,
                                               const Limits& limits, std::size_t max_parts,
                                               std::size_t max_bytes) {
  std::vector<std::string> out;
  ensure_init();
  ParsedMessage pm = parse_message(entity);
  if (!pm.message) return out;
  collect_parts(g_mime_message_get_mime_part(pm.message.get()), 0, mime_type, limits, max_parts,
                max_bytes, out);
  return out;
}

}  // namespace mailseal::mime
