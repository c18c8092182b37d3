#include "dualrpc/grpc/grpc_server_stats.h"

#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "nlohmann/json.hpp"

namespace dualrpc::grpc {
namespace {

// One channelz answer, parsed; null JSON if it is not JSON.
nlohmann::json ChannelzJson(char* answer) {
  std::unique_ptr<char, void (*)(void*)> owned(answer, gpr_free);
  if (answer == nullptr) return nullptr;
  return nlohmann::json::parse(answer, nullptr, /*allow_exceptions=*/false);
}

// An int64 field of a channelz answer (proto3 JSON writes them as strings);
// 0 if absent.
std::int64_t IdField(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end()) return 0;
  std::int64_t id = 0;
  if (it->is_string()) {
    return absl::SimpleAtoi(it->get<std::string>(), &id) ? id : 0;
  }
  return it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

// Walks channelz pages: `query(start)` answers {"<list>": [...], "end": bool},
// each entry carrying {"ref": {"<id_key>": "N"}}; `each(id)` sees every id.
template <typename Query, typename Each>
void ForEachId(Query query, const char* list, const char* id_key, Each each) {
  std::int64_t start = 0;
  for (;;) {
    const nlohmann::json page = ChannelzJson(query(start));
    if (!page.is_object()) return;
    std::int64_t last = -1;
    if (const auto entries = page.find(list);
        entries != page.end() && entries->is_array()) {
      for (const nlohmann::json& entry : *entries) {
        const auto ref = entry.find("ref");
        const std::int64_t id =
            ref != entry.end() ? IdField(*ref, id_key) : IdField(entry, id_key);
        if (id <= 0) continue;
        each(id);
        last = std::max(last, id);
      }
    }
    const auto end = page.find("end");
    if (last < 0 ||
        (end != page.end() && end->is_boolean() && end->get<bool>())) {
      return;
    }
    start = last + 1;
  }
}

}  // namespace

absl::flat_hash_set<std::int64_t> ChannelzServerIds() {
  absl::flat_hash_set<std::int64_t> ids;
  ForEachId([](std::int64_t start) { return grpc_channelz_get_servers(start); },
            "server", "serverId", [&](std::int64_t id) { ids.insert(id); });
  return ids;
}

void GrpcServerStats::OnAdopted(int fd) {
  struct stat status {};
  absl::MutexLock lock(&mu_);
  ++adopted_total_;
  if (::fstat(fd, &status) != 0) return;
  adopted_.push_back({fd, status.st_dev, status.st_ino});
  if (adopted_.size() >= 2 * adopted_after_prune_ + 64) PruneAdopted();
}

void GrpcServerStats::OnAdoptRefused() {
  absl::MutexLock lock(&mu_);
  ++adopted_total_;
  ++refused_draining_;
}

void GrpcServerStats::PruneAdopted() {
  // An fd grpc++ has closed fails fstat or, reused since, names another
  // file: socket inodes are unique while the socket is open.
  adopted_.erase(std::remove_if(adopted_.begin(), adopted_.end(),
                                [](const Adopted& adopted) {
                                  struct stat status {};
                                  return ::fstat(adopted.fd, &status) != 0 ||
                                         status.st_dev != adopted.device ||
                                         status.st_ino != adopted.inode;
                                }),
                 adopted_.end());
  adopted_after_prune_ = adopted_.size();
}

rpc::TransportStats GrpcServerStats::Get() {
  absl::flat_hash_set<std::int64_t> sockets;
  if (channelz_server_id_ > 0) {
    ForEachId(
        [this](std::int64_t start) {
          return grpc_channelz_get_server_sockets(channelz_server_id_, start,
                                                  /*max_results=*/100);
        },
        "socketRef", "socketId", [&](std::int64_t id) { sockets.insert(id); });
  }
  absl::MutexLock lock(&mu_);
  for (std::int64_t id : sockets) {
    if (!seen_sockets_.contains(id)) ++accepted_seen_;
  }
  seen_sockets_ = std::move(sockets);
  PruneAdopted();
  rpc::TransportStats stats;
  stats.connections_open =
      static_cast<std::int64_t>(seen_sockets_.size() + adopted_.size());
  stats.connections_accepted_total = accepted_seen_ + adopted_total_;
  stats.refused_total = {{rpc::kRefusedDraining, refused_draining_}};
  return stats;
}

}  // namespace dualrpc::grpc
