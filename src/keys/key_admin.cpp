// KeyAdmin: state-directory layout, init/open (with recovery of an interrupted master-key
// rotation), export, list, remove and rotation. Import/generate/CA are in key_admin_issue.cpp.

#include "keys/key_admin.h"

#include <fcntl.h>
#include <openssl/pkcs12.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "keys/pkcs12_gpgsm.h"
#include "keys/x509_util.h"
#include "util/strings.h"

namespace mailseal::keys {
namespace {

std::filesystem::path pending_key(const StatePaths& p) {
  auto n = p.master_key;
  n += ".new";
  return n;
}

Status sync_dir(const std::filesystem::path& file) {
  auto dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail("cannot open " + dir.string() + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return fail("cannot sync " + dir.string() + ": " + std::strerror(errno));
  return ok_status();
}

// A rotation writes master.key.new, commits the re-encrypted blobs, then renames. If it
// stopped in between, the database says which key is current: finish or discard.
Status recover_rotation(const StatePaths& p, KeyWrapper* kek) {
  auto pending = pending_key(p);
  std::error_code ec;
  if (!std::filesystem::exists(pending, ec)) return ok_status();
  auto next = MasterKey::load(pending, kek);
  auto probe = KeyStore::open(p.store, std::nullopt);
  if (!next || !probe) return fail("interrupted key rotation: cannot read " + pending.string());
  auto recorded = probe.value()->master_key_id();
  if (!recorded) return recorded.take_error();
  if (recorded.value() == next->id()) {
    if (::rename(pending.c_str(), p.master_key.c_str()) != 0) {
      return fail("cannot finish key rotation: " + std::string(std::strerror(errno)));
    }
  } else if (::unlink(pending.c_str()) != 0) {
    return fail("cannot remove stale " + pending.string() + ": " + std::strerror(errno));
  }
  return sync_dir(p.master_key);
}

}  // namespace

bool is_fingerprint(std::string_view s) {
  if (s.size() != 64 && s.size() != 40) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

StatePaths StatePaths::under(const std::filesystem::path& state_dir,
                             std::filesystem::path master_key) {
  StatePaths p;
  p.store = StoreLocation(state_dir / "keys.db");
  p.master_key = master_key.empty() ? state_dir / "master.key" : std::move(master_key);
  return p;
}

Status KeyAdmin::init(const StatePaths& paths, Clock now) {
  const bool sqlite = paths.store.kind == StoreLocation::Kind::sqlite;
  std::error_code ec;
  auto dir = (sqlite ? paths.store.file : paths.master_key).parent_path();
  if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail("cannot create " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
  }
  if (sqlite && std::filesystem::exists(paths.store.file, ec)) {
    return fail("key store already initialised: " + paths.store.file.string() + " exists");
  }
  auto key = MasterKey::create(paths.master_key);
  if (!key) return key.take_error();
  auto store = KeyStore::create(paths.store, std::move(key).value(), std::move(now));
  if (!store) {
    // Leave nothing half made, so that init can simply be run again.
    std::filesystem::remove(paths.master_key, ec);
    if (sqlite) std::filesystem::remove(paths.store.file, ec);
    return store.take_error();
  }
  return ok_status();
}

Result<KeyAdmin> KeyAdmin::open(const StatePaths& paths, Clock now, KeyWrapper* kek) {
  if (auto st = recover_rotation(paths, kek); !st) return st.take_error();
  auto key = MasterKey::load(paths.master_key, kek);
  if (!key) return key.take_error();
  auto store = KeyStore::open(paths.store, std::move(key).value(), now);
  if (!store) return store.take_error();
  return KeyAdmin(paths, std::move(store).value(), now ? now : Clock(system_now), kek);
}

Result<std::string> KeyAdmin::export_certificate(std::string_view which) {
  std::optional<SourceError> err;
  if (is_fingerprint(which)) {
    auto all = store_->list();
    if (!all) return all.take_error();
    for (const auto& info : all.value()) {
      if (info.fingerprint != util::to_lower(which)) continue;
      if (info.kind == KeyKind::openpgp) return export_openpgp(which);
      for (auto& r : store_->find_public(info.address, info.kind, err)) {
        if (r.fingerprint == info.fingerprint) return pem_of(r.cert.get());
      }
    }
    return fail("no valid certificate with fingerprint " + std::string(which));
  }
  auto found = store_->find_public(which, KeyKind::smime, err);
  if (err) return fail(err->reason);
  if (found.empty()) {
    auto pgp = store_->find_public(which, KeyKind::openpgp, err);
    if (!err && !pgp.empty()) return export_openpgp(which);
    return fail("no valid certificate for " + normalise_address(which));
  }
  return pem_of(found.front().cert.get());
}

Result<std::string> KeyAdmin::export_pkcs12(std::string_view address, const SecretBytes& passphrase,
                                            bool legacy) {
  if (passphrase.empty()) return fail("exporting a secret key needs a non-empty passphrase");
  std::optional<SourceError> err;
  auto found = store_->find_secret(address, KeyKind::smime, err);
  if (err) return fail(err->reason);
  if (found.empty()) return fail("no valid secret key for " + normalise_address(address));
  auto& rec = found.front();
  crypto::X509StackPtr chain(sk_X509_new_null());
  for (auto& c : rec.chain) sk_X509_push(chain.get(), crypto::share(c.get()).release());
  SecretBytes pass(passphrase.size() + 1);
  std::memcpy(pass.data(), passphrase.data(), passphrase.size());
  pass.data()[passphrase.size()] = 0;
  if (legacy && passphrase.size() > kGpgsm22MaxPassphrase)
    return fail("a --legacy PKCS#12 is for gpgsm 2.2, which refuses passphrases longer than " +
                std::to_string(kGpgsm22MaxPassphrase) + " bytes");
  int nid = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : 0;  // 0 = AES-256/PBKDF2
  PKCS12* p12 = nullptr;
  // Legacy: draw new salts until gpgsm 2.2 derives the right keys (pkcs12_gpgsm.h). About
  // 1 draw in 64 is refused, so 32 refused draws in a row do not happen in practice.
  for (int draw = 0; draw < 32; ++draw) {
    p12 = PKCS12_create(reinterpret_cast<const char*>(pass.data()), rec.address.c_str(),
                        rec.key.get(), rec.cert.get(), chain.get(), nid, nid, PKCS12_DEFAULT_ITER,
                        PKCS12_DEFAULT_ITER, 0);
    if (!p12) return fail("cannot build PKCS#12: " + openssl_error());
    if (!legacy) break;
    auto readable = gpgsm22_can_decrypt(*p12, passphrase.view());
    if (!readable) {
      PKCS12_free(p12);
      return readable.take_error();
    }
    if (readable.value()) break;
    PKCS12_free(p12);
    p12 = nullptr;
  }
  if (!p12) return fail("cannot build a PKCS#12 that gpgsm 2.2 can decrypt");
  unsigned char* der = nullptr;
  int n = i2d_PKCS12(p12, &der);
  PKCS12_free(p12);
  if (n <= 0) return fail("cannot encode PKCS#12");
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  return out;
}

Result<std::vector<CertificateInfo>> KeyAdmin::list(std::string_view address) {
  auto rows = store_->list(address);
  if (!rows) return rows;
  for (auto& r : rows.value())
    if (r.kind == KeyKind::openpgp) r.user_ids = openpgp_user_ids(r.fingerprint);
  return rows;
}

Result<std::int64_t> KeyAdmin::remove(std::string_view which) {
  auto w = store_->begin_write();
  if (!w) return w.take_error();
  Result<std::int64_t> n;
  if (which.find('@') != std::string_view::npos) {
    n = w->remove_address(which);
  } else if (is_fingerprint(which)) {
    n = w->remove_fingerprint(which);
  } else {
    return fail(
        "give an e-mail address, a SHA-256 fingerprint (64 hex digits) or an OpenPGP "
        "fingerprint (40 hex digits)");
  }
  if (!n) return n;
  if (n.value() == 0) return fail("nothing stored for " + std::string(which));
  if (auto st = w->commit(); !st) return st.take_error();
  return n;
}

Status KeyAdmin::rotate_master_key() {
  auto next = MasterKey::generate();
  if (!next) return next.take_error();
  auto wrapped = MasterKey::is_wrapped(paths_.master_key);
  if (!wrapped) return wrapped.take_error();
  auto pending = pending_key(paths_);
  if (auto st = next->write_new(pending, wrapped.value() ? kek_ : nullptr); !st) return st;
  // From here the database decides: committed = new key current (recover_rotation renames).
  if (auto st = store_->reseal_all(std::move(next).value()); !st) {
    ::unlink(pending.c_str());
    return st;
  }
  if (::rename(pending.c_str(), paths_.master_key.c_str()) != 0) {
    return fail("re-encrypted, but cannot rename " + pending.string() +
                "; the next `mailseal keys` command will finish it");
  }
  return sync_dir(paths_.master_key);
}

Status KeyAdmin::replace_key_file(const MasterKey& key, KeyWrapper* kek) {
  auto pending = pending_key(paths_);
  if (auto st = key.write_new(pending, kek); !st) return st;
  // Only a file that opens to the same key may replace the one that works now.
  auto back = MasterKey::load(pending, kek);
  if (!back || back->id() != key.id()) {
    ::unlink(pending.c_str());
    return fail("the rewritten master key file does not load back" +
                (back ? std::string() : ": " + back.error()));
  }
  if (::rename(pending.c_str(), paths_.master_key.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(pending.c_str());
    return fail("cannot replace " + paths_.master_key.string() + ": " + why);
  }
  return sync_dir(paths_.master_key);
}

Status KeyAdmin::wrap_master_key(KeyWrapper& kek) {
  auto wrapped = MasterKey::is_wrapped(paths_.master_key);
  if (!wrapped) return wrapped.take_error();
  if (wrapped.value()) return fail("the master key file is already wrapped");
  auto key = MasterKey::load(paths_.master_key);
  if (!key) return key.take_error();
  return replace_key_file(key.value(), &kek);
}

Status KeyAdmin::unwrap_master_key() {
  auto wrapped = MasterKey::is_wrapped(paths_.master_key);
  if (!wrapped) return wrapped.take_error();
  if (!wrapped.value()) return fail("the master key file is not wrapped");
  auto key = MasterKey::load(paths_.master_key, kek_);
  if (!key) return key.take_error();
  return replace_key_file(key.value(), nullptr);
}

}  // namespace mailseal::keys
