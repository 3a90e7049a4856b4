// BIO_METHODs for the read/append callback BIOs declared in bio_adapter.h.
// Each BIO owns a small heap state (callback + position) freed in destroy.
#include "crypto/bio_adapter.h"

#include <openssl/bio.h>

#include <string>

namespace mailseal::crypto {
namespace {

struct ReadState {
  ReadAtFn read_at;
  std::size_t pos = 0;
  bool eof = false;
};

struct AppendState {
  AppendFn append;
  bool lf_to_crlf = false;
  std::string scratch;  // the converted bytes, reused from write to write
};

int read_ex(BIO* bio, char* buf, size_t n, size_t* got) {
  auto* st = static_cast<ReadState*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  *got = 0;
  if (n == 0) return 1;
  long r = st->read_at(st->pos, buf, n);
  if (r < 0) return 0;
  if (r == 0) {
    st->eof = true;
    return 0;
  }
  st->pos += static_cast<std::size_t>(r);
  *got = static_cast<size_t>(r);
  return 1;
}

int write_ex(BIO* bio, const char* buf, size_t n, size_t* put) {
  auto* st = static_cast<AppendState*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  *put = 0;
  std::string_view in(buf, n);
  if (!st->lf_to_crlf) {
    if (!st->append(in)) return 0;
  } else {
    // Whole runs between line feeds are copied at once: base64 output arrives as many
    // 65-byte lines per write, and a byte-by-byte copy showed in profiles.
    std::string& out = st->scratch;
    out.clear();
    while (!in.empty()) {
      std::size_t lf = in.find('\n');
      if (lf == std::string_view::npos) {
        out.append(in);
        break;
      }
      out.append(in.data(), lf);
      out.append("\r\n", 2);
      in.remove_prefix(lf + 1);
    }
    if (!st->append(out)) return 0;
  }
  *put = n;
  return 1;
}

long read_ctrl(BIO* bio, int cmd, long, void*) {
  auto* st = static_cast<ReadState*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_EOF:
      return st->eof ? 1 : 0;
    case BIO_CTRL_RESET:
      st->pos = 0;
      st->eof = false;
      return 1;
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
    case BIO_CTRL_WPENDING:
      return 0;
    default:
      return 0;
  }
}

long write_ctrl(BIO*, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
    case BIO_CTRL_WPENDING:
      return 0;
    default:
      return 0;
  }
}

int read_destroy(BIO* bio) {
  delete static_cast<ReadState*>(BIO_get_data(bio));
  BIO_set_data(bio, nullptr);
  return 1;
}

int write_destroy(BIO* bio) {
  delete static_cast<AppendState*>(BIO_get_data(bio));
  BIO_set_data(bio, nullptr);
  return 1;
}

const BIO_METHOD* read_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mailseal-read");
    BIO_meth_set_read_ex(meth, read_ex);
    BIO_meth_set_ctrl(meth, read_ctrl);
    BIO_meth_set_destroy(meth, read_destroy);
    return meth;
  }();
  return m;
}

const BIO_METHOD* write_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mailseal-append");
    BIO_meth_set_write_ex(meth, write_ex);
    BIO_meth_set_ctrl(meth, write_ctrl);
    BIO_meth_set_destroy(meth, write_destroy);
    return meth;
  }();
  return m;
}

}  // namespace

BioPtr make_read_bio(ReadAtFn read_at) {
  BioPtr bio(BIO_new(read_method()));
  if (!bio) return bio;
  BIO_set_data(bio.get(), new ReadState{std::move(read_at)});
  BIO_set_init(bio.get(), 1);
  return bio;
}

BioPtr make_append_bio(AppendFn append, bool lf_to_crlf) {
  BioPtr bio(BIO_new(write_method()));
  if (!bio) return bio;
  BIO_set_data(bio.get(), new AppendState{std::move(append), lf_to_crlf});
  BIO_set_init(bio.get(), 1);
  return bio;
}

BioPtr base64_encoder_over(BioPtr sink) {
  BIO* b64 = BIO_new(BIO_f_base64());
  if (!b64 || !sink) {
    BIO_free(b64);
    return BioPtr();
  }
  return BioPtr(BIO_push(b64, sink.release()));
}

}  // namespace mailseal::crypto
