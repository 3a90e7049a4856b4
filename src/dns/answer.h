// One DNS answer as libunbound delivered it (or did not: timeout, resolver error), copied
// out of ub_result so that the interpretation (interpret.h) is pure and unit-testable.
#pragma once

#include <string>
#include <vector>

namespace mailseal::dns {

struct Answer {
  std::string name;     // the name asked for
  std::string failure;  // set when no answer arrived: timeout or resolver error
  int rcode = 0;        // DNS RCODE (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...)
  bool havedata = false;
  bool nxdomain = false;
  bool secure = false;
  bool bogus = false;
  std::string why_bogus;
  std::vector<std::string> rdata;  // wire-format RDATA of each answer record
};

}  // namespace mailseal::dns
