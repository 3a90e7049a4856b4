// Address extraction from header values (From, To, Cc) with GMime's RFC 5322 parser.
#include <gmime/gmime.h>

#include "mime/address.h"
#include "mime/gmime_stream.h"

namespace mailseal::mime {

std::vector<std::string> header_addresses(const std::string& value) {
  ensure_init();
  std::vector<std::string> out;
  InternetAddressList* list = internet_address_list_parse(nullptr, value.c_str());
  if (!list) return out;
  std::function<void(InternetAddressList*)> walk = [&](InternetAddressList* l) {
    for (int i = 0; i < internet_address_list_length(l); ++i) {
      InternetAddress* a = internet_address_list_get_address(l, i);
      if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
        const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
        if (addr && *addr) out.emplace_back(addr);
      } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
        walk(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)));
      }
    }
  };
  walk(list);
  g_object_unref(list);
  return out;
}

}  // namespace mailseal::mime
