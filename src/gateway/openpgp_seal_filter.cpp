// OpenpgpSealFilter: From check, keys into the thread's kept keyring (openpgp_keys.h), canonicalise
// once, then per copy seal (sign+encrypt in one OpenPGP message) or sign detached. Armor goes
// through copy_crlf so the copies have SMTP line ends whatever RNP writes.
#include "gateway/openpgp_seal_filter.h"
#include "gateway/copy_plan.h"

#include <strings.h>

#include <algorithm>
#include <map>

#include "gateway/body_io.h"
#include "gateway/pgp_mime.h"
#include "mime/address.h"
#include "mime/entity.h"
#include "openpgp/seal.h"

namespace mailseal::gateway {
namespace {

enum class Treatment { encrypt, sign_only, plain };

core::FilterResult refuse(int code, const char* enhanced, const std::string& text) {
  core::FilterResult r;
  r.refusal = smtp::make_reply(code, enhanced, text);
  r.summary = "openpgp seal refused: " + text;
  return r;
}

core::FilterResult source_failure(const keys::SourceError& e) {
  return refuse(451, "4.7.0", "key source " + e.source + " unavailable, try again later");
}

// Appends armored OpenPGP output (in `armored`) to `out` with CRLF line ends.
bool append_armor(const core::MessageBody& armored, core::MessageBody& out) {
  return copy_crlf(source_of(armored), out);
}

}  // namespace

std::optional<smtp::Reply> OpenpgpSealFilter::check_recipient(const core::Envelope&,
                                                              const std::string& recipient) {
  if (options_.no_certificate != RecipientFallback::refuse) return std::nullopt;
  std::optional<keys::SourceError> err;
  auto key = keys_.encryption_key(recipient, err);
  if (err) return smtp::make_reply(451, "4.7.0", "key source " + err->source + " unavailable");
  if (!key) return smtp::make_reply(550, "5.7.1", "no usable OpenPGP key for " + recipient);
  return std::nullopt;
}

core::FilterResult OpenpgpSealFilter::process(const core::Envelope& envelope,
                                              const core::ClientInfo&,
                                              const core::MessageBody& body,
                                              core::CopyListener* listener) {
  mime::Entity msg = mime::parse_header_block(source_of(body));
  if (!msg.ok) return refuse(554, "5.6.0", "message cannot be parsed: " + msg.error);
  auto from = mime::header_addresses(header_value(msg, "From"));
  if (from.size() != 1) return refuse(550, "5.7.1", "message needs exactly one From address");
  std::string sender = keys::normalise_address(from[0]);
  if (!options_.allow_from_mismatch && sender != keys::normalise_address(envelope.sender))
    return refuse(550, "5.7.1", "From address does not match the envelope sender");

  // Everything the message may use, as the sources hold it now; then the thread's kept
  // keyring made to match (openpgp_keys.h). The sender's certificate too: it may carry
  // newer signatures (e.g. a revocation) than the copy inside the stored secret key.
  MessageKeySet set;
  std::optional<keys::SourceError> err;
  if (!keys_.add_secret(set, sender, err) || !keys_.add_public(set, sender, err))
    return source_failure(*err);
  // A failed discovery source (WKD, DANE) defers a recipient only if it ends up without a
  // usable key (KeySource::discovery()): kept per recipient until the choice below.
  std::map<std::string, std::optional<keys::SourceError>> discovery_error;
  for (const auto& rcpt : envelope.recipients)
    if (!keys_.add_public(set, rcpt, err, &discovery_error[rcpt])) return source_failure(*err);
  openpgp::Keyring* ring = OpenpgpKeys::sync(set);
  if (!ring) return refuse(451, "4.3.0", "OpenPGP context unavailable");
  std::string signer;
  if (auto choice = ring->key_for_address(sender, openpgp::Usage::sign, set.signing[sender]))
    signer = choice->primary_fingerprint;
  if (signer.empty() && options_.no_secret_key == SenderFallback::refuse)
    return refuse(550, "5.7.1", "no OpenPGP signing key for " + sender);

  std::map<std::string, std::string> recipient_key;  // recipient -> primary fingerprint
  std::map<std::string, Treatment> treatment;
  for (const auto& rcpt : envelope.recipients) {
    auto choice = ring->key_for_address(rcpt, openpgp::Usage::encrypt, set.encryption[rcpt]);
    if (choice) {
      recipient_key[rcpt] = choice->primary_fingerprint;
      treatment[rcpt] = Treatment::encrypt;
    } else if (const auto& failed = discovery_error[rcpt]) {
      return source_failure(*failed);
    } else if (options_.no_certificate == RecipientFallback::refuse) {
      return refuse(550, "5.7.1", "no usable OpenPGP key for " + rcpt);
    } else {
      treatment[rcpt] = options_.no_certificate == RecipientFallback::sign_only
                            ? Treatment::sign_only
                            : Treatment::plain;
    }
    if (treatment[rcpt] == Treatment::sign_only && signer.empty())
      return refuse(550, "5.7.1", "cannot sign for " + rcpt + ": no OpenPGP signing key");
  }

  // The canonical (7-bit, CRLF) inner entity: what is encrypted, or signed exactly. Read
  // in place when the message already is one (as the S/MIME seal does), else written.
  core::MessageBody written(options_.spill_dir);
  std::string why;
  std::string entity_head;
  std::optional<mime::Source> in_place =
      mime::canonical_entity_in_place(source_of(body), entity_head);
  if (!in_place && !mime::write_canonical_entity(source_of(body), append_to(written), &why))
    return refuse(554, "5.6.0", why);
  const mime::Source canonical = in_place ? *in_place : source_of(written);
  const openpgp::Source entity(canonical.read_at, canonical.size);

  std::string outer_block = outer_header_block(msg);
  // Visible recipients (To/Cc) with the same treatment share a copy; Bcc ones get their own.
  auto groups = group_recipients(msg, envelope.recipients, [&](const std::string& r) {
    return static_cast<int>(treatment[r]);
  });

  // The detached signature is the same for every sign-only copy: made once.
  core::MessageBody signature(options_.spill_dir);
  bool signature_made = false;

  core::FilterResult result;
  for (auto& [key, rcpts] : groups) {
    core::MessageCopy copy{rcpts, core::MessageBody(options_.spill_dir)};
    if (listener) listener->started(rcpts, copy.body);  // may be sent while written
    Treatment t = treatment[rcpts.front()];
    if (t == Treatment::plain) {
      if (!mime::write_without_fields(source_of(body), {"Bcc", "Resent-Bcc"},
                                      append_to(copy.body)) &&
          copy.body.ok())
        return refuse(554, "5.6.0", "message header cannot be rewritten");
    } else if (t == Treatment::sign_only) {
      if (!signature_made) {
        auto st = openpgp::sign_detached(*ring, entity, signature, signer);
        if (!st && !signature.ok()) return refuse(452, "4.3.1", "insufficient storage");
        if (!st) return refuse(451, "4.7.0", "OpenPGP signing failed: " + st.error().reason);
        signature_made = true;
      }
      std::string boundary = mime::make_boundary();
      copy.body.append(outer_block);
      copy.body.append(pgp_signed_head(boundary));
      copy_into(canonical, copy.body);
      copy.body.append(pgp_signed_middle(boundary));
      append_armor(signature, copy.body);
      copy.body.append(pgp_signed_tail(boundary));
    } else {
      std::vector<std::string> to;
      for (const auto& r : rcpts) to.push_back(recipient_key.at(r));
      core::MessageBody armored(options_.spill_dir);
      auto st = signer.empty() ? openpgp::encrypt_only(*ring, entity, armored, to)
                               : openpgp::seal(*ring, entity, armored, to, signer);
      if (!st && !armored.ok()) return refuse(452, "4.3.1", "insufficient storage");
      if (!st) return refuse(451, "4.7.0", "OpenPGP encryption failed: " + st.error().reason);
      std::string boundary = mime::make_boundary();
      copy.body.append(outer_block);
      copy.body.append(pgp_encrypted_head(boundary));
      append_armor(armored, copy.body);
      copy.body.append(pgp_encrypted_tail(boundary));
    }
    if (!copy.body.ok()) return refuse(452, "4.3.1", "insufficient storage");
    result.copies.push_back(std::move(copy));
  }
  result.summary = "sealed (openpgp): " + std::to_string(result.copies.size()) +
                   " copies, signed=" + (signer.empty() ? "no" : "yes");
  return result;
}

}  // namespace mailseal::gateway
