#ifndef DUALRPC_TESTS_RAW_SLOWLORIS_ATTACK_H_
#define DUALRPC_TESTS_RAW_SLOWLORIS_ATTACK_H_

// The slowloris of issue 12 (finding 3), for tests of the raw server's time
// bounds: many connections that trickle a preface and then a frame header,
// one byte per tick each, from one thread; and a well-behaved probe that
// measures how long a fresh connection takes to get an Echo answered.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/v1/file_service.pb.h"
#include "raw/test_client.h"

namespace dualrpc::raw {

// The bytes every attacker trickles: a preface, then the 12-byte header of
// a REQUEST for `method` (its payload never follows).
inline std::string SlowlorisBytes(absl::string_view method) {
  v1::EchoRequest request;
  request.set_payload("never sent");
  return PrefaceBytes() +
         RequestBytes(1, method, request).substr(0, kFrameHeaderSize);
}

// `connections` connections to `host_port`, each sent the next byte of
// SlowlorisBytes every `tick` (the first at once) until the bytes run out
// or the attack is destroyed. Every wait is bounded by `tick`.
class SlowlorisAttack {
 public:
  SlowlorisAttack(const std::string& host_port, int connections,
                  absl::Duration tick, absl::string_view method)
      : bytes_(SlowlorisBytes(method)) {
    for (int i = 0; i < connections; ++i) {
      attackers_.push_back(std::make_unique<TestClient>(host_port));
    }
    start_ = absl::Now();
    thread_ = std::thread([this, tick] {
      for (std::size_t i = 0; i < bytes_.size(); ++i) {
        if (i != 0 && stop_.WaitForNotificationWithTimeout(tick)) return;
        for (const std::unique_ptr<TestClient>& attacker : attackers_) {
          attacker->TrySend(absl::string_view(bytes_).substr(i, 1));
        }
      }
    });
  }
  ~SlowlorisAttack() { Stop(); }

  SlowlorisAttack(const SlowlorisAttack&) = delete;
  SlowlorisAttack& operator=(const SlowlorisAttack&) = delete;

  // When the first byte went out.
  absl::Time start() const { return start_; }

  // Stops trickling and joins the thread. Idempotent.
  void Stop() {
    if (!thread_.joinable()) return;
    stop_.Notify();
    thread_.join();
  }

  // After Stop(): how many attackers the server closed without writing a
  // byte, seen within `timeout` each.
  int CountClosedSilently(absl::Duration timeout = absl::Milliseconds(2)) {
    int count = 0;
    for (const std::unique_ptr<TestClient>& attacker : attackers_) {
      if (attacker->ReadEof(timeout)) ++count;
    }
    return count;
  }

  // After Stop(): how many attackers were sent a GOAWAY with `code` (after
  // the server's preface) within `timeout` each.
  int CountGoaways(absl::StatusCode code,
                   absl::Duration timeout = absl::Milliseconds(2)) {
    int count = 0;
    for (const std::unique_ptr<TestClient>& attacker : attackers_) {
      if (!attacker->ReadPreface(timeout).ok()) continue;
      absl::StatusOr<ReceivedFrame> frame = attacker->ReadFrame(timeout);
      if (!frame.ok() || frame->header.type != FrameType::kGoaway) continue;
      absl::StatusOr<Goaway> goaway = ParseGoaway(frame->payload);
      if (goaway.ok() && goaway->code == code) ++count;
    }
    return count;
  }

 private:
  const std::string bytes_;
  std::vector<std::unique_ptr<TestClient>> attackers_;
  absl::Time start_;
  absl::Notification stop_;
  std::thread thread_;
};

// A well-behaved client: connects, sends its preface and one Echo of
// `method` in one write, and waits up to `timeout` for the answer. The time
// that took, or why it failed (the RESPONSE's error, a GOAWAY, a timeout).
inline absl::StatusOr<absl::Duration> TimeFreshEcho(
    const std::string& host_port, absl::string_view method,
    absl::Duration timeout = absl::Seconds(5)) {
  const absl::Time start = absl::Now();
  TestClient client(host_port);
  v1::EchoRequest request;
  request.set_payload("probe");
  client.Send(PrefaceBytes() + RequestBytes(1, method, request));
  if (absl::Status preface = client.ReadPreface(timeout); !preface.ok()) {
    return preface;
  }
  absl::StatusOr<Response> response = client.ReadResponse(1, timeout);
  if (!response.ok()) return response.status();
  if (!response->status.ok()) return response->status;
  return absl::Now() - start;
}

}  // namespace dualrpc::raw

#endif  // DUALRPC_TESTS_RAW_SLOWLORIS_ATTACK_H_
