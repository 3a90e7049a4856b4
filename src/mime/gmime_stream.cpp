// GObject subclasses of GMimeStream for the callback source and sink (gmime_stream.h).
#include "mime/gmime_stream.h"

#include <algorithm>
#include <mutex>
#include <string>

namespace mailseal::mime {
namespace {

struct SourceStream {
  GMimeStream parent;
  std::shared_ptr<Source>* src;  // heap-held so substreams share it
};
struct SourceStreamClass {
  GMimeStreamClass parent_class;
};

struct SinkStream {
  GMimeStream parent;
  AppendFn* append;
};
struct SinkStreamClass {
  GMimeStreamClass parent_class;
};

G_DEFINE_TYPE(SourceStream, source_stream, GMIME_TYPE_STREAM)
G_DEFINE_TYPE(SinkStream, sink_stream, GMIME_TYPE_STREAM)

gint64 src_end(GMimeStream* s) {
  auto* self = reinterpret_cast<SourceStream*>(s);
  gint64 size = static_cast<gint64>((*self->src)->size);
  return s->bound_end == -1 ? size : std::min(s->bound_end, size);
}

ssize_t src_read(GMimeStream* s, char* buf, size_t len) {
  auto* self = reinterpret_cast<SourceStream*>(s);
  gint64 end = src_end(s);
  if (s->position >= end) return 0;
  len = std::min<size_t>(len, static_cast<size_t>(end - s->position));
  long n = (*self->src)->read_at(static_cast<std::size_t>(s->position), buf, len);
  if (n < 0) return -1;
  s->position += n;
  return n;
}
ssize_t src_write(GMimeStream*, const char*, size_t) {
  return -1;
}
int src_flush(GMimeStream*) {
  return 0;
}
int src_close(GMimeStream*) {
  return 0;
}
gboolean src_eos(GMimeStream* s) {
  return s->position >= src_end(s);
}
int src_reset(GMimeStream* s) {
  s->position = s->bound_start;
  return 0;
}
gint64 src_seek(GMimeStream* s, gint64 offset, GMimeSeekWhence whence) {
  gint64 end = src_end(s);
  gint64 pos = whence == GMIME_STREAM_SEEK_SET   ? s->bound_start + offset
               : whence == GMIME_STREAM_SEEK_CUR ? s->position + offset
                                                 : end + offset;
  if (pos < s->bound_start || pos > end) return -1;
  s->position = pos;
  return pos;
}
gint64 src_tell(GMimeStream* s) {
  return s->position;
}
gint64 src_length(GMimeStream* s) {
  return src_end(s) - s->bound_start;
}

GMimeStream* src_substream(GMimeStream* s, gint64 start, gint64 end) {
  auto* self = reinterpret_cast<SourceStream*>(s);
  auto* sub = static_cast<SourceStream*>(g_object_new(source_stream_get_type(), nullptr));
  sub->src = new std::shared_ptr<Source>(*self->src);
  g_mime_stream_construct(&sub->parent, start, end);
  return &sub->parent;
}

void source_stream_finalize(GObject* o) {
  delete reinterpret_cast<SourceStream*>(o)->src;
  G_OBJECT_CLASS(source_stream_parent_class)->finalize(o);
}
void source_stream_init(SourceStream* self) {
  self->src = nullptr;
}
void source_stream_class_init(SourceStreamClass* klass) {
  G_OBJECT_CLASS(klass)->finalize = source_stream_finalize;
  GMimeStreamClass* sc = &klass->parent_class;
  sc->read = src_read;
  sc->write = src_write;
  sc->flush = src_flush;
  sc->close = src_close;
  sc->eos = src_eos;
  sc->reset = src_reset;
  sc->seek = src_seek;
  sc->tell = src_tell;
  sc->length = src_length;
  sc->substream = src_substream;
}

ssize_t sink_write(GMimeStream* s, const char* buf, size_t len) {
  auto* self = reinterpret_cast<SinkStream*>(s);
  if (!(*self->append)(std::string_view(buf, len))) return -1;
  s->position += static_cast<gint64>(len);
  return static_cast<ssize_t>(len);
}
ssize_t sink_read(GMimeStream*, char*, size_t) {
  return -1;
}
int sink_flush(GMimeStream*) {
  return 0;
}
int sink_close(GMimeStream*) {
  return 0;
}
gboolean sink_eos(GMimeStream*) {
  return TRUE;
}
int sink_reset(GMimeStream*) {
  return -1;
}
gint64 sink_seek(GMimeStream*, gint64, GMimeSeekWhence) {
  return -1;
}
gint64 sink_tell(GMimeStream* s) {
  return s->position;
}
gint64 sink_length(GMimeStream*) {
  return -1;
}
GMimeStream* sink_substream(GMimeStream*, gint64, gint64) {
  return nullptr;
}

void sink_stream_finalize(GObject* o) {
  delete reinterpret_cast<SinkStream*>(o)->append;
  G_OBJECT_CLASS(sink_stream_parent_class)->finalize(o);
}
void sink_stream_init(SinkStream* self) {
  self->append = nullptr;
}
void sink_stream_class_init(SinkStreamClass* klass) {
  G_OBJECT_CLASS(klass)->finalize = sink_stream_finalize;
  GMimeStreamClass* sc = &klass->parent_class;
  sc->read = sink_read;
  sc->write = sink_write;
  sc->flush = sink_flush;
  sc->close = sink_close;
  sc->eos = sink_eos;
  sc->reset = sink_reset;
  sc->seek = sink_seek;
  sc->tell = sink_tell;
  sc->length = sink_length;
  sc->substream = sink_substream;
}

}  // namespace

void ensure_init() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

Source source_from_string(const std::string& s) {
  return Source{[&s](std::size_t off, char* buf, std::size_t n) -> long {
                  if (off >= s.size()) return 0;
                  std::size_t k = std::min(n, s.size() - off);
                  std::copy_n(s.data() + off, k, buf);
                  return static_cast<long>(k);
                },
                s.size()};
}

Source sub_source(const Source& base, std::size_t offset, std::size_t length) {
  offset = std::min(offset, base.size);
  length = std::min(length, base.size - offset);
  ReadAtFn inner = base.read_at;
  return Source{[inner, offset, length](std::size_t off, char* buf, std::size_t n) -> long {
                  if (off >= length) return 0;
                  return inner(offset + off, buf, std::min(n, length - off));
                },
                length};
}

Source concat_source(std::vector<Source> parts) {
  std::size_t total = 0;
  for (const auto& p : parts) total += p.size;
  return Source{[parts = std::move(parts)](std::size_t off, char* buf, std::size_t n) -> long {
                  // One read never crosses a part: callers loop until 0 (end) anyway.
                  for (const auto& p : parts) {
                    if (off < p.size) return p.read_at(off, buf, std::min(n, p.size - off));
                    off -= p.size;
                  }
                  return 0;
                },
                total};
}

GPtr<GMimeStream> new_source_stream(Source source) {
  ensure_init();
  auto* s = static_cast<SourceStream*>(g_object_new(source_stream_get_type(), nullptr));
  std::size_t size = source.size;
  s->src = new std::shared_ptr<Source>(std::make_shared<Source>(std::move(source)));
  g_mime_stream_construct(&s->parent, 0, static_cast<gint64>(size));
  return GPtr<GMimeStream>(&s->parent);
}

GPtr<GMimeStream> new_sink_stream(AppendFn append) {
  ensure_init();
  auto* s = static_cast<SinkStream*>(g_object_new(sink_stream_get_type(), nullptr));
  s->append = new AppendFn(std::move(append));
  g_mime_stream_construct(&s->parent, 0, -1);
  return GPtr<GMimeStream>(&s->parent);
}

}  // namespace mailseal::mime
