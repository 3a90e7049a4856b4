// DANE (RFC 7672) over a real TLS handshake on loopback: an in-process server with
// certificates made here, the client through Transport::tls_client_handshake_dane.
#include "net/dane.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <memory>
#include <optional>
#include <string>

#include "net/transport.h"

namespace mailseal::net {
namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;

Key make_key() {
  return Key(EVP_EC_gen("P-256"), EVP_PKEY_free);
}

// A certificate for `name` signed by issuer (self-signed when issuer is null).
// valid_days < 0 makes one that expired.
Cert make_cert(EVP_PKEY* key, const std::string& name, bool ca, X509* issuer, EVP_PKEY* issuer_key,
               int valid_days = 30) {
  Cert c(X509_new(), X509_free);
  X509_set_version(c.get(), 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial++);
  if (valid_days > 0) {
    X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c.get()), 86400L * valid_days);
  } else {
    X509_gmtime_adj(X509_getm_notBefore(c.get()), -86400L * 30);
    X509_gmtime_adj(X509_getm_notAfter(c.get()), -86400L);
  }
  X509_set_pubkey(c.get(), key);
  X509_NAME* subject = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer) : subject);
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer ? issuer : c.get(), c.get(), nullptr, nullptr, 0);
  auto add = [&](int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
    X509_add_ext(c.get(), ext, -1);
    X509_EXTENSION_free(ext);
  };
  if (ca) {
    add(NID_basic_constraints, "critical,CA:TRUE");
    add(NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add(NID_basic_constraints, "CA:FALSE");
    add(NID_subject_alt_name, "DNS:" + name);
  }
  X509_sign(c.get(), issuer_key ? issuer_key : key, EVP_sha256());
  return c;
}

std::vector<std::uint8_t> sha256(const std::vector<std::uint8_t>& bytes) {
  std::vector<std::uint8_t> out(32);
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::vector<std::uint8_t> spki_der(X509* c) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(X509_get0_pubkey(c), &der);
  std::vector<std::uint8_t> out(der, der + len);
  OPENSSL_free(der);
  return out;
}

std::vector<std::uint8_t> cert_der(X509* c) {
  unsigned char* der = nullptr;
  int len = i2d_X509(c, &der);
  std::vector<std::uint8_t> out(der, der + len);
  OPENSSL_free(der);
  return out;
}

// A CA and a server certificate for mx.example.test issued by it; the server sends
// both (a DANE-TA(2) digest can only match a certificate the server presents).
struct Pki {
  Key ca_key = make_key();
  Cert ca = make_cert(ca_key.get(), "Test CA", true, nullptr, nullptr);
  Key leaf_key = make_key();
  Cert leaf;
  explicit Pki(const std::string& leaf_name = "mx.example.test", int valid_days = 30)
      : leaf(make_cert(leaf_key.get(), leaf_name, false, ca.get(), ca_key.get(), valid_days)) {}
};

struct Outcome {
  bool handshake_ok = false;
  DaneResult dane;
  std::string error;
};

Outcome handshake(const Pki& pki, const std::vector<core::TlsaRecord>& tlsa,
                  const std::string& mx_host) {
  asio::io_context io;
  asio::ssl::context server_ctx(asio::ssl::context::tls_server);
  SSL_CTX_use_certificate(server_ctx.native_handle(), pki.leaf.get());
  SSL_CTX_use_PrivateKey(server_ctx.native_handle(), pki.leaf_key.get());
  X509_up_ref(pki.ca.get());
  SSL_CTX_add_extra_chain_cert(server_ctx.native_handle(), pki.ca.get());
  asio::ssl::context client_ctx(asio::ssl::context::tls_client);

  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto port = acceptor.local_endpoint().port();
  Outcome out;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        auto socket = co_await acceptor.async_accept(use_awaitable);
        Transport server(std::move(socket));
        try {
          co_await server.tls_server_handshake(server_ctx);
        } catch (const std::exception&) {
          // The client aborts on a failed DANE check; the server sees an alert.
        }
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        tcp::socket socket(io);
        co_await socket.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                      use_awaitable);
        Transport client(std::move(socket));
        try {
          co_await client.tls_client_handshake_dane(client_ctx, mx_host, tlsa, mx_host);
          out.handshake_ok = true;
        } catch (const std::exception& e) {
          out.error = e.what();
        }
        out.dane = client.dane();
        client.close();
      },
      asio::detached);
  io.run_for(std::chrono::seconds(20));
  return out;
}

