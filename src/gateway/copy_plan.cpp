// Outer headers and copy grouping for the seal filters.
#include "gateway/copy_plan.h"

#include <strings.h>

#include <algorithm>

#include "keys/key_source.h"
#include "mime/address.h"

namespace mailseal::gateway {

std::string header_value(const mime::Entity& e, const char* name) {
  std::string out;
  for (const auto& h : e.headers)
    if (strcasecmp(h.name.c_str(), name) == 0) out += (out.empty() ? "" : ", ") + h.value;
  return out;
}

std::string outer_header_block(const mime::Entity& msg) {
  std::vector<mime::Header> outer;
  bool has_mime_version = false;
  for (const auto& h : msg.headers) {
    if (!mime::is_kept_outer_header(h.name)) continue;
    has_mime_version |= strcasecmp(h.name.c_str(), "MIME-Version") == 0;
    outer.push_back(h);
  }
  if (!has_mime_version) outer.push_back({"MIME-Version", "1.0"});
  return mime::header_block(outer);
}

std::map<std::string, std::vector<std::string>> group_recipients(
    const mime::Entity& msg, const std::vector<std::string>& recipients,
    const std::function<int(const std::string&)>& treatment_of) {
  std::vector<std::string> visible;
  for (const char* name : {"To", "Cc"})
    for (auto& a : mime::header_addresses(header_value(msg, name)))
      visible.push_back(keys::normalise_address(a));
  std::map<std::string, std::vector<std::string>> groups;
  int bcc = 0;
  for (const auto& rcpt : recipients) {
    bool is_visible =
        std::find(visible.begin(), visible.end(), keys::normalise_address(rcpt)) != visible.end();
    std::string key =
        std::to_string(treatment_of(rcpt)) + (is_visible ? "" : "/bcc" + std::to_string(bcc++));
    groups[key].push_back(rcpt);
  }
  return groups;
}

}  // namespace mailseal::gateway
