// KeyStore write side: one Writer = one write transaction (sql::Connection::begin_write). Each
// add_* checks its input before touching the database, and any failure leaves the transaction to be
// rolled back by the Writer's destructor.

#include <mutex>

#include "keys/key_store.h"
#include "keys/x509_util.h"
#include "util/strings.h"

namespace mailseal::keys {
namespace {

std::string upper_hex(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

struct CertFacts {
  std::string der, fingerprint, algorithm;
  std::int64_t not_before = 0, not_after = 0;
};

Result<CertFacts> facts(X509* cert) {
  CertFacts f;
  f.der = der_of(cert);
  if (f.der.empty()) return fail("certificate cannot be encoded");
  f.fingerprint = sha256_hex(f.der);
  crypto::PKeyPtr pub(X509_get_pubkey(cert));
  f.algorithm = key_algorithm(pub.get());
  if (!to_unix(X509_get0_notBefore(cert), f.not_before) ||
      !to_unix(X509_get0_notAfter(cert), f.not_after)) {
    return fail("certificate has unreadable validity dates");
  }
  return f;
}

}  // namespace

KeyStore::Writer::Writer(KeyStore* s, sql::Pool::Lease lease)
    : store_(s), lease_(std::move(lease)), tx_(*lease_) {}

Result<KeyStore::Writer> KeyStore::begin_write() {
  auto lease = pool_.acquire();
  if (!lease) return lease.take_error();
  Writer w(this, std::move(lease).value());
  if (auto st = w.tx_.begin(); !st) return st.take_error();
  return w;
}

Status KeyStore::Writer::commit() {
  auto st = tx_.commit();
  store_->invalidate_cache();  // also after a failed COMMIT: whatever happened, read afresh
  return st;
}

Status KeyStore::Writer::add_certificate(std::string_view address, X509* cert) {
  auto f = facts(cert);
  if (!f) return f.take_error();
  auto addr = normalise_address(address);
  // The store's promise: a certificate is filed only under an address it names.
  bool named = false;
  for (const auto& e : cert_emails(cert)) named = named || e == addr;
  if (!named) return fail("certificate " + f->fingerprint + " is not issued for " + addr);
  auto q = lease_->prepare(
      "INSERT INTO certificates (address, kind, fingerprint, algorithm, not_before, "
      "not_after, data, added_at) VALUES (?1, 'smime', ?2, ?3, ?4, ?5, ?6, ?7) "
      "ON CONFLICT DO NOTHING");
  if (!q) return q.take_error();
  q->bind(1, addr).bind(2, f->fingerprint).bind(3, f->algorithm).bind(4, f->not_before);
  q->bind(5, f->not_after).bind_blob(6, f->der).bind(7, store_->now_());
  return q->run();
}

Status KeyStore::Writer::add_secret_key(std::string_view address, X509* cert, EVP_PKEY* key,
                                        const std::vector<crypto::X509Ptr>& chain) {
  if (X509_check_private_key(cert, key) != 1) {
    openssl_error();
    return fail("the private key does not belong to the certificate");
  }
  if (auto st = add_certificate(address, cert); !st) return st;
  auto addr = normalise_address(address);
  auto fp = fingerprint(cert);
  std::shared_lock lock(store_->master_mu_);
  auto master = store_->master();
  if (!master) return master.take_error();
  auto der = private_key_der(key);
  if (!der) return der.take_error();
  auto sealed = master.value()->seal(der->view(), record_aad("secret-key", addr, fp));
  if (!sealed) return sealed.take_error();
  auto q = lease_->prepare(
      "INSERT INTO secret_keys (certificate_id, sealed, chain, added_at) "
      "SELECT id, ?3, ?4, ?5 FROM certificates WHERE address = ?1 AND kind = 'smime' "
      "AND fingerprint = ?2 ON CONFLICT DO NOTHING");
  if (!q) return q.take_error();
  q->bind(1, addr).bind(2, fp).bind_blob(3, sealed.value()).bind_blob(4, der_chain(chain));
  q->bind(5, store_->now_());
  return q->run();
}

Status KeyStore::Writer::add_openpgp_key(std::string_view address, const OpenpgpRow& row,
                                         const SecretBytes* secret) {
  if (row.fingerprint.empty() || row.public_key.empty())
    return fail("OpenPGP key without fingerprint or data");
  auto addr = normalise_address(address);
  auto fp = util::to_lower(row.fingerprint);
  auto q = lease_->prepare(
      "INSERT INTO certificates (address, kind, fingerprint, algorithm, not_before, not_after, "
      "data, added_at) VALUES (?1, 'openpgp', ?2, ?3, ?4, ?5, ?6, ?7) "
      "ON CONFLICT (address, kind, fingerprint) DO UPDATE SET algorithm = excluded.algorithm, "
      "not_before = excluded.not_before, not_after = excluded.not_after, data = excluded.data");
  if (!q) return q.take_error();
  q->bind(1, addr).bind(2, fp).bind(3, row.algorithm).bind(4, row.not_before);
  q->bind(5, row.not_after).bind_blob(6, row.public_key).bind(7, store_->now_());
  if (auto st = q->run(); !st) return st;
  auto id_q = lease_->prepare(
      "SELECT id FROM certificates WHERE address = ?1 AND kind = 'openpgp' AND fingerprint = ?2");
  if (!id_q) return id_q.take_error();
  id_q->bind(1, addr).bind(2, fp);
  auto found = id_q->step();
  if (!found) return found.take_error();
  if (!found.value()) return fail("OpenPGP key " + fp + " was not stored");
  std::int64_t id = id_q->integer(0);
  for (const auto& k : row.key_fingerprints) {
    auto upper = upper_hex(k);
    auto ids = lease_->prepare(
        "INSERT INTO openpgp_key_ids (certificate_id, fingerprint, key_id) "
        "VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING");
    if (!ids) return ids.take_error();
    ids->bind(1, id).bind(2, upper).bind(
        3, upper.size() > 16 ? upper.substr(upper.size() - 16) : upper);
    if (auto st = ids->run(); !st) return st;
  }
  if (!secret) return ok_status();
  std::shared_lock lock(store_->master_mu_);
  auto master = store_->master();
  if (!master) return master.take_error();
  auto sealed = master.value()->seal(secret->view(), record_aad("secret-key", addr, fp));
  if (!sealed) return sealed.take_error();
  auto sq = lease_->prepare(
      "INSERT INTO secret_keys (certificate_id, sealed, added_at) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (certificate_id) DO UPDATE SET sealed = excluded.sealed");
  if (!sq) return sq.take_error();
  sq->bind(1, id).bind_blob(2, sealed.value()).bind(3, store_->now_());
  return sq->run();
}

Status KeyStore::Writer::add_trust_anchor(X509* cert) {
  if (!is_ca(cert)) return fail("certificate " + subject_line(cert) + " is not a CA");
  auto f = facts(cert);
  if (!f) return f.take_error();
  auto q = lease_->prepare(
      "INSERT INTO trust_anchors (fingerprint, subject, not_after, data, added_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING");
  if (!q) return q.take_error();
  q->bind(1, f->fingerprint).bind(2, subject_line(cert)).bind(3, f->not_after);
  q->bind_blob(4, f->der).bind(5, store_->now_());
  return q->run();
}

Status KeyStore::Writer::add_crl(X509_CRL* crl) {
  auto der = der_of(crl);
  std::int64_t this_update = 0, next_update = 0;
  if (der.empty() || !to_unix(X509_CRL_get0_lastUpdate(crl), this_update)) {
    return fail("CRL cannot be encoded or has no thisUpdate");
  }
  bool has_next = to_unix(X509_CRL_get0_nextUpdate(crl), next_update);
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_CRL_get_issuer(crl), 0, XN_FLAG_ONELINE);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  auto q = lease_->prepare(
      "INSERT INTO crls (fingerprint, issuer, this_update, next_update, data, added_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING");
  if (!q) return q.take_error();
  q->bind(1, sha256_hex(der)).bind(2, std::string_view(data, static_cast<std::size_t>(n)));
  q->bind(3, this_update);
  if (has_next)
    q->bind(4, next_update);
  else
    q->bind_null(4);
  q->bind_blob(5, der).bind(6, store_->now_());
  return q->run();
}

Status KeyStore::Writer::supersede_crls(X509_CRL* crl) {
  std::int64_t this_update = 0;
  if (!to_unix(X509_CRL_get0_lastUpdate(crl), this_update)) return fail("CRL has no thisUpdate");
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_CRL_get_issuer(crl), 0, XN_FLAG_ONELINE);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  auto q = lease_->prepare("DELETE FROM crls WHERE issuer = ?1 AND this_update < ?2");
  if (!q) return q.take_error();
  q->bind(1, std::string_view(data, static_cast<std::size_t>(n))).bind(2, this_update);
  return q->run();
}

