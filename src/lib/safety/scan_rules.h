// scan_rules.h (private): what each finding rule of `tpkg scan` means, for
// the reports that describe their rules (SARIF's reportingDescriptor: code
// scanning services show these texts beside each result).
//
// Thread safety: immutable tables.
#pragma once

#include <string_view>

namespace tpkg::safety {

struct RuleText {
  std::string_view id;     // "pickle.global-not-allowed"
  std::string_view brief;  // one line
  std::string_view help;   // what it means and what to do
};

// The text of rule `id`; a generic text naming the id for an unknown one.
RuleText DescribeRule(std::string_view id);

}  // namespace tpkg::safety
