// fuzz_archive.h: the small, always identical torch.package archive that the
// journal and file-system targets edit (their inputs are edits, not archives).
#pragma once

#include <string>
#include <vector>

namespace tpkg::fuzz {

// Record names of the archive (prefix folder stripped), in archive order.
const std::vector<std::string>& SampleRecordNames();
// The content of record `name` in the archive.
std::string SampleRecordBytes(const std::string& name);
// Writes the archive to `path` (same bytes every time).
void WriteSampleArchive(const std::string& path);

}  // namespace tpkg::fuzz
