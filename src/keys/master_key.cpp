// MasterKey file handling and AES-256-GCM sealing of secret key blobs.
// Nonces are random (96 bits): with at most a few million seals per key the collision
// chance stays far below the NIST SP 800-38D bound of 2^-32.

#include "keys/master_key.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace mailseal::keys {
namespace {

constexpr unsigned char kBlobVersion = 1;
constexpr std::string_view kWrappedMagic = "MSWRAPK1";
constexpr std::string_view kWrapAad = "mailseal master key v1";
constexpr std::size_t kMaxFile = 4096;
constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

std::string errno_text(const std::string& what, const std::filesystem::path& p) {
  return what + " " + p.string() + ": " + std::strerror(errno);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Status fsync_dir(const std::filesystem::path& file) {
  auto dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0 || ::fsync(d.fd) != 0) return fail(errno_text("cannot sync directory", dir));
  return ok_status();
}

void append_field(std::string& out, std::string_view field) {
  auto n = static_cast<std::uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  out.append(field);
}

}  // namespace

std::string record_aad(std::string_view purpose, std::string_view address,
                       std::string_view fingerprint) {
  std::string aad = "mailseal-record-v1";
  append_field(aad, purpose);
  append_field(aad, address);
  append_field(aad, fingerprint);
  return aad;
}

Result<MasterKey> MasterKey::generate() {
  MasterKey k;
  k.key_ = SecretBytes(kKeySize);
  if (RAND_priv_bytes(k.key_.data(), static_cast<int>(kKeySize)) != 1) {
    return fail("random number generator failed");
  }
  return k;
}

Result<MasterKey> MasterKey::create(const std::filesystem::path& file) {
  auto k = generate();
  if (!k) return k;
  if (auto st = k->write_new(file); !st) return st.take_error();
  return k;
}