Status KeyStore::Writer::set_internal_ca(X509* cert, EVP_PKEY* key,
                                         const std::vector<std::string>& domains) {
  if (X509_check_private_key(cert, key) != 1) {
    openssl_error();
    return fail("the CA key does not belong to the CA certificate");
  }
  // The CA certificate also becomes a trust anchor, so mail signed by internal users
  // verifies on the inbound path like any other.
  if (auto st = add_trust_anchor(cert); !st) return st;
  auto fp = fingerprint(cert);
  std::shared_lock lock(store_->master_mu_);
  auto master = store_->master();
  if (!master) return master.take_error();
  auto der = private_key_der(key);
  if (!der) return der.take_error();
  auto sealed = master.value()->seal(der->view(), record_aad("internal-ca", "", fp));
  if (!sealed) return sealed.take_error();
  std::string joined;
  for (const auto& d : domains) joined += (joined.empty() ? "" : ",") + util::to_lower(d);
  auto q = lease_->prepare(
      "INSERT INTO internal_ca (id, fingerprint, domains, data, sealed, added_at) "
      "VALUES (1, ?1, ?2, ?3, ?4, ?5)");
  if (!q) return q.take_error();
  q->bind(1, fp).bind(2, joined).bind_blob(3, der_of(cert)).bind_blob(4, sealed.value());
  q->bind(5, store_->now_());
  auto st = q->run();
  if (!st) return fail("the internal CA already exists (or cannot be stored)");
  return st;
}

