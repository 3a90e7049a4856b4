// OpenpgpOpenFilter: the unwrap loop (decrypt, then verify; nested PGP/MIME layers up to
// max_layers), verdict rules, and output. Only layers that are the whole body are
// unwrapped (no EFAIL-style mixing of decrypted and attacker text).
#include "gateway/openpgp_open_filter.h"

#include <strings.h>

#include <algorithm>
#include <deque>

#include "gateway/body_io.h"
#include "gateway/harvest.h"
#include "gateway/pgp_mime.h"
#include "mime/address.h"
#include "mime/entity.h"
#include "openpgp/open.h"
#include "util/strings.h"

namespace mailseal::gateway {
namespace {

struct Refusal {
  int code;
  const char* enhanced;
  std::string text;
};

std::string value_of(const std::vector<mime::Header>& hs, const char* name) {
  for (const auto& h : hs)
    if (strcasecmp(h.name.c_str(), name) == 0) return h.value;
  return "";
}

// Reads a whole (small or spilled) body into a string; false on a read error.
bool read_all(const mime::Source& s, std::string& out) {
  out.resize(s.size);
  std::size_t off = 0;
  while (off < s.size) {
    long n = s.read_at(off, out.data() + off, s.size - off);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// Falsified and malformed verdicts -> the refusal (S/MIME codes, smime_options.h).
std::optional<Refusal> falsified(const openpgp::Verdict& v) {
  using S = openpgp::VerdictStatus;
  switch (v.status) {
    case S::bad_signature:
      return Refusal{554, "5.7.7", "OpenPGP signature does not match the content"};
    case S::integrity_failure:
      return Refusal{554, "5.7.7", "OpenPGP integrity check failed: " + v.reason};
    case S::malformed:
      return Refusal{554, "5.7.5", "malformed OpenPGP data: " + v.reason};
    case S::io_error:
      return Refusal{451, "4.3.0", "cannot read or write the message, try again later"};
    default:
      return std::nullopt;
  }
}

std::string verdict_word(openpgp::VerdictStatus s) {
  using S = openpgp::VerdictStatus;
  switch (s) {
    case S::valid:
      return "valid";
    case S::unknown_signer:
      return "unknown-signer";
    case S::expired_key:
      return "expired";
    case S::revoked_key:
      return "revoked";
    default:
      return std::string(openpgp::verdict_status_name(s));
  }
}

}  // namespace

core::FilterResult OpenpgpOpenFilter::process(const core::Envelope& envelope,
                                              const core::ClientInfo&,
                                              const core::MessageBody& body,
                                              core::CopyListener* listener) {
  bool redo = false;
  core::FilterResult result = run(envelope, body, true, redo, listener);
  if (!redo) return result;
  return run(envelope, body, false, redo, listener);
}

core::FilterResult OpenpgpOpenFilter::run(const core::Envelope& envelope,
                                          const core::MessageBody& body, bool kept, bool& redo,
                                          core::CopyListener* listener) {
  core::FilterResult result;
  std::optional<Refusal> refusal;
  auto refuse = [&](int code, const char* enh, std::string text) {
    if (!refusal) refusal = Refusal{code, enh, std::move(text)};
  };
  const mime::Limits limits{options_.max_mime_depth, 1000};
  mime::Entity top = mime::parse_entity(source_of(body), limits, true);
  if (!top.ok) {
    result.refusal = smtp::make_reply(554, "5.7.5", "malformed OpenPGP message: " + top.error);
    result.summary = "open refused: malformed MIME";
    return result;
  }

  // The internal recipients' secret keys: into the thread's kept keyring, or (a redo)
  // into a fresh one. A source error stops the loading; it is reported below.
  std::optional<keys::SourceError> err;
  MessageKeySet set;
  std::optional<openpgp::Keyring> fresh;
  openpgp::Keyring* ring = nullptr;
  if (kept) {
    for (const auto& rcpt : envelope.recipients)
      if (!keys_.add_secret(set, rcpt, err)) break;
    ring = OpenpgpKeys::sync(set);
  } else {
    fresh = OpenpgpKeys::new_keyring();
    if (fresh) {
      ring = &*fresh;
      for (const auto& rcpt : envelope.recipients)
        if (!keys_.load_secret(*ring, rcpt, err)) break;
    }
  }
  if (!ring) {
    result.refusal = smtp::make_reply(451, "4.3.0", "OpenPGP context unavailable");
    return result;
  }
  openpgp::OpenOptions oo;
  std::optional<keys::SourceError> lookup_err;
  oo.find_certificate = [this, kept, &lookup_err](std::string_view, std::string_view id) {
    return kept ? keys_.by_id_cached(id, lookup_err) : keys_.by_id(id, lookup_err);
  };
  // After each operation on the kept keyring: does its verdict rest on current keys?
  auto stale = [&](const openpgp::Verdict& v) {
    if (!kept || keys_.trusted_result(v, set)) return false;
    redo = true;
    return true;
  };

  std::deque<core::MessageBody> layers;  // owns every intermediate body
  mime::Source current = source_of(body);
  mime::Entity e = top;
  std::string encryption = "none";
  std::vector<openpgp::Verdict> verdicts;
  bool undecryptable = false;
  bool unwrapped = false;
  for (int layer = 0; !refusal && !err; ++layer) {
    PgpKind kind = classify_pgp(current, e);
    if (kind == PgpKind::none) break;
    if (layer >= options_.max_layers) {
      refuse(554, "5.7.5", "too many OpenPGP layers");
      break;
    }
    mime::Source b = mime::sub_source(current, e.body_offset, current.size);
    openpgp::Verdict v;
    if (kind == PgpKind::encrypted || kind == PgpKind::multipart_signed) {
      // Both are two-part multiparts: version part + data part, or content + signature.
      mime::SignedParts sp = mime::locate_signed_parts(b, e.boundary);
      if (!sp.ok) {
        refuse(554, "5.7.5", "malformed PGP/MIME structure: " + sp.error);
        break;
      }
      mime::Source second = mime::sub_source(b, sp.signature_offset, sp.signature_length);
      mime::Entity second_entity = mime::parse_entity(second, limits, true);
      const char* want =
          kind == PgpKind::encrypted ? "application/octet-stream" : "application/pgp-signature";
      if (!second_entity.ok || second_entity.mime_type != want) {
        refuse(554, "5.7.5", std::string("malformed PGP/MIME: second part is not ") + want);
        break;
      }
      core::MessageBody& data = layers.emplace_back(options_.spill_dir);
      std::string why;
      if (!mime::write_decoded_content(second, append_to(data), &why) || !data.ok()) {
        refuse(554, "5.7.5", "malformed PGP/MIME data part: " + why);
        break;
      }
      if (kind == PgpKind::encrypted) {
        mime::Source first = mime::sub_source(b, sp.content_offset, sp.content_length);
        mime::Entity version = mime::parse_entity(first, limits, true);
        if (!version.ok || version.mime_type != "application/pgp-encrypted") {
          refuse(554, "5.7.5", "malformed PGP/MIME: first part is not application/pgp-encrypted");
          break;
        }
        if (err) break;
        core::MessageBody& plain = layers.emplace_back(options_.spill_dir);
        v = openpgp::open(*ring, data, plain, oo);
        if (stale(v)) return result;
        if (v.status == openpgp::VerdictStatus::decrypt_failed) {
          undecryptable = true;
          if (options_.undecryptable == VerdictAction::reject)
            refuse(550, "5.7.5", "encrypted for no internal recipient key");
          break;
        }
        if (auto r = falsified(v)) {
          refuse(r->code, r->enhanced, r->text);
          break;
        }
        encryption = v.protection + (v.cipher.empty() ? "" : "/" + v.cipher);
        current = source_of(plain);
      } else {
        mime::Source content = mime::sub_source(b, sp.content_offset, sp.content_length);
        core::MessageBody& signed_bytes = layers.emplace_back(options_.spill_dir);
        copy_into(content, signed_bytes);
        v = openpgp::verify_detached(*ring, signed_bytes, data, oo);
        if (stale(v)) return result;
        // RFC 3156 5: the signed part is signed in its CRLF form; a part that arrives
        // with bare LF is checked in that form too (and delivered as CRLF either way).
        if (v.status == openpgp::VerdictStatus::bad_signature && has_bare_line_end(content)) {
          core::MessageBody& canonical = layers.emplace_back(options_.spill_dir);
          if (copy_crlf(content, canonical)) {
            openpgp::Verdict again = openpgp::verify_detached(*ring, canonical, data, oo);
            if (stale(again)) return result;
            if (again.status != openpgp::VerdictStatus::bad_signature) v = std::move(again);
          }
        }
        if (auto r = falsified(v)) {
          refuse(r->code, r->enhanced, r->text);
          break;
        }
        current = content;
      }
    } else {  // inline PGP: the whole decoded text body is one armored block
      core::MessageBody& text = layers.emplace_back(options_.spill_dir);
      std::string why, armored;
      if (!mime::write_decoded_content(current, append_to(text), &why) ||
          !read_all(source_of(text), armored)) {
        refuse(554, "5.7.5", "malformed inline PGP body: " + why);
        break;
      }
      if (!is_whole_armored_message(armored)) break;  // text around it: left alone
      if (err) break;
      core::MessageBody& plain = layers.emplace_back(options_.spill_dir);
      v = openpgp::open(*ring, armored, plain, oo);
      if (stale(v)) return result;
      if (v.status == openpgp::VerdictStatus::decrypt_failed) {
        undecryptable = true;
        if (options_.undecryptable == VerdictAction::reject)
          refuse(550, "5.7.5", "encrypted for no internal recipient key");
        break;
      }
      if (auto r = falsified(v)) {
        refuse(r->code, r->enhanced, r->text);
        break;
      }
      if (v.encrypted) encryption = v.protection + (v.cipher.empty() ? "" : "/" + v.cipher);
      // The text becomes a plain text entity of the same type (charset kept).
      core::MessageBody& entity = layers.emplace_back(options_.spill_dir);
      std::string type = value_of(e.headers, "Content-Type");
      entity.append("Content-Type: " + (type.empty() ? std::string("text/plain") : type) +
                    "\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
      copy_crlf(source_of(plain), entity);
      current = source_of(entity);
    }
    unwrapped = true;
    if (v.status != openpgp::VerdictStatus::no_signature) verdicts.push_back(std::move(v));
    if (refusal) break;
    e = mime::parse_entity(current, limits, true);
    if (!e.ok) refuse(554, "5.7.5", "malformed inner entity: " + e.error);
  }
  if (!err && lookup_err) err = lookup_err;
  if (err && !refusal)
    refuse(451, "4.7.0", "key source " + err->source + " unavailable, try again later");

  // Verdict rules for signatures that matched their content.
  auto from = mime::header_addresses(value_of(top.headers, "From"));
  std::string verdict_text = verdicts.empty() ? "unsigned" : "valid";
  bool valid_and_bound = false;
  for (const auto& v : verdicts) {
    if (refusal) break;
    VerdictAction action = VerdictAction::tag;
    if (v.status == openpgp::VerdictStatus::unknown_signer) action = options_.untrusted;
    if (v.status == openpgp::VerdictStatus::expired_key) action = options_.expired;
    if (v.status == openpgp::VerdictStatus::revoked_key) action = options_.revoked;
    if (v.status != openpgp::VerdictStatus::valid) {
      verdict_text = verdict_word(v.status);
      if (action == VerdictAction::reject)
        refuse(554, "5.7.5", "OpenPGP signer key " + verdict_text + ": " + v.reason);
    }
    // An unknown signer has no user IDs to compare: its verdict already says so.
    if (v.status == openpgp::VerdictStatus::unknown_signer || refusal) continue;
    bool bound = from.size() == 1 && v.signed_by(from[0]);
    if (!bound) {
      verdict_text = "signer-not-from";
      if (options_.from_mismatch == VerdictAction::reject)
        refuse(550, "5.7.1", "signer is not the From address");
    }
    valid_and_bound |= bound && v.status == openpgp::VerdictStatus::valid;
  }
  if (!refusal && !undecryptable && !valid_and_bound) {
    for (const auto& a : from) {
      std::size_t at = a.rfind('@');
      std::string domain = at == std::string::npos ? "" : util::to_lower(a.substr(at + 1));
      if (std::find(options_.require_signature_from.begin(), options_.require_signature_from.end(),
                    domain) != options_.require_signature_from.end()) {
        refuse(550, "5.7.1", "mail from " + domain + " must carry a valid signature of its sender");
        break;
      }
    }
  }
  if (refusal) {
    result.refusal = smtp::make_reply(refusal->code, refusal->enhanced, refusal->text);
    result.summary = "open refused (openpgp): " + refusal->text;
    return result;
  }
  if (undecryptable) verdict_text = "undecryptable";
  std::string harvested = harvest(top.headers, current, verdicts, from);

  // Output: outer headers (minus X-Mailseal-*, minus Content-* when unwrapped) + trace.
  bool replace = unwrapped && !undecryptable;
  std::vector<mime::Header> outer;
  for (const auto& h : top.headers) {
    if (strncasecmp(h.name.c_str(), "X-Mailseal-", 11) == 0) continue;
    if (replace && mime::is_content_header(h.name)) continue;
    outer.push_back(h);
  }
  std::string trace = "verdict=" + verdict_text + "; format=openpgp; encryption=" + encryption;
  if (!verdicts.empty()) {
    const auto& v = verdicts.front();
    std::string fpr = v.signer_fingerprint.empty() ? "keyid:" + v.signer_key_id
                                                   : "openpgp:" + v.signer_fingerprint;
    trace += ";\r\n signer=" + (v.signer_emails.empty() ? "unknown" : v.signer_emails.front()) +
             "; fingerprint=" + fpr + ";\r\n digest=" + v.hash_algorithm +
             "; signature=" + v.pubkey_algorithm;
  }
  outer.push_back({options_.trace_header, trace});
  core::MessageCopy copy{envelope.recipients, core::MessageBody(options_.spill_dir)};
  // Verified and decided (a run that is done again returned before this): what remains
  // is writing the copy, which may go to the next hop as it is written.
  if (listener && !redo) listener->started(copy.recipients, copy.body);
  copy.body.append(mime::header_block(outer));
  if (replace) {
    copy_crlf(current, copy.body);
  } else {
    copy.body.append("\r\n");
    copy_into(mime::sub_source(source_of(body), top.body_offset, body.size()), copy.body);
  }
  if (!copy.body.ok()) {
    result.refusal = smtp::make_reply(452, "4.3.1", "insufficient storage");
    return result;
  }
  result.copies.push_back(std::move(copy));
  result.summary = "opened: " + trace + harvested;
  return result;
}

std::string OpenpgpOpenFilter::harvest(const std::vector<mime::Header>& headers,
                                       const mime::Source& content,
                                       const std::vector<openpgp::Verdict>& verdicts,
                                       const std::vector<std::string>& from) {
  if (!options_.harvester || !openpgp_harvestable(verdicts, from)) return "";
  // Where a message carries its sender's key: an application/pgp-keys part inside the
  // signed content, or the Autocrypt header (outside the signature: the Harvester stores
  // either only when it is the very key that made the signature).
  std::vector<std::string> carried = mime::decoded_parts_of_type(
      content, "application/pgp-keys", {options_.max_mime_depth, 1000}, 4, 256 * 1024);
  if (auto k = autocrypt_keydata(headers, from.front())) carried.push_back(std::move(*k));
  std::string out;
  for (const auto& v : verdicts) {
    for (const auto& data : carried) {
      auto r = options_.harvester->add_openpgp(from.front(), data, v.signer_fingerprint,
                                               v.signing_key_fingerprint);
      if (r.outcome == keys::HarvestOutcome::stored) out = "; harvested=openpgp:" + r.fingerprint;
      if (r.outcome == keys::HarvestOutcome::stored || r.outcome == keys::HarvestOutcome::known)
        break;
    }
  }
  return out;
}

core::FilterResult OpenDispatcher::process(const core::Envelope& envelope,
                                           const core::ClientInfo& client,
                                           const core::MessageBody& body,
                                           core::CopyListener* listener) {
  mime::Entity top = mime::parse_header_block(source_of(body));
  if (openpgp_ && top.ok && classify_pgp(source_of(body), top) != PgpKind::none)
    return openpgp_->process(envelope, client, body, listener);
  return smime_->process(envelope, client, body, listener);
}

}  // namespace mailseal::gateway
