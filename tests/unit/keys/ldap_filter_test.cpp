// RFC 4515 escaping of addresses in LDAP filters: an envelope address must never change
// the structure of the operator's filter (injection), only the value it compares with.
#include "keys/ldap_filter.h"

#include <gtest/gtest.h>

namespace mailseal::keys {
namespace {

TEST(LdapFilter, PlainAddressIsUnchanged) {
  EXPECT_EQ(ldap_escape_value("alice@example.org"), "alice@example.org");
  EXPECT_EQ(ldap_expand_filter("(mail=%s)", "alice@example.org"), "(mail=alice@example.org)");
}

TEST(LdapFilter, SpecialCharactersAreEscaped) {
  EXPECT_EQ(ldap_escape_value("*"), "\\2a");
  EXPECT_EQ(ldap_escape_value("("), "\\28");
  EXPECT_EQ(ldap_escape_value(")"), "\\29");
  EXPECT_EQ(ldap_escape_value("\\"), "\\5c");
  EXPECT_EQ(ldap_escape_value(std::string_view("a\0b", 3)), "a\\00b");
}

TEST(LdapFilter, ControlAndNonAsciiBytesAreEscaped) {
  EXPECT_EQ(ldap_escape_value("a\r\nb"), "a\\0d\\0ab");
  EXPECT_EQ(ldap_escape_value("\x7f"), "\\7f");
  EXPECT_EQ(ldap_escape_value("j\xc3\xb6rg@example.org"), "j\\c3\\b6rg@example.org");
}

TEST(LdapFilter, InjectionAttemptStaysOneValue) {
  // Unescaped this would be (mail=*)(|(mail=*)): every entry of the directory.
  std::string f = ldap_expand_filter("(mail=%s)", "*)(|(mail=*");
  EXPECT_EQ(f, "(mail=\\2a\\29\\28|\\28mail=\\2a)");
  // Exactly one unescaped '(' and ')': the template's own.
  int open = 0, close = 0;
  for (char c : f) {
    open += c == '(';
    close += c == ')';
  }
  EXPECT_EQ(open, 1);
  EXPECT_EQ(close, 1);
  EXPECT_EQ(f.find('*'), std::string::npos);
}

TEST(LdapFilter, EveryPlaceholderIsFilledAndPercentPercentIsLiteral) {
  EXPECT_EQ(ldap_expand_filter("(|(mail=%s)(mailAlternateAddress=%s))", "a*@x"),
            "(|(mail=a\\2a@x)(mailAlternateAddress=a\\2a@x))");
  EXPECT_EQ(ldap_expand_filter("(&(mail=%s)(note=100%%))", "b@x"), "(&(mail=b@x)(note=100%))");
  // A '%' in the address is a plain character; it is not expanded again.
  EXPECT_EQ(ldap_expand_filter("(mail=%s)", "%s@x"), "(mail=%s@x)");
}

}  // namespace
}  // namespace mailseal::keys
