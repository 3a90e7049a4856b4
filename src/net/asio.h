// The one place that includes Boost.Asio for the project, with the names we use.
// (Boost 1.81: <utility> must come first for awaitable.hpp under g++ 12 in C++20.)
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

namespace mailseal::net {
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
}  // namespace mailseal::net