core::TlsaRecord record(int usage, int selector, int matching, std::vector<std::uint8_t> data) {
  return {static_cast<std::uint8_t>(usage), static_cast<std::uint8_t>(selector),
          static_cast<std::uint8_t>(matching), std::move(data)};
}

TEST(Dane, EeSpkiSha256Matches) {
  Pki pki;
  auto r = record(3, 1, 1, sha256(spki_der(pki.leaf.get())));
  auto out =
      handshake(pki, {record(3, 1, 1, std::vector<std::uint8_t>(32, 0xaa)), r}, "mx.example.test");
  ASSERT_TRUE(out.handshake_ok) << out.error << " / " << out.dane.reason;
  EXPECT_TRUE(out.dane.authenticated);
  EXPECT_EQ(out.dane.depth, 0);
  ASSERT_TRUE(out.dane.matched);
  EXPECT_EQ(*out.dane.matched, r);  // the matching record, not the first one
}

TEST(Dane, EeIgnoresNameAndExpiry) {
  // RFC 7672 3.1.1: with DANE-EE the DNS record is the whole proof.
  Pki pki("some.other.name", -1);
  auto out = handshake(pki, {record(3, 1, 1, sha256(spki_der(pki.leaf.get())))}, "mx.example.test");
  ASSERT_TRUE(out.handshake_ok) << out.error << " / " << out.dane.reason;
  EXPECT_TRUE(out.dane.authenticated);
}

TEST(Dane, EeWrongDigestFails) {
  Pki pki;
  auto digest = sha256(spki_der(pki.leaf.get()));
  digest[0] ^= 1;
  auto out = handshake(pki, {record(3, 1, 1, digest)}, "mx.example.test");
  EXPECT_FALSE(out.handshake_ok);
  EXPECT_FALSE(out.dane.authenticated);
  EXPECT_FALSE(out.dane.matched);
  EXPECT_FALSE(out.dane.reason.empty());
}

TEST(Dane, TaCertificateSha256WithRightName) {
  Pki pki;
  auto r = record(2, 0, 1, sha256(cert_der(pki.ca.get())));
  auto out = handshake(pki, {r}, "mx.example.test");
  ASSERT_TRUE(out.handshake_ok) << out.error << " / " << out.dane.reason;
  EXPECT_TRUE(out.dane.authenticated);
  EXPECT_EQ(out.dane.depth, 1);
  EXPECT_EQ(out.dane.peer_name, "mx.example.test");
  ASSERT_TRUE(out.dane.matched);
  EXPECT_EQ(out.dane.matched->usage, 2);
}

TEST(Dane, TaWithWrongNameFails) {
  Pki pki;
  auto out = handshake(pki, {record(2, 0, 1, sha256(cert_der(pki.ca.get())))}, "mx.other.test");
  EXPECT_FALSE(out.handshake_ok);
  EXPECT_FALSE(out.dane.authenticated);
  EXPECT_NE(out.dane.reason.find("hostname mismatch"), std::string::npos) << out.dane.reason;
}

TEST(Dane, TaDigestOfAnotherCaFails) {
  Pki pki;
  Pki other;
  auto out = handshake(pki, {record(2, 0, 1, sha256(cert_der(other.ca.get())))}, "mx.example.test");
  EXPECT_FALSE(out.handshake_ok);
  EXPECT_FALSE(out.dane.authenticated);
}

TEST(Dane, PkixUsagesAreUnusable) {
  Pki pki;
  std::vector<core::TlsaRecord> pkix = {record(0, 0, 1, sha256(cert_der(pki.ca.get()))),
                                        record(1, 1, 1, sha256(spki_der(pki.leaf.get())))};
  EXPECT_TRUE(usable_tlsa(pkix).empty());
  auto out = handshake(pki, pkix, "mx.example.test");
  EXPECT_FALSE(out.handshake_ok);
  EXPECT_NE(out.error.find("no usable TLSA"), std::string::npos) << out.error;
}

TEST(Dane, UsableFilter) {
  std::vector<core::TlsaRecord> all = {record(3, 1, 1, {1}), record(2, 0, 2, {1}),
                                       record(3, 2, 1, {1}), record(3, 1, 3, {1}),
                                       record(1, 1, 1, {1}), record(3, 0, 0, {})};
  auto usable = usable_tlsa(all);
  ASSERT_EQ(usable.size(), 2u);
  EXPECT_EQ(usable[0], all[0]);
  EXPECT_EQ(usable[1], all[1]);
}

}  // namespace
}  // namespace mailseal::net
