#ifndef DUALRPC_BENCH_LOCAL_LIST_CONTENDER_H_
#define DUALRPC_BENCH_LOCAL_LIST_CONTENDER_H_

#include <string>

#include "contender.h"

namespace dualrpc::bench {

// The reference for ListDirectory: the same directory read in the bench
// process with readdir + lstat (fstatat(AT_SYMLINK_NOFOLLOW)) per entry, no
// RPC, no sorting, no protobuf. For WalkTree, the same tree walked as the
// server walks it (names sorted per directory, lstat per entry,
// subdirectories opened relative to their parent), without RPC or
// protobuf. Each of `concurrency` callers is a thread.
class LocalListContender final : public Contender {
 public:
  // `root` is the directory the servers serve (list paths are below it).
  explicit LocalListContender(std::string root) : root_(std::move(root)) {}

  absl::string_view transport() const override { return "local"; }
  bool Supports(const Workload& workload) const override {
    return workload.kind == Workload::Kind::kList ||
           workload.kind == Workload::Kind::kWalk;
  }
  const ServerProcess* server() const override { return nullptr; }
  absl::Status Run(const Workload& workload, const LoadShape& shape,
                   RunControl* control) override;

 private:
  const std::string root_;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_LOCAL_LIST_CONTENDER_H_
