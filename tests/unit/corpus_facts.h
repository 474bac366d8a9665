// corpus_facts.h: facts the stack's own torch recorded about a corpus archive
// (<archive>.expected.json, made by tests/corpus/make_corpus.py), for tests
// whose expected values differ between torch 1.13 / numpy 1 and torch 2.x /
// numpy 2 (e.g. `numpy.core.multiarray` is `numpy._core.multiarray` there, and
// torch 2.x orders a pickle's modules differently).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "json_lite.h"

namespace tpkg::testing {

// The archive's `.data/extern_modules` as torch wrote it, one module an item.
inline std::vector<std::string> CorpusExterns(const std::string& archive) {
  return ReadJsonFile(std::string(TPKG_CORPUS_DIR) + "/" + archive + ".expected.json")["package"]
                     ["extern_modules_list"]
                         .Strings();
}

// `modules` without those in `drop`, in order.
inline std::vector<std::string> Without(std::vector<std::string> modules,
                                        const std::vector<std::string>& drop) {
  std::erase_if(modules, [&](const std::string& m) {
    return std::find(drop.begin(), drop.end(), m) != drop.end();
  });
  return modules;
}

// "a\nb\n": the text of an extern list.
inline std::string LinesOf(const std::vector<std::string>& modules) {
  std::string out;
  for (const std::string& m : modules) out += m + "\n";
  return out;
}

}  // namespace tpkg::testing
