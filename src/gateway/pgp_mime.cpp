// PGP/MIME builders and recognition (see pgp_mime.h).
#include "gateway/pgp_mime.h"

#include <strings.h>

namespace mailseal::gateway {
namespace {

constexpr std::string_view kBeginMessage = "-----BEGIN PGP MESSAGE-----";
constexpr std::string_view kBeginSigned = "-----BEGIN PGP SIGNED MESSAGE-----";
constexpr std::string_view kEndMessage = "-----END PGP MESSAGE-----";
constexpr std::string_view kEndSignature = "-----END PGP SIGNATURE-----";

std::string_view trim(std::string_view s) {
  std::size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string_view::npos) return {};
  std::size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

std::string header_value(const mime::Entity& e, const char* name) {
  for (const auto& h : e.headers)
    if (strcasecmp(h.name.c_str(), name) == 0) return h.value;
  return "";
}

}  // namespace

std::string pgp_encrypted_head(const std::string& boundary) {
  return "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\r\n"
         " boundary=\"" +
         boundary +
         "\"\r\n\r\nThis is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n--" +
         boundary +
         "\r\nContent-Type: application/pgp-encrypted\r\n"
         "Content-Description: PGP/MIME version identification\r\n\r\n"
         "Version: 1\r\n\r\n--" +
         boundary +
         "\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n"
         "Content-Description: OpenPGP encrypted message\r\n"
         "Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n";
}

std::string pgp_encrypted_tail(const std::string& boundary) {
  return "\r\n--" + boundary + "--\r\n";
}

std::string pgp_signed_head(const std::string& boundary) {
  return "Content-Type: multipart/signed; micalg=pgp-sha256;\r\n"
         " protocol=\"application/pgp-signature\"; boundary=\"" +
         boundary + "\"\r\n\r\nThis is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n--" +
         boundary + "\r\n";
}

std::string pgp_signed_middle(const std::string& boundary) {
  return "\r\n--" + boundary +
         "\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n"
         "Content-Description: OpenPGP digital signature\r\n"
         "Content-Disposition: attachment; filename=\"signature.asc\"\r\n\r\n";
}

std::string pgp_signed_tail(const std::string& boundary) {
  return "\r\n--" + boundary + "--\r\n";
}

PgpKind classify_pgp(const mime::Source& source, const mime::Entity& e) {
  if (e.mime_type == "multipart/encrypted" && e.signature_protocol == "application/pgp-encrypted")
    return PgpKind::encrypted;
  if (e.mime_type == "multipart/signed" && e.signature_protocol == "application/pgp-signature")
    return PgpKind::multipart_signed;
  if (e.mime_type != "text/plain" && !e.mime_type.empty() && e.mime_type != "/") {
    return PgpKind::none;
  }
  // 7bit, 8bit or quoted-printable keep the armor line readable; a base64 text body is
  // not looked into (clients do not send inline PGP that way).
  std::string cte = header_value(e, "Content-Transfer-Encoding");
  if (strcasecmp(std::string(trim(cte)).c_str(), "base64") == 0) return PgpKind::none;
  char buf[256];
  long n = source.read_at(e.body_offset, buf, sizeof buf);
  if (n <= 0) return PgpKind::none;
  std::string_view head = trim(std::string_view(buf, static_cast<std::size_t>(n)));
  if (head.rfind(kBeginMessage, 0) == 0 || head.rfind(kBeginSigned, 0) == 0)
    return PgpKind::inline_pgp;
  return PgpKind::none;
}

bool is_whole_armored_message(std::string_view text) {
  std::string_view t = trim(text);
  if (t.rfind(kBeginMessage, 0) == 0)
    return t.size() >= kEndMessage.size() &&
           t.substr(t.size() - kEndMessage.size()) == kEndMessage &&
           t.find(kBeginMessage, 1) == std::string_view::npos;
  if (t.rfind(kBeginSigned, 0) == 0)
    return t.size() >= kEndSignature.size() &&
           t.substr(t.size() - kEndSignature.size()) == kEndSignature &&
           t.find(kBeginSigned, 1) == std::string_view::npos;
  return false;
}

}  // namespace mailseal::gateway
