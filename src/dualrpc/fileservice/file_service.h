#ifndef DUALRPC_FILESERVICE_FILE_SERVICE_H_
#define DUALRPC_FILESERVICE_FILE_SERVICE_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dualrpc/fileservice/listing_cache.h"
#include "dualrpc/fileservice/served_root.h"
#include "dualrpc/fileservice/tree_walker.h"
#include "dualrpc/v1/file_service.pb.h"

namespace dualrpc::fileservice {

struct FileServiceOptions {
  // page_size 0 means this many entries.
  int32_t default_page_size = 1000;
  // Larger page_size values are coerced down to this.
  int32_t max_page_size = 10000;
  // The transports' message limit (--max_message_bytes): a ListDirectory
  // page ends before the entry whose encoding, with the page token that
  // would follow it, takes the response over this many bytes, so that a
  // page always fits the message limit of either transport (a page holds at
  // least one entry; one that cannot fit alone is RESOURCE_EXHAUSTED).
  // 0: pages are bounded by entry count alone.
  std::size_t max_response_bytes = 4 * 1024 * 1024;
  // Names of recently listed directories kept so that later pages need not
  // re-read them (ListingCache); 0 disables the cache. ~50 bytes a name.
  std::size_t listing_cache_names = 1000000;
  // A directory changed less than this long before it was read is not
  // cached (its timestamps could not reveal a change in the same tick).
  absl::Duration listing_cache_settle = absl::Milliseconds(100);
  // WalkTree: one response holds at most this many entries, and no more
  // once their encoding reaches walk_batch_bytes (so a response stays far
  // below every message limit, and a client that stops reading stops the
  // disk within one batch). Values below 1 are treated as 1.
  std::size_t walk_batch_entries = 256;
  std::size_t walk_batch_bytes = 32 * 1024;
  TreeWalkerOptions walk;
};

// The transport-neutral implementation of dualrpc.v1.FileService. Knows
// nothing of gRPC or sockets: requests in, absl::Status out. Transports map
// the status codes (which are the gRPC codes) onto their wire.
// Thread-safe; holds no per-call state.
class FileServiceCore {
 public:
  FileServiceCore(ServedRoot root, FileServiceOptions options);

  // Cheap and non-blocking: safe to run on a transport thread.
  absl::Status Echo(const v1::EchoRequest& request,
                    v1::EchoResponse* response) const;

  // Blocking filesystem work: run it on a BlockingExecutor, never on a
  // transport thread. Entries are lstat'ed (symlinks reported, not followed)
  // and ordered by raw name bytes; see file_service.proto for paging rules.
  absl::Status ListDirectory(const v1::ListDirectoryRequest& request,
                             v1::ListDirectoryResponse* response) const;

  // Begins a WalkTree walk (TreeWalker::Start with options().walk).
  // Blocking: on a BlockingExecutor. The walker must not outlive this.
  absl::StatusOr<TreeWalker> StartWalk(
      const v1::WalkTreeRequest& request) const;

  const FileServiceOptions& options() const { return options_; }

 private:
  const ServedRoot root_;
  const FileServiceOptions options_;
  // Null when disabled. Internally synchronized.
  const std::unique_ptr<ListingCache> listing_cache_;
};

}  // namespace dualrpc::fileservice

#endif  // DUALRPC_FILESERVICE_FILE_SERVICE_H_
