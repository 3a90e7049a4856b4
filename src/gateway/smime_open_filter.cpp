// SmimeOpenFilter: the unwrap loop (decrypt, then verify), verdict rules, and output.
// Only layers that are the whole body are unwrapped (no EFAIL-style mixing).
#include "gateway/smime_open_filter.h"

#include <strings.h>

#include <algorithm>
#include <deque>
#include <functional>

#include "gateway/body_io.h"
#include "gateway/harvest.h"
#include "mime/address.h"
#include "mime/entity.h"
#include "util/strings.h"

namespace mailseal::gateway {
namespace smime = crypto::smime;
namespace {

struct Refusal {
  int code;
  const char* enhanced;
  std::string text;
};

// State of one unwrap run; `layers` owns the intermediate bodies.
struct Unwrap {
  std::deque<core::MessageBody> layers;
  mime::Source current;
  std::string encryption = "none";
  std::vector<smime::Verdict> verdicts;
  bool undecryptable = false;
};

constexpr std::size_t kMaxInMemoryCms = 4 * 1024 * 1024;

// Transfer-decodes a pkcs7 entity and parses its CMS.
smime::ParsedCms decode_cms(const mime::Source& entity, core::MessageBody& der) {
  std::string err;
  if (!mime::write_decoded_content(entity, append_to(der), &err)) {
    smime::ParsedCms p;
    p.status = smime::Status::fail(smime::Failure::malformed, err);
    return p;
  }
  // A signature is small: parsed from memory, so that the certificates it carries are
  // decoded once per process (parse_cms_der), not per message.
  if (der.size() <= kMaxInMemoryCms) {
    std::string bytes(der.size(), '\0');
    std::size_t off = 0;
    while (off < bytes.size()) {
      long n = der.read_at(off, bytes.data() + off, bytes.size() - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    if (off == bytes.size()) return smime::parse_cms_der(bytes);
  }
  crypto::BioPtr in = read_bio(source_of(der));
  return smime::parse_cms(in.get());
}

std::string value_of(const std::vector<mime::Header>& hs, const char* name) {
  for (const auto& h : hs)
    if (strcasecmp(h.name.c_str(), name) == 0) return h.value;
  return "";
}

// Transfer-decodes a pkcs7 entity into `der` (spilled to disk when large) and parses its
// CMS with the inner content left in `der`, to be streamed (large messages).
smime::DetachedCms decode_cms_detached(const mime::Source& entity, core::MessageBody& der) {
  std::string err;
  if (!mime::write_decoded_content(entity, append_to(der), &err) || !der.ok()) {
    smime::DetachedCms d;
    d.parsed.status = smime::Status::fail(smime::Failure::malformed, err);
    return d;
  }
  return smime::parse_cms_detached(
      [&der](std::size_t off, char* buf, std::size_t n) { return der.read_at(off, buf, n); },
      der.size());
}

// CRL download and OCSP for a signer whose chain verified (the stored CRLs were already
// applied by the chain check). Revoked -> the "revoked" verdict and its rule. False when
// hard-fail left the status unknown: the caller answers 451.
bool check_signer_revocation(keys::RevocationChecker& checker, smime::Verdict& v,
                             const std::vector<X509_CRL*>& crls) {
  keys::RevocationResult r = checker.check(v.signer.get(), v.issuer.get(), crls);
  if (r.state == keys::Revocation::unavailable) {
    checker.warn(r.detail);
    return false;
  }
  if (r.state == keys::Revocation::revoked) {
    v.status = smime::VerdictStatus::revoked;
    v.reason = "certificate: " + r.detail;
  }
  return true;
}

}  // namespace

core::FilterResult SmimeOpenFilter::process(const core::Envelope& envelope, const core::ClientInfo&,
                                            const core::MessageBody& body,
                                            core::CopyListener* listener) {
  core::FilterResult result;
  std::optional<Refusal> refusal;
  auto refuse = [&](int code, const char* enh, std::string text) {
    refusal = Refusal{code, enh, std::move(text)};
  };
  const mime::Limits limits{options_.max_mime_depth, 1000};
  mime::Entity top = mime::parse_entity(source_of(body), limits, true);
  if (!top.ok) {
    mime::Entity loose = mime::parse_entity(source_of(body), limits, false);
    if (!loose.ok || loose.smime != mime::SmimeKind::none)
      refuse(554, "5.7.5", "malformed S/MIME message: " + top.error);
    else
      top = std::move(loose);
  }
  Unwrap u;
  u.current = source_of(body);
  std::optional<keys::SourceError> err;
  mime::Entity e = top;
  for (int layer = 0; !refusal && e.smime != mime::SmimeKind::none; ++layer) {
    if (layer >= options_.max_layers) {
      refuse(554, "5.7.5", "too many S/MIME layers");
      break;
    }
    if (e.smime == mime::SmimeKind::enveloped || e.smime == mime::SmimeKind::auth_enveloped) {
      core::MessageBody& der = u.layers.emplace_back(options_.spill_dir);
      smime::DetachedCms detached = decode_cms_detached(u.current, der);
      const smime::ParsedCms& cms = detached.parsed;
      if (!cms.status.ok() || cms.kind == smime::CmsKind::signed_data) {
        refuse(554, "5.7.5", "malformed encrypted data");
        break;
      }
      // Only the key a RecipientInfo names is opened (issuer+serial / SKI / kari), and
      // only the first internal recipient's: decrypt() would use no other.
      std::vector<keys::SecretKeyRecord> secrets;
      const std::function<bool(X509*)> named = [&cms](X509* cert) {
        return smime::is_recipient(cms.cms.get(), cert);
      };
      for (const auto& rcpt : envelope.recipients) {
        auto found = keys_.secret_keys(rcpt, named, err);
        if (err) break;
        for (auto& s : found) secrets.push_back(std::move(s));
        if (!secrets.empty()) break;
      }
      if (err) {
        refuse(451, "4.7.0", "key source " + err->source + " unavailable, try again later");
        break;
      }
      std::vector<smime::RecipientKey> candidates;
      for (const auto& s : secrets) candidates.push_back({s.cert.get(), s.key.get()});
      core::MessageBody& plain = u.layers.emplace_back(options_.spill_dir);
      crypto::BioPtr out = crypto::append_bio_over(plain);
      crypto::BioPtr ciphertext = detached.content();
      smime::DecryptResult r =
          smime::decrypt(cms.cms.get(), out.get(), candidates, ciphertext.get());
      if (r.status.failure == smime::Failure::wrong_key) {
        u.undecryptable = true;
        if (options_.undecryptable == VerdictAction::reject)
          refuse(550, "5.7.5", "encrypted for no internal recipient key");
        break;
      }
      if (!r.status.ok()) {
        refuse(554, "5.7.7", "encrypted content damaged");
        break;
      }
      u.encryption =
          cms.kind == smime::CmsKind::auth_enveloped_data ? "authEnveloped-data" : "enveloped-data";
      u.current = source_of(plain);
    } else if (e.smime == mime::SmimeKind::signed_data ||
               e.smime == mime::SmimeKind::multipart_signed) {
      auto anchors = keys_.anchors(err);
      auto crls = err ? std::vector<crypto::X509CrlPtr>{} : keys_.crls(err);
      if (err) {
        refuse(451, "4.7.0", "key source " + err->source + " unavailable, try again later");
        break;
      }
      std::vector<X509*> anchor_ptrs;
      for (auto& a : anchors) anchor_ptrs.push_back(a.get());
      crypto::X509StorePtr store = smime::make_store(anchor_ptrs);
      smime::VerifyContext ctx{store.get(), {}, options_.verify_time, {}};
      for (auto& c : crls) ctx.crls.push_back(c.get());
      smime::Verdict v;
      if (e.smime == mime::SmimeKind::signed_data) {
        core::MessageBody& der = u.layers.emplace_back(options_.spill_dir);
        smime::DetachedCms detached = decode_cms_detached(u.current, der);
        const smime::ParsedCms& cms = detached.parsed;
        core::MessageBody& plain = u.layers.emplace_back(options_.spill_dir);
        crypto::BioPtr out = crypto::append_bio_over(plain);
        crypto::BioPtr content = detached.content();
        if (cms.status.ok() && cms.kind == smime::CmsKind::signed_data && content)
          v = smime::verify_opaque(cms.cms.get(), out.get(), ctx, content.get());
        u.current = source_of(plain);
      } else {
        mime::Source b = mime::sub_source(u.current, e.body_offset, u.current.size);
        mime::SignedParts sp = mime::locate_signed_parts(b, e.boundary);
        if (sp.ok) {
          mime::Source sig = mime::sub_source(b, sp.signature_offset, sp.signature_length);
          mime::Entity sig_entity = mime::parse_entity(sig, limits, true);
          core::MessageBody& der = u.layers.emplace_back(options_.spill_dir);
          smime::ParsedCms cms;
          if (sig_entity.ok && (sig_entity.mime_type == "application/pkcs7-signature" ||
                                sig_entity.mime_type == "application/x-pkcs7-signature"))
            cms = decode_cms(sig, der);
          mime::Source content = mime::sub_source(b, sp.content_offset, sp.content_length);
          crypto::BioPtr in = read_bio(content);
          if (cms.status.ok()) v = smime::verify_detached(in.get(), cms.cms.get(), ctx);
          // Inside CMS the signed part may come with bare LF although the signer signed
          // its canonical CRLF form (RFC 8551 3.1.1): check that form too. Either way the
          // CRLF form is what is delivered.
          if (v.status == smime::VerdictStatus::bad_signature && has_bare_line_end(content)) {
            core::MessageBody& canonical = u.layers.emplace_back(options_.spill_dir);
            if (copy_crlf(content, canonical)) {
              crypto::BioPtr cin = read_bio(source_of(canonical));
              smime::Verdict again = smime::verify_detached(cin.get(), cms.cms.get(), ctx);
              if (again.status != smime::VerdictStatus::bad_signature) v = std::move(again);
            }
          }
          u.current = content;
        }
      }
      if (v.status == smime::VerdictStatus::valid && options_.revocation &&
          !check_signer_revocation(*options_.revocation, v, ctx.crls)) {
        refuse(451, "4.7.0", "revocation status of the signer unavailable, try again later");
        break;
      }
      if (v.status == smime::VerdictStatus::bad_signature) {
        refuse(554, "5.7.7", "signature does not match the content");
      } else if (v.status == smime::VerdictStatus::malformed) {
        refuse(554, "5.7.5", "malformed signature");
      }
      u.verdicts.push_back(std::move(v));
    } else {
      refuse(554, "5.7.5", "unsupported S/MIME type");
    }
    if (refusal || u.undecryptable) break;
    e = mime::parse_entity(u.current, limits, true);
    if (!e.ok) refuse(554, "5.7.5", "malformed inner entity: " + e.error);
  }

  // Verdict rules for signatures that matched their content.
  std::string from_value = value_of(top.headers, "From");
  auto from = mime::header_addresses(from_value);
  std::string verdict_text = u.verdicts.empty() ? "unsigned" : "valid";
  bool valid_and_bound = false;  // some signature is valid and its signer is the From address
  for (const auto& v : u.verdicts) {
    if (refusal) break;
    VerdictAction action = VerdictAction::tag;
    if (v.status == smime::VerdictStatus::untrusted) action = options_.untrusted;
    if (v.status == smime::VerdictStatus::expired) action = options_.expired;
    if (v.status == smime::VerdictStatus::revoked) action = options_.revoked;
    if (v.status != smime::VerdictStatus::valid) {
      verdict_text = smime::verdict_name(v.status);
      if (action == VerdictAction::reject)
        refuse(554, "5.7.5", "signer certificate " + verdict_text);
    }
    bool bound = false;
    for (const auto& email : v.signer_emails)
      bound |=
          from.size() == 1 && keys::normalise_address(email) == keys::normalise_address(from[0]);
    if (!bound && !refusal) {
      verdict_text = "signer-not-from";
      if (options_.from_mismatch == VerdictAction::reject)
        refuse(550, "5.7.1", "signer is not the From address");
    }
    valid_and_bound |= bound && v.status == smime::VerdictStatus::valid;
  }
  // Per-sender-domain rule: mail from these domains must carry a valid signature by the
  // From address. Undecryptable mail is left to the `undecryptable` rule (its signature,
  // if any, is inside the encryption we cannot open).
  if (!refusal && !u.undecryptable && !valid_and_bound) {
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
    result.summary = "open refused: " + refusal->text;
    return result;
  }
  if (u.undecryptable) verdict_text = "undecryptable";
  // Issue 6: a fully verified signer's certificate is filed under From, so replies to it
  // can be sealed. A store failure is the harvester's log line, never the mail's failure.
  std::string harvested;
  if (options_.harvester && !u.undecryptable && smime_harvestable(u.verdicts, from)) {
    for (const auto& v : u.verdicts) {
      auto r = options_.harvester->add_smime(from.front(), v.signer.get());
      if (r.outcome == keys::HarvestOutcome::stored)
        harvested = "; harvested=sha256:" + r.fingerprint;
    }
  }
  if (u.verdicts.empty() && !u.undecryptable && e.encrypted_part_inside)
    verdict_text = "unsigned; encrypted-part-left-alone";

  // Output: outer headers (minus X-Mailseal-*, minus Content-* when unwrapped) + trace.
  bool unwrapped = !u.layers.empty() && !u.undecryptable;
  std::vector<mime::Header> outer;
  for (const auto& h : top.headers) {
    if (strncasecmp(h.name.c_str(), "X-Mailseal-", 11) == 0) continue;
    if (unwrapped && mime::is_content_header(h.name)) continue;
    outer.push_back(h);
  }
  std::string trace = "verdict=" + verdict_text + "; encryption=" + u.encryption;
  if (!u.verdicts.empty()) {
    const auto& v = u.verdicts.front();
    trace += ";\r\n signer=" + (v.signer_emails.empty() ? "unknown" : v.signer_emails.front()) +
             "; fingerprint=sha256:" + v.signer_fingerprint + ";\r\n digest=" + v.digest_algorithm +
             "; signature=" + v.signature_algorithm;
  }
  outer.push_back({options_.trace_header, trace});
  core::MessageCopy copy{envelope.recipients, core::MessageBody(options_.spill_dir)};
  // Verified and decided: what remains is writing the copy, which may go to the next hop
  // as it is written.
  if (listener) listener->started(copy.recipients, copy.body);
  copy.body.append(mime::header_block(outer));
  if (unwrapped)
    copy_crlf(u.current, copy.body);  // the next hop is SMTP: CRLF even if CMS held LF
  else {
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

}  // namespace mailseal::gateway
