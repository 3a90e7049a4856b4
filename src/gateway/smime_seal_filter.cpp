// SmimeSealFilter: From check, key lookup, canonicalise, sign once, encrypt per copy.
#include "gateway/smime_seal_filter.h"
#include "gateway/copy_plan.h"

#include <filesystem>
#include <map>
#include <optional>

#include "gateway/body_io.h"
#include "mime/address.h"
#include "mime/entity.h"

namespace mailseal::gateway {
namespace smime = crypto::smime;
namespace {

enum class Treatment { encrypt, sign_only, plain };

core::FilterResult refuse(int code, const char* enhanced, const std::string& text) {
  core::FilterResult r;
  r.refusal = smtp::make_reply(code, enhanced, text);
  r.summary = "seal refused: " + text;
  return r;
}

core::FilterResult source_failure(const keys::SourceError& e) {
  return refuse(451, "4.7.0", "key source " + e.source + " unavailable, try again later");
}

// The signed entity. Opaque signed-data is written whole into `pieces.opaque`. A
// multipart/signed (the default) is not copied: the signature is made over the canonical
// entity, and the result is read in place as head + entity + middle, signature and tail
// (`source`), so a 100 MB message is not written and read once more.
struct SignedEntity {
  core::MessageBody head;
  core::MessageBody tail;  // middle delimiter, base64 signature, close delimiter
  core::MessageBody opaque;
  mime::Source source;
  explicit SignedEntity(const std::filesystem::path& spill)
      : head(spill), tail(spill), opaque(spill) {}
};

bool build_signed(const mime::Source& entity, const keys::SecretKeyRecord& key, bool opaque,
                  SignedEntity& out, std::string& why) {
  smime::SignerKey signer{key.cert.get(), key.key.get(), {}};
  for (const auto& c : key.chain) signer.chain.push_back(c.get());
  crypto::BioPtr in = read_bio(entity);
  if (opaque) {
    out.opaque.append(mime::pkcs7_mime_headers(mime::SmimeKind::signed_data));
    crypto::BioPtr b64 = base64_into(out.opaque);
    smime::Status s = smime::sign(in.get(), b64.get(), signer, {true});
    why = s.reason;
    out.source = source_of(out.opaque);
    return s.ok() && out.opaque.ok();
  }
  std::string boundary = mime::make_boundary();
  out.head.append(mime::signed_multipart_head(boundary));
  out.tail.append(mime::signed_multipart_middle(boundary));
  crypto::BioPtr b64 = base64_into(out.tail);
  smime::Status s = smime::sign(in.get(), b64.get(), signer, {false});
  out.tail.append(mime::signed_multipart_tail(boundary));
  why = s.reason;
  out.source = mime::concat_source({source_of(out.head), entity, source_of(out.tail)});
  return s.ok() && out.tail.ok();
}

}  // namespace

std::optional<smtp::Reply> SmimeSealFilter::check_recipient(const core::Envelope&,
                                                            const std::string& recipient) {
  if (options_.no_certificate != RecipientFallback::refuse) return std::nullopt;
  std::optional<keys::SourceError> err;
  auto cert = keys_.certificate(recipient, err);
  if (err) return smtp::make_reply(451, "4.7.0", "key source " + err->source + " unavailable");
  if (!cert) return smtp::make_reply(550, "5.7.1", "no S/MIME certificate for " + recipient);
  return std::nullopt;
}

core::FilterResult SmimeSealFilter::process(const core::Envelope& envelope, const core::ClientInfo&,
                                            const core::MessageBody& body,
                                            core::CopyListener* listener) {
  mime::Entity msg = mime::parse_header_block(source_of(body));
  if (!msg.ok) return refuse(554, "5.6.0", "message cannot be parsed: " + msg.error);
  auto from = mime::header_addresses(header_value(msg, "From"));
  if (from.size() != 1) return refuse(550, "5.7.1", "message needs exactly one From address");
  std::string sender = keys::normalise_address(from[0]);
  if (!options_.allow_from_mismatch && sender != keys::normalise_address(envelope.sender))
    return refuse(550, "5.7.1", "From address does not match the envelope sender");

  std::optional<keys::SourceError> err;
  auto secrets = keys_.secret_keys(sender, err);
  if (err) return source_failure(*err);
  if (secrets.empty() && options_.no_secret_key == SenderFallback::refuse)
    return refuse(550, "5.7.1", "no signing key for " + sender);

  // Treatment and certificate per recipient.
  std::map<std::string, keys::PublicKeyRecord> certs;
  std::map<std::string, Treatment> treatment;
  for (const auto& rcpt : envelope.recipients) {
    auto cert = keys_.certificate(rcpt, err);
    if (err) return source_failure(*err);
    if (cert) {
      certs.emplace(rcpt, std::move(*cert));
      treatment[rcpt] = Treatment::encrypt;
    } else if (options_.no_certificate == RecipientFallback::refuse) {
      return refuse(550, "5.7.1", "no S/MIME certificate for " + rcpt);
    } else {
      treatment[rcpt] = options_.no_certificate == RecipientFallback::sign_only
                            ? Treatment::sign_only
                            : Treatment::plain;
    }
    if (treatment[rcpt] == Treatment::sign_only && secrets.empty())
      return refuse(550, "5.7.1", "cannot sign for " + rcpt + ": no signing key");
  }

  // Canonical entity (read in place when the message already is one, else written out)
  // and (once) the signed entity.
  core::MessageBody entity(options_.spill_dir);
  std::string why;
  std::string entity_head;
  std::optional<mime::Source> in_place =
      mime::canonical_entity_in_place(source_of(body), entity_head);
  if (!in_place && !mime::write_canonical_entity(source_of(body), append_to(entity), &why))
    return refuse(554, "5.6.0", why);
  const mime::Source canonical = in_place ? *in_place : source_of(entity);
  SignedEntity signed_entity(options_.spill_dir);
  mime::Source inner = canonical;
  if (!secrets.empty()) {
    if (!build_signed(canonical, secrets.front(), options_.opaque_signing, signed_entity, why))
      return !signed_entity.tail.ok() || !signed_entity.opaque.ok()
                 ? refuse(452, "4.3.1", "insufficient storage")  // a full spill directory
                 : refuse(451, "4.7.0", "signing failed: " + why);
    inner = signed_entity.source;
  }

  std::string outer_block = outer_header_block(msg);
  // Visible recipients (To/Cc) with the same treatment share a copy; Bcc ones get their own.
  auto groups = group_recipients(msg, envelope.recipients, [&](const std::string& r) {
    return static_cast<int>(treatment[r]);
  });

  core::FilterResult result;
  for (auto& [key, rcpts] : groups) {
    core::MessageCopy copy{rcpts, core::MessageBody(options_.spill_dir)};
    if (listener) listener->started(rcpts, copy.body);  // may be sent while written
    Treatment t = treatment[rcpts.front()];
    if (t == Treatment::plain) {
      // Explicitly allowed by configuration; Bcc (and Resent-Bcc) never leave this gateway.
      if (!mime::write_without_fields(source_of(body), {"Bcc", "Resent-Bcc"},
                                      append_to(copy.body)) &&
          copy.body.ok())
        return refuse(554, "5.6.0", "message header cannot be rewritten");
    } else if (t == Treatment::sign_only) {
      copy.body.append(outer_block);
      copy_into(inner, copy.body);
    } else {
      std::vector<X509*> to;
      for (const auto& r : rcpts) to.push_back(certs.at(r).cert.get());
      bool gcm = options_.cipher == smime::Cipher::aes256_gcm;
      copy.body.append(outer_block);
      copy.body.append(mime::pkcs7_mime_headers(gcm ? mime::SmimeKind::auth_enveloped
                                                    : mime::SmimeKind::enveloped));
      crypto::BioPtr in = read_bio(inner);
      crypto::BioPtr b64 = base64_into(copy.body);
      smime::Status s =
          smime::encrypt(in.get(), b64.get(), to, {options_.cipher, options_.rsa_oaep});
      if (!s.ok() && !copy.body.ok()) return refuse(452, "4.3.1", "insufficient storage");
      if (!s.ok()) return refuse(451, "4.7.0", "encryption failed: " + s.reason);
    }
    if (!copy.body.ok()) return refuse(452, "4.3.1", "insufficient storage");
    result.copies.push_back(std::move(copy));
  }
  result.summary = "sealed: " + std::to_string(result.copies.size()) +
                   " copies, signed=" + (secrets.empty() ? "no" : "yes");
  return result;
}

}  // namespace mailseal::gateway
