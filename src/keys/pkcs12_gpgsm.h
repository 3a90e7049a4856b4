// PKCS#12 files that gpgsm 2.2 can open. `keys export --legacy` exists for gpgsm 2.2
// (Debian bookworm's), whose PKCS#12 reader derives PBE keys (RFC 7292 Appendix B) with
// a bug: after the first SHA-1 round it writes each 64-byte block I_j = I_j + B + 1
// back with gcry_mpi_print, which drops leading zero bytes instead of keeping the block
// 64 bytes wide. Whenever that sum starts with a 0x00 byte (about 1 salt in 128 for a
// 3DES key, which needs a second round), gpgsm derives a wrong key, tries its list of
// charsets and gives up ("error parsing or decrypting the PKCS#12 file"). Such a file is
// valid; mailseal just draws new salts until gpgsm will derive the right key.
#pragma once

#include <openssl/pkcs12.h>

#include <cstdint>
#include <span>
#include <string_view>

#include "keys/result.h"

namespace mailseal::keys {

// gpgsm 2.2 limits a PKCS#12 passphrase to this many bytes ("password too long").
inline constexpr std::size_t kGpgsm22MaxPassphrase = 31;

// True when gpgsm 2.2 derives the same `key_bytes`-byte PBE key as RFC 7292 for this
// salt, iteration count and password (BMPString with its two-byte terminator, as
// OpenSSL encodes it). Keys of at most 20 bytes need one round and always agree.
bool gpgsm22_derives_same_key(std::span<const unsigned char> salt, std::uint64_t iterations,
                              std::span<const unsigned char> bmp_password, std::size_t key_bytes);

// True when every PBE-SHA1-3DES encryption in the file (certificate bags, shrouded key
// bags) uses a salt for which gpgsm 2.2 derives the right key. Other algorithms are not
// judged (gpgsm 2.2 cannot read AES/PBKDF2 PKCS#12 at all; that is why --legacy exists).
Result<bool> gpgsm22_can_decrypt(PKCS12& p12, std::string_view passphrase);

}  // namespace mailseal::keys
