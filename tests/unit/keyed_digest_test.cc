// The keyed digest of the analysis cache's disk layer (base/keyed_digest.h):
// a function of the key and the bytes alone, that changes with either,
// and the same from any thread.
#include "base/keyed_digest.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace tpkg {
namespace {

std::string Text(size_t size) {
  std::string text(size, '\0');
  for (size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + (i * 7) % 26);
  return text;
}

TEST(KeyedDigestTest, TheSameKeyAndBytesGiveTheSameDigest) {
  const KeyedDigest::Key key = KeyedDigest::NewKey();
  const std::string text = Text(5000);
  EXPECT_EQ(KeyedDigest(key).Of(text), KeyedDigest(key).Of(text));
  const KeyedDigest digest(key);
  EXPECT_EQ(digest.Of(text), digest.Of(text));  // no state carried from one call to the next
}

TEST(KeyedDigestTest, EveryByteAndTheLengthCount) {
  const KeyedDigest digest(KeyedDigest::NewKey());
  // Lengths around UMAC's 1 KiB blocks, where a lost tail would hide.
  for (const size_t size : {0ul, 1ul, 31ul, 32ul, 1023ul, 1024ul, 1025ul, 5000ul}) {
    const std::string text = Text(size);
    const KeyedDigest::Value base = digest.Of(text);
    EXPECT_NE(digest.Of(text + '\0'), base) << size;  // a zero byte appended
    if (size == 0) continue;
    for (const size_t at : {size_t{0}, size / 2, size - 1}) {
      std::string changed = text;
      changed[at] ^= 1;
      EXPECT_NE(digest.Of(changed), base) << size << " at " << at;
    }
  }
}

TEST(KeyedDigestTest, AnotherKeyGivesAnotherDigest) {
  const KeyedDigest::Key a = KeyedDigest::NewKey();
  KeyedDigest::Key b = KeyedDigest::NewKey();
  EXPECT_NE(a, b);
  const std::string text = Text(100);
  EXPECT_NE(KeyedDigest(a).Of(text), KeyedDigest(b).Of(text));
  // Each half of the key counts: the hash's and the cipher's.
  b = a;
  b.front() ^= 1;
  EXPECT_NE(KeyedDigest(a).Of(text), KeyedDigest(b).Of(text));
  b = a;
  b.back() ^= 1;
  EXPECT_NE(KeyedDigest(a).Of(text), KeyedDigest(b).Of(text));
}

TEST(KeyedDigestTest, ThreadsShareOneDigest) {
  const KeyedDigest digest(KeyedDigest::NewKey());
  std::vector<std::string> texts;
  std::vector<KeyedDigest::Value> expected;
  for (size_t i = 0; i < 64; ++i) {
    texts.push_back(Text(100 + 97 * i));
    expected.push_back(digest.Of(texts.back()));
  }
  std::vector<std::vector<KeyedDigest::Value>> got(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round)
        for (const std::string& text : texts) got[t].push_back(digest.Of(text));
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const auto& results : got) {
    ASSERT_EQ(results.size(), 50 * texts.size());
    for (size_t i = 0; i < results.size(); ++i)
      ASSERT_EQ(results[i], expected[i % texts.size()]) << i;
  }
}

}  // namespace
}  // namespace tpkg