Status MasterKey::write_new(const std::filesystem::path& file, KeyWrapper* kek) const {
  std::string wrapped;
  if (kek) {
    auto blob = kek->wrap(key_, kWrapAad);
    if (!blob)
      return fail("cannot wrap the master key with " + kek->describe() + ": " + blob.error());
    wrapped = std::string(kWrappedMagic) + blob.value();
  }
  const unsigned char* data =
      kek ? reinterpret_cast<const unsigned char*>(wrapped.data()) : key_.data();
  const std::size_t size = kek ? wrapped.size() : key_.size();
  Fd f{::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (f.fd < 0) {
    if (errno == EEXIST) return fail("master key file " + file.string() + " already exists");
    return fail(errno_text("cannot create master key file", file));
  }
  // The umask cannot widen 0600, but fchmod makes the mode explicit whatever it is.
  if (::fchmod(f.fd, 0600) != 0) return fail(errno_text("cannot chmod", file));
  std::size_t done = 0;
  while (done < size) {
    auto n = ::write(f.fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(errno_text("cannot write master key file", file));
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(f.fd) != 0) return fail(errno_text("cannot sync master key file", file));
  return fsync_dir(file);
}

namespace {

// The file's bytes, after the checks every master key file must pass.
Result<SecretBytes> read_key_file(const std::filesystem::path& file) {
  Fd f{::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
  if (f.fd < 0) return fail(errno_text("cannot open master key file", file));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return fail(errno_text("cannot stat master key file", file));
  if (!S_ISREG(st.st_mode)) return fail("master key file " + file.string() + " is not a file");
  if ((st.st_mode & 077) != 0) {
    return fail("master key file " + file.string() +
                " is accessible by group or others; chmod 600 it (and consider the key "
                "exposed)");
  }
  if (st.st_size <= 0 || st.st_size > static_cast<off_t>(kMaxFile))
    return fail("master key file " + file.string() + " has the wrong size");
  SecretBytes bytes(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::read(f.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(errno_text("cannot read master key file", file));
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

bool has_magic(const SecretBytes& bytes) {
  return bytes.size() > kWrappedMagic.size() &&
         std::memcmp(bytes.data(), kWrappedMagic.data(), kWrappedMagic.size()) == 0;
}

}  // namespace

Result<bool> MasterKey::is_wrapped(const std::filesystem::path& file) {
  auto bytes = read_key_file(file);
  if (!bytes) return bytes.take_error();
  return has_magic(bytes.value());
}

Result<MasterKey> MasterKey::load(const std::filesystem::path& file, KeyWrapper* kek) {
  auto bytes = read_key_file(file);
  if (!bytes) return bytes.take_error();
  MasterKey k;
  if (has_magic(bytes.value())) {
    if (!kek)
      return fail("master key file " + file.string() +
                  " is wrapped by a key in a PKCS#11 token: configure [keys.pkcs11] (the token "
                  "that holds the key-encryption key)");
    std::string_view blob(reinterpret_cast<const char*>(bytes->data()) + kWrappedMagic.size(),
                          bytes->size() - kWrappedMagic.size());
    auto plain = kek->unwrap(blob, kWrapAad);
    if (!plain)
      return fail("cannot unwrap master key file " + file.string() + " with " + kek->describe() +
                  ": " + plain.error());
    if (plain->size() != kKeySize)
      return fail("master key file " + file.string() + " unwraps to the wrong size");
    k.key_ = std::move(plain).value();
    return k;
  }
  if (bytes->size() != kKeySize)
    return fail("master key file " + file.string() + " has the wrong size");
  k.key_ = std::move(bytes).value();
  return k;
}

std::string MasterKey::id() const {
  // A domain-separated hash: reveals nothing about the key, names it unambiguously.
  static constexpr char kLabel[] = "mailseal master key id v1";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  auto ctx =
      std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx.get(), kLabel, sizeof(kLabel) - 1);
  EVP_DigestUpdate(ctx.get(), key_.data(), key_.size());
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 16 && i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

Result<std::string> MasterKey::seal(std::string_view plaintext, std::string_view aad) const {
  if (key_.size() != kKeySize) return fail("master key not loaded");
  std::string blob(1 + kNonceSize + plaintext.size() + kTagSize, '\0');
  auto* out = reinterpret_cast<unsigned char*>(blob.data());
  out[0] = kBlobVersion;
  if (RAND_bytes(out + 1, kNonceSize) != 1) return fail("random number generator failed");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  // The version byte is authenticated too, so it cannot be changed to confuse a parser.
  bool ok = ctx &&
            EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), out + 1) == 1 &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &len, out, 1) == 1 &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_EncryptUpdate(ctx.get(), out + 1 + kNonceSize, &len,
                              reinterpret_cast<const unsigned char*>(plaintext.data()),
                              static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx.get(), out + 1 + kNonceSize + len, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                                out + 1 + kNonceSize + plaintext.size()) == 1;
  if (!ok) return fail("encryption failed");
  return blob;
}

Result<SecretBytes> MasterKey::open(std::string_view blob, std::string_view aad) const {
  if (key_.size() != kKeySize) return fail("master key not loaded");
  if (blob.size() < 1 + kNonceSize + kTagSize) return fail("sealed key blob is truncated");
  const auto* in = reinterpret_cast<const unsigned char*>(blob.data());
  if (in[0] != kBlobVersion) return fail("sealed key blob has an unknown version");
  std::size_t ct_len = blob.size() - 1 - kNonceSize - kTagSize;
  SecretBytes plain(ct_len);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  unsigned char tag[kTagSize];
  std::memcpy(tag, in + 1 + kNonceSize + ct_len, kTagSize);
  bool ok = ctx &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), in + 1) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len, in, 1) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), plain.data(), &len, in + 1 + kNonceSize,
                              static_cast<int>(ct_len)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), plain.data() + len, &len) == 1;
  if (!ok) {
    // Wrong master key, a tampered blob, or a blob moved to another record: all the same
    // to the caller, and none may yield plaintext.
    return fail("sealed key blob failed authentication (tampered, moved, or wrong master key)");
  }
  return plain;
}

}  // namespace mailseal::keys
