#ifndef DUALRPC_GRPC_GRPC_SERVER_STATS_H_
#define DUALRPC_GRPC_GRPC_SERVER_STATS_H_

// The connection-level figures of one grpc::Server (GrpcServer::GetStats).
// grpc++ 1.51 has no public connection callbacks, so they come from two
// places:
//   - channelz (grpc/grpc.h's C API, JSON answers; on by default) for the
//     connections the server accepted on its own port: its server sockets,
//     listen sockets excluded;
//   - this object's own table for adopted connections
//     (AddInsecureChannelFromFd), which channelz does not see: grpc++
//     registers no channelz socket for them and does not say when it closes
//     them, so each is remembered by fd and socket inode and counted open
//     while that fd still names that socket.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "dualrpc/rpc/transport_stats.h"

namespace dualrpc::grpc {

// The channelz ids of every grpc server of the process now.
absl::flat_hash_set<std::int64_t> ChannelzServerIds();

class GrpcServerStats {
 public:
  // `channelz_server_id`: the server's channelz id; 0 when it is not known
  // (then only adopted connections are counted).
  explicit GrpcServerStats(std::int64_t channelz_server_id)
      : channelz_server_id_(channelz_server_id) {}

  GrpcServerStats(const GrpcServerStats&) = delete;
  GrpcServerStats& operator=(const GrpcServerStats&) = delete;

  // Remembers `fd`, a socket about to be given to grpc++ (still open).
  // Thread-safe.
  void OnAdopted(int fd);
  // A socket offered for adoption and refused: the server is shutting
  // down. Thread-safe.
  void OnAdoptRefused();

  // The figures now. Thread-safe. Costs one channelz query per 100 of the
  // server's sockets and one fstat(2) per adopted connection remembered:
  // meant for a scrape, not for a call's path.
  //   connections_open: the server's channelz sockets plus adopted
  //     connections whose fd still names the adopted socket.
  //   connections_accepted_total: adopted connections (and those refused
  //     adoption) exactly; accepted ones as channelz showed them: a
  //     connection that opened and closed between two reads is not seen (a
  //     lower bound).
  //   refused_total: {"draining", n}: sockets refused adoption because the
  //     server was shutting down. grpc++ reports no refusals of its own.
  //   tls_handshakes_total / tls_handshake_failures_total: 0; grpc++
  //     exposes no handshake outcomes.
  rpc::TransportStats Get();

 private:
  struct Adopted {
    int fd;
    dev_t device;
    ino_t inode;
  };

  // Drops the adopted connections grpc++ has closed since.
  void PruneAdopted() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::int64_t channelz_server_id_;
  absl::Mutex mu_;
  // The server's channelz sockets at the previous Get.
  absl::flat_hash_set<std::int64_t> seen_sockets_ ABSL_GUARDED_BY(mu_);
  std::int64_t accepted_seen_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Adopted> adopted_ ABSL_GUARDED_BY(mu_);
  // adopted_.size() after the last prune: OnAdopted prunes again when the
  // table has doubled since, so it stays bounded without a Get.
  std::size_t adopted_after_prune_ ABSL_GUARDED_BY(mu_) = 0;
  std::int64_t adopted_total_ ABSL_GUARDED_BY(mu_) = 0;
  std::int64_t refused_draining_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace dualrpc::grpc

#endif  // DUALRPC_GRPC_GRPC_SERVER_STATS_H_
