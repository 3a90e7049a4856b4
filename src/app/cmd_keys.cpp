// `mailseal keys ...` sub-commands: parse arguments, read passphrases, call KeyAdmin,
// print results. All policy lives in keys/; this file only adapts it to a terminal.
// Errors: one line on stderr, exit code 1. Secret material is never printed.

#include "app/cmd_keys.h"
#include "app/cmd_keys_lookup.h"
#include "app/store_location.h"

#include "core/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "keys/key_admin.h"
#include "keys/pkcs11_generate.h"
#include "keys/token_kek.h"
#include "util/utc_time.h"

namespace mailseal::app {
namespace {

using keys::Result;
using keys::SecretBytes;

struct Options {
  std::string state_dir = "var";
  std::string master_key;
  std::string config;  // --config: state_dir and master key from the gateway's file
  std::string passphrase_file;
  std::string address, file, key_file, out, algorithm, name = "mailseal internal CA";
  std::vector<std::string> domains;
  int days = 0;
  bool self_signed = false, with_secret = false, legacy = false, anchors = false;
  bool openpgp = false;  // generate/export: an OpenPGP key instead of an S/MIME certificate
  bool token = false;    // generate: the key pair inside the PKCS#11 token ([keys.pkcs11])
  keys::Pkcs11Settings pkcs11;
  std::optional<keys::StoreLocation> store;  // from --config: keys.db or PostgreSQL
};

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return keys::fail("cannot read " + path + ": " + std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Passphrases come from a file or the environment, never from argv: the command line of
// every process is visible to all local users (ps, /proc/PID/cmdline) and lands in shell
// history. Returns false with no passphrase given (that is not an error for every command).
Result<bool> read_passphrase(const Options& o, SecretBytes& out) {
  if (!o.passphrase_file.empty()) {
    auto text = read_file(o.passphrase_file);
    if (!text) return text.take_error();
    std::string& s = text.value();
    std::size_t n = s.size();
    if (n > 0 && s[n - 1] == '\n') --n;  // one trailing newline, as `echo` writes it
    if (n > 0 && s[n - 1] == '\r') --n;
    out = SecretBytes(s.data(), n);
    OPENSSL_cleanse(s.data(), s.size());
    return true;
  }
  if (const char* env = std::getenv("MAILSEAL_PASSPHRASE")) {
    out = SecretBytes(env, std::strlen(env));
    return true;
  }
  return false;
}

// Secret output (PKCS#12) is created 0600 and never over an existing file.
keys::Status write_out(const std::string& path, const std::string& data, bool secret) {
  if (path.empty() || path == "-") {
    std::cout << data << std::flush;
    return keys::ok_status();
  }
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (secret ? O_EXCL : O_TRUNC);
  int fd = ::open(path.c_str(), flags, secret ? 0600 : 0644);
  if (fd < 0) return keys::fail("cannot create " + path + ": " + std::strerror(errno));
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) return keys::fail("cannot write " + path);
  return keys::ok_status();
}

std::string date(std::int64_t t) {
  return util::utc_date(t);
}

keys::StatePaths paths(const Options& o) {
  auto p = keys::StatePaths::under(o.state_dir, o.master_key);
  if (o.store) p.store = *o.store;
  return p;
}

keys::Status run(const std::string& cmd, const Options& o);

}  // namespace

void add_keys_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<Options>();
  auto* keys = app.add_subcommand("keys", "Manage certificates, secret keys and trust anchors");
  keys->require_subcommand(1);
  keys->fallthrough();  // --state-dir may also come after the sub-command
  keys->add_option("--state-dir", o->state_dir, "State directory holding keys.db (default var)");
  keys->add_option("--master-key", o->master_key, "Master key file (default STATE_DIR/master.key)");
  keys->add_option("-c,--config", o->config,
                   "Gateway configuration: use its key store ([keys] store) and keys.master_key");

  auto on = [o, &exit_code](CLI::App* sub, std::string name) {
    sub->callback([o, &exit_code, name] {
      if (auto st = run(name, *o); !st) {
        std::cerr << "mailseal keys " << name << ": error: " << st.error() << "\n";
        exit_code = 1;
      }
    });
  };
  auto pass_opt = [o](CLI::App* sub) {
    sub->add_option("--passphrase-file", o->passphrase_file,
                    "File holding the passphrase (or set MAILSEAL_PASSPHRASE)");
  };

  on(keys->add_subcommand("init", "Create the key database and master key"), "init");

