// Inbound (outside listener) OpenPGP open: PGP/MIME multipart/encrypted and
// multipart/signed (application/pgp-signature), and inline PGP (a whole text/plain body
// that is one armored message or cleartext-signed message). Decrypts with any internal
// recipient's OpenPGP secret key, verifies against stored certificates (looked up by the
// signature's issuer key ID), binds the signer's user-ID address to From, and decides
// before the DATA reply with the codes and rules of the S/MIME open filter
// (smime_options.h): falsified 554 5.7.7 (bad signature, integrity/MDC failure, no MDC,
// tampered ciphertext) or 554 5.7.5 (malformed); unknown/expired/revoked signer by the
// untrusted/expired/revoked rules; trace header with format=openpgp.
#pragma once

#include <vector>

#include "core/message_filter.h"
#include "gateway/openpgp_keys.h"
#include "gateway/smime_options.h"
#include "mime/entity.h"
#include "openpgp/verdict.h"

namespace mailseal::gateway {

class OpenpgpOpenFilter : public core::MessageFilter {
 public:
  OpenpgpOpenFilter(std::vector<keys::KeySource*> sources, OpenOptions options)
      : keys_(std::move(sources)), options_(std::move(options)) {}

  std::optional<smtp::Reply> check_recipient(const core::Envelope&, const std::string&) override {
    return std::nullopt;
  }
  core::FilterResult process(const core::Envelope& envelope, const core::ClientInfo& client,
                             const core::MessageBody& body, core::CopyListener* listener) override;

 private:
  // One run over the message: with the thread's kept keyring (`kept`), or with a fresh
  // keyring of only this message's keys. A kept run sets `redo` when a verdict rests on
  // a key the sources no longer give as imported (openpgp_keys.h); its result is then
  // discarded and the message done again with a fresh keyring.
  core::FilterResult run(const core::Envelope& envelope, const core::MessageBody& body, bool kept,
                         bool& redo, core::CopyListener* listener);
  // Issue 6: files the key a fully verified message carries (gateway/harvest.h); returns
  // the summary's "; harvested=..." part, empty when nothing new was stored.
  std::string harvest(const std::vector<mime::Header>& headers, const mime::Source& content,
                      const std::vector<openpgp::Verdict>& verdicts,
                      const std::vector<std::string>& from);

  OpenpgpKeys keys_;
  OpenOptions options_;
};

// Inbound dispatch by content type: OpenPGP messages (multipart/encrypted or
// multipart/signed with the pgp protocols, inline PGP) go to `openpgp`, everything else
// (S/MIME and unsigned mail) to `smime`, so each message is handled exactly once.
class OpenDispatcher : public core::MessageFilter {
 public:
  OpenDispatcher(std::unique_ptr<core::MessageFilter> smime,
                 std::unique_ptr<core::MessageFilter> openpgp)
      : smime_(std::move(smime)), openpgp_(std::move(openpgp)) {}

  std::optional<smtp::Reply> check_recipient(const core::Envelope& envelope,
                                             const std::string& recipient) override {
    return smime_->check_recipient(envelope, recipient);
  }
  core::FilterResult process(const core::Envelope& envelope, const core::ClientInfo& client,
                             const core::MessageBody& body, core::CopyListener* listener) override;

 private:
  std::unique_ptr<core::MessageFilter> smime_;
  std::unique_ptr<core::MessageFilter> openpgp_;
};

}  // namespace mailseal::gateway
