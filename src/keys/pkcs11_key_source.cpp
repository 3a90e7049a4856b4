// Pkcs11KeySource over libp11: connect (load module, find the token by label), log in
// with the PIN file, read the token's certificates once, hand out token-backed EVP_PKEYs.
#include "keys/pkcs11_key_source.h"

#include <libp11.h>
#include <openssl/err.h>
#include <p11-kit/pkcs11.h>

#include <algorithm>

#include "keys/address.h"
#include "keys/key_store.h"
#include "keys/x509_util.h"

namespace mailseal::keys {
namespace {

bool pin_refused(unsigned long err) {
  // libp11 reports the module's CK_RV as the OpenSSL reason code.
  switch (ERR_GET_REASON(err)) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_EXPIRED:
    case CKR_PIN_LOCKED:
      return true;
    default:
      return false;
  }
}

std::string login_reason(unsigned long err) {
  switch (ERR_GET_REASON(err)) {
    case CKR_PIN_INCORRECT:
      return "PIN incorrect";
    case CKR_PIN_LOCKED:
      return "PIN locked";
    case CKR_PIN_EXPIRED:
      return "PIN expired";
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
      return "PIN invalid";
    default:
      break;
  }
  char buf[256];
  ERR_error_string_n(err, buf, sizeof buf);
  return buf;
}

}  // namespace

Pkcs11KeySource::Pkcs11KeySource(Pkcs11Settings settings, std::function<std::int64_t()> now,
                                 Notify notify)
    : settings_(std::move(settings)),
      now_(now ? std::move(now) : std::function<std::int64_t()>(system_now)),
      notify_(std::move(notify)) {}

Pkcs11KeySource::~Pkcs11KeySource() {
  identities_.clear();  // keys first: they point into the slot list
  if (ctx_) {
    if (slots_) PKCS11_release_all_slots(ctx_, slots_, nslots_);
    PKCS11_CTX_unload(ctx_);
    PKCS11_CTX_free(ctx_);
  }
}

Status Pkcs11KeySource::fail_state(std::string reason) {
  last_error_ = std::move(reason);
  retry_at_ = now_() + kRetrySeconds;
  if (usable_ || !reported_) {
    usable_ = false;
    reported_ = true;
    if (notify_) notify_(false, last_error_);
  }
  return fail(last_error_);
}

Status Pkcs11KeySource::connect() {
  if (!ctx_) {
    PKCS11_CTX* ctx = PKCS11_CTX_new();
    if (!ctx) return fail("out of memory");
    if (PKCS11_CTX_load(ctx, settings_.module.c_str()) != 0) {
      PKCS11_CTX_free(ctx);
      ERR_clear_error();
      return fail("cannot load PKCS#11 module " + settings_.module.string());
    }
    ctx_ = ctx;
  }
  if (slot_) return ok_status();
  // A token inserted (or initialised) since the last attempt shows up in a new list.
  // Rebuilding the list is safe here: no key was handed out while slot_ is unset.
  // (PKCS11_update_slots of libp11 0.4.12 crashes on a second call, so it is not used.)
  if (slots_) {
    PKCS11_release_all_slots(ctx_, slots_, nslots_);
    slots_ = nullptr;
    nslots_ = 0;
  }
  int rc = PKCS11_enumerate_slots(ctx_, &slots_, &nslots_);
  if (rc != 0) {
    ERR_clear_error();
    return fail("cannot list the slots of " + settings_.module.string());
  }
  for (unsigned i = 0; i < nslots_; ++i) {
    PKCS11_SLOT* s = &slots_[i];
    if (s->token && s->token->initialized && s->token->label &&
        trim_label(s->token->label, 32) == settings_.token) {
      slot_ = s;
      return ok_status();
    }
  }
  return fail("no token labelled \"" + settings_.token + "\"");
}

Status Pkcs11KeySource::login() {
  int logged_in = 0;
  if (PKCS11_is_logged_in(slot_, 0, &logged_in) == 0 && logged_in) return ok_status();
  ERR_clear_error();
  auto pin = read_pin_file(settings_.pin_file);
  if (!pin) return pin.take_error();
  std::string pin_id = sha256_hex(pin->view());
  if (!refused_pin_.empty() && pin_id == refused_pin_)
    return fail("the token refused this PIN before; not retried until the PIN file changes");
  // libp11 wants a C string; the copy lives in a wiped buffer.
  SecretBytes cpin(pin->size() + 1);
  std::copy(pin->data(), pin->data() + pin->size(), cpin.data());
  cpin.data()[pin->size()] = 0;
  if (PKCS11_login(slot_, 0, reinterpret_cast<const char*>(cpin.data())) != 0) {
    unsigned long err = ERR_peek_last_error();
    ERR_clear_error();
    if (pin_refused(err)) refused_pin_ = pin_id;
    return fail("login to token \"" + settings_.token + "\": " + login_reason(err));
  }
  refused_pin_.clear();
  return ok_status();
}

