// The analysis cache (tpkg/analysis_cache.h): an analysis that reuses the
// per-record results of earlier ones is the same, field for field, as a full
// analysis of the same records, whatever the edits (imports added and
// removed, files deleted, renamed, created, rewritten with their original
// bytes, a syntax error, the pickle renamed); and it scans only the records
// the edits changed.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "corpus_journal_fixture.h"
#include "tpkg/analysis_cache.h"
#include "tpkg/journal.h"
#include "tpkg/journal_records.h"
#include "tpkg/metadata.h"

namespace tpkg {
namespace {

class AnalysisCacheTest : public testing::CorpusJournalTest {
 protected:
  Metadata Cached() const {
    return RegenerateMetadata(JournalRecords(*journal_), SaveCheckOptions(*journal_, cache_));
  }
  // Runs the cached analysis and checks it against a full one; returns how
  // many records it had to scan.
  uint64_t ExpectSameAsFull(const std::string& after) {
    const uint64_t misses = cache_->misses();
    const Metadata cached = Cached();
    const uint64_t scanned = cache_->misses() - misses;
    CorpusJournalTest::ExpectSameAsFull(cached, after);
    return scanned;
  }
  // What an analysis reads: every record outside `.data/`: model.py,
  // __init__.py, layers.py, util.py, model/model.pkl, and torch 2.x's
  // `byteorder` (a resource: any resource may be loaded as a pickle).
  uint64_t AnalysedRecords() const {
    uint64_t n = 0;
    for (const ZipEntry& e : zip_->entries())
      if (!e.is_directory() && !e.name.starts_with(".data/")) ++n;
    return n;
  }

  std::shared_ptr<RecordAnalysisCache> cache_ = std::make_shared<RecordAnalysisCache>();
};

TEST_F(AnalysisCacheTest, WarmedCacheScansNothingOfAnUneditedPackage) {
  const std::atomic<bool> stop{false};
  ASSERT_GE(AnalysedRecords(), 5u);
  EXPECT_EQ(WarmAnalysisCache(*zip_, *cache_, stop), AnalysedRecords());
  EXPECT_EQ(WarmAnalysisCache(*zip_, *cache_, stop), 0u);  // nothing left to do
  EXPECT_EQ(ExpectSameAsFull("no edit"), 0u);
  EXPECT_GT(cache_->hits(), 0u);
}

TEST_F(AnalysisCacheTest, StoppedWarmUpAnalysesNothing) {
  const std::atomic<bool> stop{true};
  EXPECT_EQ(WarmAnalysisCache(*zip_, *cache_, stop), 0u);
  EXPECT_EQ(cache_->size(), 0u);
}

TEST_F(AnalysisCacheTest, EveryKindOfEditGivesTheFullAnalysis) {
  const std::atomic<bool> stop{false};
  WarmAnalysisCache(*zip_, *cache_, stop);

  // An import added: json becomes a new extern of the edited source.
  Put("corpus_models/util.py", "import json\n\ndef squash(x):\n    return x\n");
  EXPECT_EQ(ExpectSameAsFull("an import added"), 1u);
  EXPECT_EQ(Cached().new_externs, (std::vector<NewExtern>{{"json", "corpus_models/util.py"}}));

  // An import removed (numpy), and one of the package's own added.
  Put("corpus_models/model.py",
      "import torch\nfrom corpus_models import DEFAULT_HIDDEN\nfrom .layers import Scale\n"
      "from . import util\nimport corpus_models.layers\n");
  EXPECT_EQ(ExpectSameAsFull("an import removed"), 2u);  // model.py and util.py

  // A file renamed: its module name changes, so it is scanned under the new name.
  journal_->Rename("corpus_models/layers.py", "corpus_models/layers2.py");
  ExpectSameAsFull("a source renamed");
  EXPECT_NE(Cached().problems, "");  // model.py still imports .layers

  // Renamed back: the original bytes under their original name again.
  journal_->Rename("corpus_models/layers2.py", "corpus_models/layers.py");
  EXPECT_EQ(ExpectSameAsFull("renamed back"), 2u);  // only the two edited sources

  // A file deleted, then a new one with a syntax error.
  journal_->Unlink("corpus_models/__init__.py");
  ExpectSameAsFull("a source deleted");
  Put("corpus_models/broken.py", "def f(:\n");
  ExpectSameAsFull("a syntax error");
  EXPECT_NE(Cached().problems.find("broken"), std::string::npos) << Cached().problems;
  journal_->Unlink("corpus_models/broken.py");

  // The pickle renamed: its node name follows its record name.
  journal_->Rename("model/model.pkl", "model/other.pkl");
  ExpectSameAsFull("the pickle renamed");

  // A source rewritten with its original bytes: a journal file, scanned,
  // and the same result as the original.
  Put("corpus_models/util.py", zip_->ReadAll(*zip_->Find("corpus_models/util.py")));
  ExpectSameAsFull("original bytes written back");
}

// What the analysis reads its sources with: the records still in the
// archive come from it together, with ReadRecord's bytes (also under a new
// name); an edited or created file, a folder or a missing name is left to
// ReadRecord.
TEST_F(AnalysisCacheTest, SourcesReadTogetherAreWhatReadRecordReads) {
  Put("corpus_models/util.py", "import json\n");
  Put("corpus_models/new.py", "import os\n");
  journal_->Rename("corpus_models/layers.py", "corpus_models/layers2.py");
  const JournalRecords records(*journal_);
  const std::vector<std::string> names{"corpus_models/model.py",    "corpus_models/util.py",
                                       "corpus_models/layers2.py",  "corpus_models/new.py",
                                       "corpus_models/__init__.py", "corpus_models/",
                                       "corpus_models/gone.py"};
  const std::vector<std::optional<std::string>> got = records.ReadSmallRecords(names);
  ASSERT_EQ(got.size(), names.size());
  for (const size_t unchanged : {0u, 2u, 4u}) {
    ASSERT_TRUE(got[unchanged].has_value()) << names[unchanged];
    EXPECT_EQ(*got[unchanged], records.ReadRecord(names[unchanged])) << names[unchanged];
  }
  for (const size_t other : {1u, 3u, 5u, 6u}) EXPECT_FALSE(got[other].has_value()) << names[other];
}

TEST_F(AnalysisCacheTest, FilledByAnAnalysisWithoutWarmUp) {
  // The generated files of a mount analyse with the cache: the next
  // analysis after an edit scans the edited record only.
  EXPECT_EQ(ExpectSameAsFull("first analysis"), AnalysedRecords());
  Put("corpus_models/layers.py", "import torch\n\nclass Scale:\n    pass\n");
  EXPECT_EQ(ExpectSameAsFull("layers.py edited"), 1u);
  EXPECT_EQ(ExpectSameAsFull("again"), 1u);  // an edited file is never cached
}

TEST_F(AnalysisCacheTest, ResultsOfAnotherContentAreNotReused) {
  const ZipEntry& util = *zip_->Find("corpus_models/util.py");
  const ZipEntry& layers = *zip_->Find("corpus_models/layers.py");
  cache_->Put("corpus_models/util.py", RecordContentId::Of(layers), nullptr);
  EXPECT_EQ(cache_->Find("corpus_models/util.py", RecordContentId::Of(util)), nullptr);
  EXPECT_FALSE(cache_->Contains("corpus_models/util.py", RecordContentId::Of(util)));
  EXPECT_TRUE(cache_->Contains("corpus_models/util.py", RecordContentId::Of(layers)));
}

}  // namespace
}  // namespace tpkg
