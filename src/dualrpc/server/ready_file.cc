#include "dualrpc/server/ready_file.h"

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dualrpc/base/posix_error.h"

namespace dualrpc::server {

absl::Status WriteReadyFile(
    const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& addresses) {
  std::string json = absl::StrCat(
      "{",
      absl::StrJoin(addresses, ", ",
                    [](std::string* out, const auto& entry) {
                      // Names and addresses are ours (no quotes to escape).
                      absl::StrAppend(out, "\"", entry.first, "\": \"",
                                      entry.second, "\"");
                    }),
      "}\n");
  const std::string temp_path = path + ".tmp";
  {
    std::ofstream out(temp_path, std::ios::trunc);
    out << json;
    out.close();
    if (!out) return base::PosixError("writing the ready file", errno);
  }
  if (std::rename(temp_path.c_str(), path.c_str()) != 0) {
    return base::PosixError("renaming the ready file", errno);
  }
  return absl::OkStatus();
}

}  // namespace dualrpc::server