Status Pkcs11KeySource::load_identities() {
  PKCS11_CERT* certs = nullptr;
  unsigned n = 0;
  if (PKCS11_enumerate_certs(slot_->token, &certs, &n) != 0) {
    ERR_clear_error();
    return fail("cannot list the certificates in token \"" + settings_.token + "\"");
  }
  std::vector<X509*> cas;
  for (unsigned i = 0; i < n; ++i)
    if (certs[i].x509 && is_ca(certs[i].x509)) cas.push_back(certs[i].x509);
  std::vector<Identity> found;
  for (unsigned i = 0; i < n; ++i) {
    X509* x = certs[i].x509;
    if (!x || is_ca(x)) continue;
    Identity id;
    id.addresses = cert_emails(x);
    if (id.addresses.empty()) continue;
    id.cert = crypto::share(x);
    id.token_cert = &certs[i];
    id.fingerprint = fingerprint(x);
    if (!to_unix(X509_get0_notBefore(x), id.not_before) ||
        !to_unix(X509_get0_notAfter(x), id.not_after))
      continue;
    // Chain: the token's CA certificates that issued it (the internal CA, typically).
    for (X509* ca : cas)
      if (X509_check_issued(ca, x) == X509_V_OK) id.chain.push_back(crypto::share(ca));
    found.push_back(std::move(id));
  }
  // Newest first, as every source returns them.
  std::stable_sort(found.begin(), found.end(), [](const Identity& a, const Identity& b) {
    return a.not_before > b.not_before;
  });
  identities_ = std::move(found);
  loaded_ = true;
  return ok_status();
}

Status Pkcs11KeySource::ensure() {
  if (!usable_ && reported_ && now_() < retry_at_) return fail(last_error_);
  Status st = connect();
  if (st) st = login();
  if (st && !loaded_) st = load_identities();
  if (!st) return fail_state(st.error());
  if (!usable_) {
    usable_ = true;
    reported_ = true;
    if (notify_)
      notify_(true, "token \"" + settings_.token + "\" ready, " +
                        std::to_string(identities_.size()) + " identit" +
                        (identities_.size() == 1 ? "y" : "ies"));
  }
  return ok_status();
}

std::vector<SecretKeyRecord> Pkcs11KeySource::lookup(std::string_view address, KeyKind kind,
                                                     const std::function<bool(X509*)>* wanted,
                                                     std::optional<SourceError>& error) {
  if (kind != KeyKind::smime) return {};
  std::lock_guard lock(mu_);
  if (auto st = ensure(); !st) {
    error = SourceError{"pkcs11", st.error()};
    return {};
  }
  std::string addr = normalise_address(address);
  std::int64_t now = now_();
  std::vector<SecretKeyRecord> out;
  for (auto& id : identities_) {
    if (std::find(id.addresses.begin(), id.addresses.end(), addr) == id.addresses.end()) continue;
    if (now < id.not_before || now > id.not_after) continue;
    if (wanted && !(*wanted)(id.cert.get())) continue;
    if (!id.key) {
      PKCS11_KEY* k = PKCS11_find_key(id.token_cert);
      EVP_PKEY* pkey = k ? PKCS11_get_private_key(k) : nullptr;
      ERR_clear_error();
      if (!pkey) continue;  // a certificate without its key in the token: not ours to use
      id.key.reset(pkey);
    }
    SecretKeyRecord r;
    r.address = addr;
    r.kind = KeyKind::smime;
    r.cert = crypto::share(id.cert.get());
    r.key = crypto::share(id.key.get());
    for (const auto& c : id.chain) r.chain.push_back(crypto::share(c.get()));
    r.fingerprint = id.fingerprint;
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<PublicKeyRecord> Pkcs11KeySource::find_public(std::string_view, KeyKind,
                                                          std::optional<SourceError>&) {
  return {};
}

std::vector<SecretKeyRecord> Pkcs11KeySource::find_secret(std::string_view address, KeyKind kind,
                                                          std::optional<SourceError>& error) {
  return lookup(address, kind, nullptr, error);
}

std::vector<SecretKeyRecord> Pkcs11KeySource::find_secret_for(
    std::string_view address, KeyKind kind, const std::function<bool(X509*)>& wanted,
    std::optional<SourceError>& error) {
  return lookup(address, kind, &wanted, error);
}

std::vector<crypto::X509Ptr> Pkcs11KeySource::trust_anchors(std::optional<SourceError>&) {
  return {};
}

std::vector<crypto::X509CrlPtr> Pkcs11KeySource::crls(std::optional<SourceError>&) {
  return {};
}

Status Pkcs11KeySource::probe() {
  std::lock_guard lock(mu_);
  retry_at_ = 0;  // an explicit check always tries
  return ensure();
}

std::vector<std::string> Pkcs11KeySource::addresses() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& id : identities_)
    for (const auto& a : id.addresses) out.push_back(a);
  return out;
}

}  // namespace mailseal::keys