  auto* ca = keys->add_subcommand("ca", "The internal CA for the internal domains");
  ca->require_subcommand(1);
  ca->fallthrough();
  auto* ca_init = ca->add_subcommand("init", "Create the internal CA");
  ca_init->add_option("--domain", o->domains, "Internal domain (repeat for several)")->required();
  ca_init->add_option("--algorithm", o->algorithm, "rsa2048|rsa3072|rsa4096|p256|p384");
  ca_init->add_option("--days", o->days, "Validity in days (default 3650)");
  ca_init->add_option("--name", o->name, "CA common name");
  on(ca_init, "ca init");
  auto* ca_export = ca->add_subcommand("export", "Print the internal CA certificate (PEM)");
  ca_export->add_option("--out", o->out, "Write to FILE instead of stdout");
  on(ca_export, "ca export");

  auto* gen = keys->add_subcommand("generate", "Generate a key and certificate for an address");
  gen->add_option("address", o->address, "E-mail address")->required();
  gen->add_option("--algorithm", o->algorithm,
                  "rsa2048|rsa3072|rsa4096|p256|p384; with --openpgp: ed25519 (default)|rsa3072");
  gen->add_flag("--self-signed", o->self_signed, "Self-signed instead of by the internal CA");
  gen->add_option("--days", o->days,
                  "Validity in days (default 730; OpenPGP: no expiry unless given)");
  gen->add_flag("--openpgp", o->openpgp,
                "An OpenPGP key (Ed25519 + Cv25519 subkey) instead of an S/MIME certificate");
  gen->add_flag("--token", o->token,
                "Generate the key inside the PKCS#11 token of [keys.pkcs11] (needs --config)");
  on(gen, "generate");

  auto* imp = keys->add_subcommand(
      "import", "Import PKCS#12, PEM certificate/key, CA bundle, CRL or OpenPGP keys");
  imp->add_option("file", o->file, "File to import")->required();
  imp->add_option("--key", o->key_file, "Separate PEM private key file");
  imp->add_option("--address", o->address, "File only under this address (must match)");
  pass_opt(imp);
  on(imp, "import");

  auto* exp = keys->add_subcommand("export", "Export a certificate (or, with a flag, PKCS#12)");
  exp->add_option("address", o->address, "E-mail address or SHA-256 fingerprint")->required();
  exp->add_option("--out", o->out, "Output file (required with --with-secret-key)");
  exp->add_flag("--with-secret-key", o->with_secret,
                "Export the secret key too, as passphrase-protected PKCS#12");
  exp->add_flag("--legacy", o->legacy, "PKCS#12 with 3DES (for gpgsm 2.2 and old clients)");
  exp->add_flag("--openpgp", o->openpgp,
                "The OpenPGP key (armored; with --with-secret-key: passphrase-protected)");
  pass_opt(exp);
  on(exp, "export");

  auto* list = keys->add_subcommand("list", "List certificates (or trust anchors)");
  list->add_option("address", o->address, "Only this address");
  list->add_flag("--anchors", o->anchors, "List trust anchors instead");
  on(list, "list");

  auto* lookup = keys->add_subcommand(
      "lookup", "Show what each key source returns for an address and which key is used");
  lookup->add_option("address", o->address, "E-mail address")->required();
  on(lookup, "lookup");

  auto* rm = keys->add_subcommand("remove", "Remove an address's certificates and keys");
  rm->add_option("which", o->address, "E-mail address or SHA-256 fingerprint")->required();
  on(rm, "remove");

  on(keys->add_subcommand("rotate-master-key", "Re-encrypt all secret keys under a new master key"),
     "rotate-master-key");
  on(keys->add_subcommand("wrap-master-key",
                          "Wrap the master key file with an AES key held in the PKCS#11 token "
                          "of [keys.pkcs11] (created there if missing; needs --config)"),
     "wrap-master-key");
  on(keys->add_subcommand("unwrap-master-key",
                          "Turn a wrapped master key file back into a plain one"),
     "unwrap-master-key");
}

