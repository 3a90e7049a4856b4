// TokenKek: see the header. All cryptography on the key happens in the token.
#include "keys/token_kek.h"

#include <openssl/rand.h>

#include <memory>
#include <vector>

#include "keys/pkcs11_module.h"

namespace mailseal::keys {
namespace {

constexpr std::size_t kIvSize = 12;
constexpr std::size_t kTagSize = 16;

CK_ATTRIBUTE attr(CK_ATTRIBUTE_TYPE t, const void* p, std::size_t n) {
  return CK_ATTRIBUTE{t, const_cast<void*>(p), static_cast<CK_ULONG>(n)};
}

struct Open {
  std::unique_ptr<Pkcs11Module> module;
  std::unique_ptr<Pkcs11Session> session;
};

Result<Open> open_token(const Pkcs11Settings& token) {
  if (!token.enabled()) return fail("[keys.pkcs11] is not configured");
  Open o;
  auto module = Pkcs11Module::load(token.module);
  if (!module) return module.take_error();
  o.module = std::move(module).value();
  auto slot = o.module->find_token(token.token);
  if (!slot) return slot.take_error();
  auto pin = read_pin_file(token.pin_file);
  if (!pin) return pin.take_error();
  auto session = Pkcs11Session::open(*o.module, slot.value(), pin.value());
  if (!session) return session.take_error();
  o.session = std::move(session).value();
  return o;
}

Result<std::vector<CK_OBJECT_HANDLE>> find_kek(Pkcs11Session& s, const std::string& label) {
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ATTRIBUTE tmpl[] = {attr(CKA_CLASS, &cls, sizeof cls), attr(CKA_KEY_TYPE, &type, sizeof type),
                         attr(CKA_LABEL, label.data(), label.size())};
  return s.find(tmpl, 3);
}

Result<CK_OBJECT_HANDLE> the_kek(Pkcs11Session& s, const std::string& label) {
  auto found = find_kek(s, label);
  if (!found) return found.take_error();
  if (found->empty()) return fail("the token has no AES key labelled '" + label + "'");
  if (found->size() > 1) return fail("the token has several AES keys labelled '" + label + "'");
  return found->front();
}

}  // namespace

std::string TokenKek::describe() const {
  return "the AES key '" + label_ + "' of PKCS#11 token '" + token_.token + "'";
}

Result<bool> TokenKek::exists() {
  auto t = open_token(token_);
  if (!t) return t.take_error();
  auto found = find_kek(*t->session, label_);
  if (!found) return found.take_error();
  return !found->empty();
}

Status TokenKek::create() {
  auto t = open_token(token_);
  if (!t) return t.take_error();
  Pkcs11Session& s = *t->session;
  auto found = find_kek(s, label_);
  if (!found) return found.take_error();
  if (!found->empty()) return fail("the token already has an AES key labelled '" + label_ + "'");
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG len = 32;
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  // Sensitive and never extractable: not even wrapped under another key may it leave.
  // No CKA_WRAP/CKA_UNWRAP/CKA_SIGN: it encrypts and decrypts the master key, nothing else.
  CK_ATTRIBUTE tmpl[] = {
      attr(CKA_CLASS, &cls, sizeof cls),     attr(CKA_KEY_TYPE, &type, sizeof type),
      attr(CKA_TOKEN, &yes, sizeof yes),     attr(CKA_PRIVATE, &yes, sizeof yes),
      attr(CKA_SENSITIVE, &yes, sizeof yes), attr(CKA_EXTRACTABLE, &no, sizeof no),
      attr(CKA_ENCRYPT, &yes, sizeof yes),   attr(CKA_DECRYPT, &yes, sizeof yes),
      attr(CKA_WRAP, &no, sizeof no),        attr(CKA_UNWRAP, &no, sizeof no),
      attr(CKA_VALUE_LEN, &len, sizeof len), attr(CKA_LABEL, label_.data(), label_.size())};
  CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  CK_RV rv = s.api()->C_GenerateKey(s.handle(), &mech, tmpl, sizeof tmpl / sizeof tmpl[0], &key);
  if (rv != CKR_OK) return fail("C_GenerateKey (AES-256) in the token: " + ckr_name(rv));
  return ok_status();
}

Result<std::string> TokenKek::wrap(const SecretBytes& plain, std::string_view aad) {
  auto t = open_token(token_);
  if (!t) return t.take_error();
  Pkcs11Session& s = *t->session;
  auto key = the_kek(s, label_);
  if (!key) return key.take_error();
  std::string blob(kIvSize + plain.size() + kTagSize, '\0');
  auto* iv = reinterpret_cast<unsigned char*>(blob.data());
  if (RAND_bytes(iv, kIvSize) != 1) return fail("random number generator failed");
  CK_GCM_PARAMS gcm{iv,          kIvSize,
                    kIvSize * 8, reinterpret_cast<unsigned char*>(const_cast<char*>(aad.data())),
                    aad.size(),  kTagSize * 8};
  CK_MECHANISM mech{CKM_AES_GCM, &gcm, sizeof gcm};
  CK_RV rv = s.api()->C_EncryptInit(s.handle(), &mech, key.value());
  if (rv != CKR_OK) return fail("C_EncryptInit (AES-GCM): " + ckr_name(rv));
  CK_ULONG out_len = plain.size() + kTagSize;
  rv = s.api()->C_Encrypt(s.handle(), const_cast<unsigned char*>(plain.data()), plain.size(),
                          iv + kIvSize, &out_len);
  if (rv != CKR_OK) return fail("C_Encrypt (AES-GCM): " + ckr_name(rv));
  if (out_len != plain.size() + kTagSize) return fail("C_Encrypt returned an unexpected length");
  return blob;
}

Result<SecretBytes> TokenKek::unwrap(std::string_view blob, std::string_view aad) {
  if (blob.size() < kIvSize + kTagSize) return fail("wrapped key is truncated");
  auto t = open_token(token_);
  if (!t) return t.take_error();
  Pkcs11Session& s = *t->session;
  auto key = the_kek(s, label_);
  if (!key) return key.take_error();
  auto* in = reinterpret_cast<unsigned char*>(const_cast<char*>(blob.data()));
  CK_GCM_PARAMS gcm{in,          kIvSize,
                    kIvSize * 8, reinterpret_cast<unsigned char*>(const_cast<char*>(aad.data())),
                    aad.size(),  kTagSize * 8};
  CK_MECHANISM mech{CKM_AES_GCM, &gcm, sizeof gcm};
  CK_RV rv = s.api()->C_DecryptInit(s.handle(), &mech, key.value());
  if (rv != CKR_OK) return fail("C_DecryptInit (AES-GCM): " + ckr_name(rv));
  const std::size_t ct_len = blob.size() - kIvSize;  // ciphertext | tag
  SecretBytes plain(ct_len);
  CK_ULONG out_len = ct_len;
  rv = s.api()->C_Decrypt(s.handle(), in + kIvSize, ct_len, plain.data(), &out_len);
  if (rv != CKR_OK)
    return fail("C_Decrypt (AES-GCM): " + ckr_name(rv) +
                " (a different key, or the file was changed)");
  plain.truncate(out_len);
  return plain;
}

}  // namespace mailseal::keys
