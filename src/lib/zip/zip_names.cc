#include "zip/zip_names.h"

namespace tpkg {

std::string Folded(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = FoldAscii(c);
  return out;
}

std::string NameRegistry::Problem(std::string_view record) const {
  size_t known = 0;
  return ProblemOf(record, Folded(record), &known);
}

std::string NameRegistry::ProblemOf(std::string_view record, std::string_view folded,
                                    size_t* known) const {
  *known = 0;
  if (auto it = seen_.find(folded); it != seen_.end()) {
    if (it->second.is_folder) return QuoteName(record) + " is already a folder";
    if (it->second.spelling == record) return QuoteName(record) + " is written twice";
    return QuoteName(record) + " differs only in case from " + QuoteName(it->second.spelling);
  }
  // Deepest folder first: every ancestor of a registered name is registered
  // as a folder (Add), so the first one found decides, and at most one
  // ancestor can be a file (nothing was ever registered under a file).
  for (size_t slash = folded.rfind('/'); slash != std::string_view::npos && slash > 0;
       slash = folded.rfind('/', slash - 1)) {
    auto it = seen_.find(folded.substr(0, slash));
    if (it == seen_.end()) continue;
    if (!it->second.is_folder) {
      return QuoteName(record) + " needs " + QuoteName(it->second.spelling) +
             " as a folder, but it is a file";
    }
    *known = slash;
    break;
  }
  return {};
}

std::string NameRegistry::Claim(std::string_view record) {
  std::string folded = Folded(record);
  size_t known = 0;
  if (std::string problem = ProblemOf(record, folded, &known); !problem.empty()) return problem;
  for (size_t slash = folded.find('/', known == 0 ? 0 : known + 1); slash != std::string::npos;
       slash = folded.find('/', slash + 1))
    seen_.emplace(folded.substr(0, slash), Seen{true, std::string(record.substr(0, slash))});
  seen_.emplace(std::move(folded), Seen{false, std::string(record)});
  return {};
}

void NameRegistry::Add(std::string_view record) {
  std::string folded = Folded(record);
  for (size_t slash = folded.find('/'); slash != std::string::npos;
       slash = folded.find('/', slash + 1)) {
    const std::string_view folder = std::string_view(folded).substr(0, slash);
    if (!seen_.contains(folder))
      seen_.emplace(std::string(folder), Seen{true, std::string(record.substr(0, slash))});
  }
  if (!seen_.contains(folded)) seen_.emplace(std::move(folded), Seen{false, std::string(record)});
}

std::string NameRegistry::FolderProblem(std::string_view folder) const {
  if (auto it = seen_.find(Folded(folder)); it != seen_.end()) {
    if (!it->second.is_folder) return QuoteName(folder) + " is already a file";
    if (it->second.has_entry) return "folder " + QuoteName(folder) + " is written twice";
  }
  const std::string folded = Folded(folder);
  for (size_t slash = folded.find('/'); slash != std::string::npos;
       slash = folded.find('/', slash + 1)) {
    auto it = seen_.find(std::string_view(folded).substr(0, slash));
    if (it != seen_.end() && !it->second.is_folder)
      return "folder " + QuoteName(folder) + " needs " + QuoteName(it->second.spelling) +
             " as a folder, but it is a file";
  }
  return {};
}

void NameRegistry::AddFolder(std::string_view folder) {
  Add(std::string(folder) + "/");  // registers the ancestors and the folder itself
  seen_.erase(Folded(folder) + "/");
  Seen& seen = seen_[Folded(folder)];
  seen.has_entry = true;
}

}  // namespace tpkg
