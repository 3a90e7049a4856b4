// mailseal-loadgen: an SMTP load generator that measures what smtp-source does not: the
// latency from the end of DATA (".") to the server's reply, per message, at a fixed
// offered rate or flat out. Used by bench/run.sh; prints one JSON object.
//
//   mailseal-loadgen --port 10025 --sessions 20 --messages 2000 --message msg.eml
//                    [--rate 500] [--from a@b] [--to c@d] [--reuse]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "net/asio.h"
#include "smtp/data_decoder.h"
#include "smtp/line_buffer.h"

using namespace mailseal;
namespace asio = net::asio;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  unsigned short port = 10025;
  int sessions = 1;
  int messages = 100;
  double rate = 0;  // messages per second over all sessions; 0 = as fast as possible
  bool reuse = false;
  std::string from = "sender@bench.test";
  std::string to = "rcpt@bench.test";
  std::string message;
};

struct Stats {
  std::vector<double> latency_ms;
  int ok = 0, failed = 0;
  std::string first_error;
};

class Reader {
 public:
  explicit Reader(net::tcp::socket& s) : s_(s) {}
  asio::awaitable<int> reply() {
    while (true) {
      smtp::ParsedReply r;
      auto used = smtp::parse_reply(buf_, r);
      if (used) {
        last_ = buf_.substr(0, used);
        buf_.erase(0, used);
        co_return r.code;
      }
      char tmp[4096];
      auto n = co_await s_.async_read_some(asio::buffer(tmp), asio::use_awaitable);
      buf_.append(tmp, n);
    }
  }
  std::string last_;

 private:
  net::tcp::socket& s_;
  std::string buf_;
};

asio::awaitable<void> session(const Options& o, const std::string& wire, int count,
                              Clock::time_point start, double interval_s, int first_index,
                              int stride, Stats& st) {
  auto ex = co_await asio::this_coro::executor;
  net::tcp::endpoint ep(asio::ip::make_address(o.host), o.port);
  std::unique_ptr<net::tcp::socket> sock;
  std::unique_ptr<Reader> rd;
  auto expect = [&](int code, int want) {
    if (code != want) throw std::runtime_error("unexpected reply: " + rd->last_);
  };
  for (int i = 0; i < count; ++i) {
    if (interval_s > 0) {
      auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                             (first_index + i * stride) * interval_s));
      asio::steady_timer t(ex, due);
      co_await t.async_wait(asio::use_awaitable);
    }
    try {
      if (!sock) {
        sock = std::make_unique<net::tcp::socket>(ex);
        co_await sock->async_connect(ep, asio::use_awaitable);
        sock->set_option(net::tcp::no_delay(true));
        rd = std::make_unique<Reader>(*sock);
        expect(co_await rd->reply(), 220);
        std::string ehlo = "EHLO loadgen.test\r\n";
        co_await asio::async_write(*sock, asio::buffer(ehlo), asio::use_awaitable);
        expect(co_await rd->reply(), 250);
      }
      std::string env = "MAIL FROM:<" + o.from + ">\r\nRCPT TO:<" + o.to + ">\r\nDATA\r\n";
      co_await asio::async_write(*sock, asio::buffer(env), asio::use_awaitable);
      expect(co_await rd->reply(), 250);
      expect(co_await rd->reply(), 250);
      expect(co_await rd->reply(), 354);
      co_await asio::async_write(*sock, asio::buffer(wire.data(), wire.size() - 3),
                                 asio::use_awaitable);
      auto t0 = Clock::now();
      co_await asio::async_write(*sock, asio::buffer(wire.data() + wire.size() - 3, 3),
                                 asio::use_awaitable);
      int code = co_await rd->reply();
      auto ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (code == 250) {
        ++st.ok;
        st.latency_ms.push_back(ms);
      } else {
        ++st.failed;
        if (st.first_error.empty()) st.first_error = rd->last_;
      }
      if (!o.reuse) {
        std::string quit = "QUIT\r\n";
        co_await asio::async_write(*sock, asio::buffer(quit), asio::use_awaitable);
        co_await rd->reply();
        sock.reset();
      }
    } catch (const std::exception& e) {
      ++st.failed;
      if (st.first_error.empty()) st.first_error = e.what();
      sock.reset();
    }
  }
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--host")
      o.host = v;
    else if (k == "--port")
      o.port = static_cast<unsigned short>(std::stoi(v));
    else if (k == "--sessions")
      o.sessions = std::stoi(v);
    else if (k == "--messages")
      o.messages = std::stoi(v);
    else if (k == "--rate")
      o.rate = std::stod(v);
    else if (k == "--from")
      o.from = v;
    else if (k == "--to")
      o.to = v;
    else if (k == "--message")
      o.message = v;
    else if (k == "--reuse")
      o.reuse = v == "1" || v == "yes";
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  std::ifstream in(o.message, std::ios::binary);
  if (!in) {
    std::cerr << "--message FILE is required\n";
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string wire;
  smtp::DotStuffer stuffer;
  stuffer.feed(ss.str(), wire);
  stuffer.finish(wire);  // ends with ".\r\n": the last 3 bytes are timed separately

  asio::io_context io(1);
  Stats st;
  auto start = Clock::now() + std::chrono::milliseconds(50);
  const double interval = o.rate > 0 ? 1.0 / o.rate : 0;
  for (int s = 0; s < o.sessions; ++s) {
    int count = o.messages / o.sessions + (s < o.messages % o.sessions ? 1 : 0);
    asio::co_spawn(io, session(o, wire, count, start, interval, s, o.sessions, st), asio::detached);
  }
  auto t0 = Clock::now();
  io.run();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "{\"ok\": %d, \"failed\": %d, \"seconds\": %.3f, \"msgs_per_s\": %.1f, \"p50_ms\": %.3f, "
      "\"p99_ms\": %.3f, \"first_error\": \"%s\"}\n",
      st.ok, st.failed, secs, st.ok / secs, percentile(st.latency_ms, 0.5),
      percentile(st.latency_ms, 0.99),
      st.first_error.substr(0, st.first_error.find_first_of("\r\n\"")).c_str());
  return st.failed ? 1 : 0;
}