Result<std::int64_t> KeyStore::Writer::remove_address(std::string_view address) {
  auto q = lease_->prepare("DELETE FROM certificates WHERE address = ?1");
  if (!q) return q.take_error();
  if (auto st = q->bind(1, normalise_address(address)).run(); !st) return st.take_error();
  return lease_->changes();
}

Result<std::int64_t> KeyStore::Writer::remove_fingerprint(std::string_view fp) {
  std::int64_t removed = 0;
  // An OpenPGP key may be named by a subkey's fingerprint too: remove its certificate.
  {
    auto q = lease_->prepare(
        "DELETE FROM certificates WHERE kind = 'openpgp' AND id IN "
        "(SELECT certificate_id FROM openpgp_key_ids WHERE fingerprint = ?1)");
    if (!q) return q.take_error();
    if (auto st = q->bind(1, upper_hex(fp)).run(); !st) return st.take_error();
    removed += lease_->changes();
  }
  for (const char* sql : {"DELETE FROM certificates WHERE fingerprint = ?1",
                          "DELETE FROM trust_anchors WHERE fingerprint = ?1",
                          "DELETE FROM crls WHERE fingerprint = ?1"}) {
    auto q = lease_->prepare(sql);
    if (!q) return q.take_error();
    if (auto st = q->bind(1, util::to_lower(fp)).run(); !st) return st.take_error();
    removed += lease_->changes();
  }
  return removed;
}

Result<InternalCa> KeyStore::internal_ca() {
  std::shared_lock lock(master_mu_);
  auto master = this->master();
  if (!master) return master.take_error();
  auto lease = pool_.acquire();
  if (!lease) return lease.take_error();
  auto q = lease.value()->prepare("SELECT fingerprint, domains, data, sealed FROM internal_ca");
  if (!q) return q.take_error();
  auto row = q->step();
  if (!row) return row.take_error();
  if (!row.value()) return fail("no internal CA (run `mailseal keys ca init`)");
  auto plain = master.value()->open(q->blob(3), record_aad("internal-ca", "", q->text(0)));
  if (!plain) return fail("internal CA key: " + plain.error());
  InternalCa ca;
  ca.cert = x509_from_der(q->blob(2));
  ca.key = private_key_from_der(plain.value());
  if (!ca.cert || !ca.key) return fail("the stored internal CA does not parse");
  const std::string domains = q->text(1);  // split() returns views into it
  for (auto d : util::split(domains, ',')) {
    if (!d.empty()) ca.domains.emplace_back(d);
  }
  return ca;
}

Status KeyStore::reseal_all(MasterKey next) {
  std::unique_lock lock(master_mu_);
  if (!master_) return fail("the master key is not loaded");
  auto w = begin_write();
  if (!w) return w.take_error();
  auto& db = *w->lease_;
  // Two tables hold sealed blobs; each row's AAD is rebuilt from its own columns.
  struct Table {
    const char* select;
    const char* update;
    const char* purpose;
  };
  for (const Table& t :
       {Table{"SELECT s.id, c.address, c.fingerprint, s.sealed FROM "
              "secret_keys s JOIN certificates c ON c.id = s.certificate_id",
              "UPDATE secret_keys SET sealed = ?2 WHERE id = ?1", "secret-key"},
        Table{"SELECT id, '', fingerprint, sealed FROM internal_ca",
              "UPDATE internal_ca SET sealed = ?2 WHERE id = ?1", "internal-ca"}}) {
    // Read first, then update: changing rows under a running SELECT is not well defined.
    struct Row {
      std::int64_t id;
      std::string address, fingerprint, sealed;
    };
    std::vector<Row> rows;
    auto q = db.prepare(t.select);
    if (!q) return q.take_error();
    for (;;) {
      auto row = q->step();
      if (!row) return row.take_error();
      if (!row.value()) break;
      rows.push_back(Row{q->integer(0), q->text(1), q->text(2), q->blob(3)});
    }
    for (const auto& r : rows) {
      auto aad = record_aad(t.purpose, r.address, r.fingerprint);
      auto plain = master_->open(r.sealed, aad);
      if (!plain) return fail("cannot re-encrypt " + r.fingerprint + ": " + plain.error());
      auto sealed = next.seal(plain->view(), aad);
      if (!sealed) return sealed.take_error();
      auto u = db.prepare(t.update);
      if (!u) return u.take_error();
      if (auto st = u->bind(1, r.id).bind_blob(2, sealed.value()).run(); !st) return st;
    }
  }
  auto m = db.prepare("UPDATE meta SET value = ?1 WHERE key = 'master_key_id'");
  if (!m) return m.take_error();
  if (auto st = m->bind(1, next.id()).run(); !st) return st;
  if (auto st = w->commit(); !st) return st;
  master_ = std::move(next);
  return ok_status();
}

}  // namespace mailseal::keys