namespace {

keys::Status run_open(const std::string& cmd, const Options& o, keys::KeyAdmin& admin);

// --config FILE takes the state directory and master key from the gateway configuration,
// so the operator and the daemon can never look at two different stores.
keys::Status apply_config(Options& o) {
  if (o.config.empty()) return keys::ok_status();
  auto loaded = core::load_config(o.config);
  if (auto* errors = std::get_if<std::vector<core::ConfigError>>(&loaded))
    return keys::fail(errors->front().to_string());
  const auto& c = std::get<core::Config>(loaded);
  o.state_dir = c.state_dir.string();
  if (o.master_key.empty()) o.master_key = c.keys.master_key.string();
  o.pkcs11 = {c.keys.pkcs11.module, c.keys.pkcs11.token, c.keys.pkcs11.pin_file};
  o.store = store_location(c);
  return keys::ok_status();
}

keys::Status run(const std::string& cmd, const Options& given) {
  Options o = given;
  if (auto st = apply_config(o); !st) return st;
  if (cmd == "init") {
    auto st = keys::KeyAdmin::init(paths(o));
    if (st) std::cout << "initialised " << paths(o).store.describe() << "\n";
    return st;
  }
  // With [keys.pkcs11], a master key file wrapped by the token's key opens through it.
  std::unique_ptr<keys::TokenKek> kek;
  if (o.pkcs11.enabled()) kek = std::make_unique<keys::TokenKek>(o.pkcs11);
  auto admin = keys::KeyAdmin::open(paths(o), {}, kek.get());
  if (!admin) return admin.take_error();
  if (cmd == "wrap-master-key") {
    if (!kek)
      return keys::fail("wrap-master-key needs [keys.pkcs11] in the configuration (--config)");
    auto exists = kek->exists();
    if (!exists) return exists.take_error();
    if (!exists.value()) {
      if (auto st = kek->create(); !st) return st;
      std::cout << "created " << kek->describe() << "\n";
    }
    auto st = admin->wrap_master_key(*kek);
    if (st)
      std::cout << "master key file wrapped by " << kek->describe()
                << "; it now opens only with that token\n";
    return st;
  }
  if (cmd == "unwrap-master-key") {
    auto st = admin->unwrap_master_key();
    if (st) std::cout << "master key file is plain again; keep it as safe as the token was\n";
    return st;
  }
  return run_open(cmd, o, admin.value());
}

keys::Status print_list(const Options& o, keys::KeyAdmin& admin) {
  if (o.anchors) {
    auto anchors = admin.store().list_trust_anchors();
    if (!anchors) return anchors.take_error();
    for (const auto& a : anchors.value()) {
      std::cout << a.fingerprint << "  " << date(a.not_after) << "  " << a.subject << "\n";
    }
    return keys::ok_status();
  }
  auto rows = admin.list(o.address);
  if (!rows) return rows.take_error();
  // OpenPGP rows carry a seventh column: the key's valid user IDs.
  std::cout << "ADDRESS\tKIND\tALGORITHM\tFINGERPRINT\tNOT-AFTER\tSECRET\tUSER-IDS\n";
  for (const auto& r : rows.value()) {
    bool pgp = r.kind == keys::KeyKind::openpgp;
    std::string not_after = pgp && r.not_after == keys::kNoExpiry ? "never"
                            : pgp && r.not_after <= r.not_before  ? "revoked"
                                                                  : date(r.not_after);
    std::cout << r.address << "\t" << keys::kind_name(r.kind) << "\t" << r.algorithm << "\t"
              << r.fingerprint << "\t" << not_after << "\t" << (r.has_secret ? "yes" : "no");
    if (pgp) {
      std::string uids;
      for (const auto& u : r.user_ids) uids += (uids.empty() ? "" : ", ") + u;
      std::cout << "\t" << uids;
    }
    std::cout << "\n";
  }
  return keys::ok_status();
}

keys::Status run_export(const Options& o, keys::KeyAdmin& admin) {
  if (o.openpgp && !o.with_secret) {
    auto armored = admin.export_openpgp(o.address);
    if (!armored) return armored.take_error();
    return write_out(o.out, armored.value(), false);
  }
  if (!o.with_secret) {
    auto pem = admin.export_certificate(o.address);
    if (!pem) return pem.take_error();
    return write_out(o.out, pem.value(), false);
  }
  // Binary secret output goes to a named file only, never by accident to a terminal.
  if (o.out.empty() || o.out == "-") return keys::fail("--with-secret-key needs --out FILE");
  SecretBytes pass;
  auto have = read_passphrase(o, pass);
  if (!have) return have.take_error();
  if (!have.value())
    return keys::fail("--with-secret-key needs --passphrase-file or MAILSEAL_PASSPHRASE");
  if (o.openpgp) {
    auto armored = admin.export_openpgp_secret(o.address, pass);
    if (!armored) return armored.take_error();
    auto st = write_out(o.out, armored.value(), true);
    OPENSSL_cleanse(armored->data(), armored->size());
    return st;
  }
  auto p12 = admin.export_pkcs12(o.address, pass, o.legacy);
  if (!p12) return p12.take_error();
  return write_out(o.out, p12.value(), true);
}

keys::Status run_open(const std::string& cmd, const Options& o, keys::KeyAdmin& admin) {
  if (cmd == "generate" && o.openpgp) {
    auto pgp_alg = keys::parse_openpgp_algorithm(o.algorithm);
    if (!pgp_alg) return keys::fail("unknown OpenPGP algorithm " + o.algorithm);
    if (o.self_signed) return keys::fail("--self-signed is for S/MIME certificates");
    // RNP cannot use a token key; OpenPGP keys stay in the store (docs/KEYS.md).
    if (o.token) return keys::fail("--token is for S/MIME keys, not --openpgp");
    auto info = admin.generate_openpgp(o.address, {*pgp_alg, o.days, ""});
    if (!info) return info.take_error();
    std::cout << info->address << "\topenpgp\t" << info->algorithm << "\t" << info->fingerprint
              << "\t" << (info->not_after == keys::kNoExpiry ? "never" : date(info->not_after))
              << "\n";
    return keys::ok_status();
  }
  auto alg = keys::parse_key_algorithm(o.algorithm.empty() ? "rsa3072" : o.algorithm);
  if (cmd == "ca init" || cmd == "generate") {
    if (!alg) return keys::fail("unknown algorithm " + o.algorithm);
  }
  if (cmd == "ca init") {
    keys::CaOptions c{o.domains, *alg, o.days ? o.days : 3650, o.name};
    auto st = admin.ca_init(c);
    if (st) std::cout << "internal CA created for " << o.domains.size() << " domain(s)\n";
    return st;
  }
  if (cmd == "ca export") {
    auto pem = admin.ca_certificate_pem();
    if (!pem) return pem.take_error();
    return write_out(o.out, pem.value(), false);
  }
  if (cmd == "generate" && o.token) {
    auto info =
        keys::generate_in_token(admin, o.pkcs11, o.address,
                                {*alg, o.self_signed, o.days ? o.days : 730}, keys::system_now());
    if (!info) return info.take_error();
    std::cout << info->address << "\t" << info->algorithm << "\t" << info->fingerprint << "\t"
              << date(info->not_after) << "\ttoken\n";
    return keys::ok_status();
  }
  if (cmd == "generate") {
    auto info = admin.generate(o.address, {*alg, o.self_signed, o.days ? o.days : 730});
    if (!info) return info.take_error();
    std::cout << info->address << "\t" << info->algorithm << "\t" << info->fingerprint << "\t"
              << date(info->not_after) << "\n";
    return keys::ok_status();
  }
  if (cmd == "import") {
    auto data = read_file(o.file);
    if (!data) return data.take_error();
    keys::ImportOptions io;
    if (!o.address.empty()) io.address = o.address;
    if (!o.key_file.empty()) {
      auto k = read_file(o.key_file);
      if (!k) return k.take_error();
      io.key_file = std::move(k).value();
    }
    SecretBytes pass;
    auto have = read_passphrase(o, pass);
    if (!have) return have.take_error();
    auto lines = admin.import(data.value(), io, have.value() ? &pass : nullptr);
    // The input may hold a plain PEM private key: do not leave it in freed memory.
    OPENSSL_cleanse(data->data(), data->size());
    if (io.key_file) OPENSSL_cleanse(io.key_file->data(), io.key_file->size());
    if (!lines) return lines.take_error();
    for (const auto& l : lines.value()) std::cout << "imported " << l << "\n";
    return keys::ok_status();
  }
  if (cmd == "export") return run_export(o, admin);
  if (cmd == "lookup") return run_keys_lookup(o.config, o.address, admin, std::cout);
  if (cmd == "list") return print_list(o, admin);
  if (cmd == "remove") {
    auto n = admin.remove(o.address);
    if (!n) return n.take_error();
    std::cout << "removed " << n.value() << " entr" << (n.value() == 1 ? "y" : "ies") << "\n";
    return keys::ok_status();
  }
  if (cmd == "rotate-master-key") {
    auto st = admin.rotate_master_key();
    if (st) std::cout << "master key rotated; back up the new key file now\n";
    return st;
  }
  return keys::fail("unknown command " + cmd);
}

}  // namespace
}  // namespace mailseal::app
