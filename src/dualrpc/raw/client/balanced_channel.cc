#include "dualrpc/raw/client/balanced_channel.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "dualrpc/net/event_loop.h"
#include "dualrpc/net/socket_ops.h"

namespace dualrpc::raw {
namespace {

constexpr std::size_t kMaxBackends = 64;

// The distinct "ADDRESS:PORT"s `name_port` resolves to, in getaddrinfo's
// order.
absl::StatusOr<std::vector<std::string>> ResolveBackends(
    const std::string& name_port) {
  absl::StatusOr<std::vector<net::SocketAddress>> resolved =
      net::Resolve(name_port);
  if (!resolved.ok()) return resolved.status();
  std::vector<std::string> addresses;
  absl::flat_hash_set<std::string> seen;
  for (const net::SocketAddress& address : *resolved) {
    std::string host_port = address.ToHostPort();
    if (seen.insert(host_port).second) addresses.push_back(host_port);
    if (addresses.size() == kMaxBackends) break;
  }
  if (addresses.empty()) {
    return absl::UnavailableError(
        absl::StrCat(name_port, " resolves to no address"));
  }
  return addresses;
}

}  // namespace

// The backends and their health. Everything behind mu_ except the timer
// loop, which is thread-safe for Post(), and the options, which are const.
class BalancedChannel::State {
 public:
  // One server. Its channel is created with this as its observer; the
  // Backend outlives the channel (freed with the State).
  class Backend final : public ConnectionObserver {
   public:
    Backend(State* state, std::string address)
        : state_(state), address_(std::move(address)) {}

    const std::string& address() const { return address_; }

    void OnConnectionReady() override { state_->OnReady(this); }
    void OnConnectionFailed(const absl::Status& why) override {
      state_->Eject(this, why);
    }
    void OnGoaway(const absl::Status& why) override {
      state_->Eject(this, why);
    }

    // All State's, behind its mu_.
    enum class Health { kUnknown, kReady, kEjected };
    std::shared_ptr<RawChannel> channel;  // null once shut down
    Health health = Health::kUnknown;
    bool removed = false;  // raw+dns: no longer among the resolved addresses
    bool reconnect_scheduled = false;
    absl::Duration backoff;

   private:
    State* const state_;
    const std::string address_;
  };

  State(BalancedChannelOptions options, std::string dns_name_port,
        std::unique_ptr<net::EventLoop> timer_loop)
      : options_(std::move(options)),
        dns_name_port_(std::move(dns_name_port)),
        timer_loop_(std::move(timer_loop)) {}

  bool retries() const {
    absl::MutexLock lock(&mu_);
    return !dns_name_port_.empty() || backends_.size() > 1;
  }

  // Adds a backend per address not yet known (readmitting removed ones) and
  // marks the known ones that `addresses` lacks as removed when `replace`.
  absl::Status SetBackends(const std::vector<std::string>& addresses,
                           bool replace) {
    absl::flat_hash_set<std::string> wanted(addresses.begin(), addresses.end());
    std::vector<std::unique_ptr<Backend>> added;
    {
      absl::MutexLock lock(&mu_);
      if (shut_down_) return absl::OkStatus();
      absl::flat_hash_set<std::string> known;
      for (const auto& backend : backends_) {
        known.insert(backend->address());
        if (replace) backend->removed = !wanted.contains(backend->address());
      }
      for (const std::string& address : addresses) {
        // Duplicates in a list weigh: each is a backend of its own.
        if (replace && known.contains(address)) continue;
        added.push_back(std::make_unique<Backend>(this, address));
      }
    }
    // Created outside the lock: each starts a thread.
    for (auto& backend : added) {
      RawChannelOptions backend_options = options_.backend;
      backend_options.observer = backend.get();
      backend_options.health_check_interval = options_.health_check_interval;
      backend_options.health_check_timeout = options_.health_check_timeout;
      absl::StatusOr<std::shared_ptr<RawChannel>> channel =
          RawChannel::Create(backend->address(), backend_options);
      if (!channel.ok()) return channel.status();
      backend->channel = *std::move(channel);
      backend->backoff = options_.backoff_initial;
    }
    // Destroyed after the lock below is released (declared before it).
    std::vector<std::shared_ptr<RawChannel>> unused;
    absl::MutexLock lock(&mu_);
    for (auto& backend : added) {
      if (shut_down_) {
        unused.push_back(std::move(backend->channel));
      } else {
        backends_.push_back(std::move(backend));
      }
    }
    return absl::OkStatus();
  }

  void StartTimers() {
    timer_thread_ = std::thread([this]() { timer_loop_->Run(); });
    if (!dns_name_port_.empty()) ScheduleResolve(options_.resolve_interval);
  }

  // The next backend round-robin that is not ejected, removed or in
  // `tried`; null (and `*unavailable` set) when there is none.
  std::shared_ptr<RawChannel> Pick(const std::vector<const Backend*>& tried,
                                   const Backend** picked,
                                   absl::Status* unavailable) {
    absl::MutexLock lock(&mu_);
    if (shut_down_) {
      *unavailable = absl::CancelledError("channel destroyed");
      return nullptr;
    }
    const std::size_t count = backends_.size();
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t index = (next_ + i) % count;
      Backend* backend = backends_[index].get();
      if (backend->removed || backend->health == Backend::Health::kEjected ||
          std::find(tried.begin(), tried.end(), backend) != tried.end()) {
        continue;
      }
      next_ = index + 1;
      *picked = backend;
      return backend->channel;
    }
    int ejected = 0;
    for (const auto& backend : backends_) {
      if (!backend->removed && backend->health == Backend::Health::kEjected) {
        ++ejected;
      }
    }
    *unavailable = absl::UnavailableError(absl::StrCat(
        "no raw backend is available (", ejected, " ejected): ",
        last_error_.ok() ? "every backend was tried" : last_error_.message()));
    return nullptr;
  }

  void RecordError(const absl::Status& error) {
    absl::MutexLock lock(&mu_);
    last_error_ = error;
  }

  bool shut_down() const {
    absl::MutexLock lock(&mu_);
    return shut_down_;
  }

  std::vector<std::string> Addresses() const {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> addresses;
    for (const auto& backend : backends_) {
      if (!backend->removed) addresses.push_back(backend->address());
    }
    return addresses;
  }

  int EjectedCount() const {
    absl::MutexLock lock(&mu_);
    int ejected = 0;
    for (const auto& backend : backends_) {
      if (!backend->removed && backend->health == Backend::Health::kEjected) {
        ++ejected;
      }
    }
    return ejected;
  }

  // Stops retries and timers, then destroys every backend's channel (which
  // ends their calls). Not on the timer thread.
  void Shutdown() {
    std::vector<std::shared_ptr<RawChannel>> channels;
    {
      absl::MutexLock lock(&mu_);
      shut_down_ = true;
      for (auto& backend : backends_) {
        channels.push_back(std::move(backend->channel));
      }
    }
    net::EventLoop* const loop = timer_loop_.get();
    loop->Post([loop]() { loop->Quit(); });
    if (timer_thread_.joinable()) timer_thread_.join();
    channels.clear();
  }

 private:
  void OnReady(Backend* backend) {
    absl::MutexLock lock(&mu_);
    backend->health = Backend::Health::kReady;
    backend->backoff = options_.backoff_initial;
  }

  void Eject(Backend* backend, const absl::Status& why) {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    last_error_ = why;
    backend->health = Backend::Health::kEjected;
    if (!backend->reconnect_scheduled) ScheduleReconnect(backend);
    if (dns_name_port_.empty() || resolve_soon_) return;
    for (const auto& other : backends_) {
      if (!other->removed && other->health != Backend::Health::kEjected) {
        return;
      }
    }
    // Every backend is ejected: perhaps the name moved.
    resolve_soon_ = true;
    ScheduleResolve(absl::ZeroDuration());
  }

  void ScheduleReconnect(Backend* backend) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const double jitter = absl::Uniform(bitgen_, -options_.backoff_jitter,
                                        options_.backoff_jitter);
    const absl::Duration delay = backend->backoff * (1.0 + jitter);
    backend->backoff = std::min(backend->backoff * options_.backoff_multiplier,
                                options_.backoff_max);
    backend->reconnect_scheduled = true;
    RunAfter(delay, [this, backend]() { Reconnect(backend); });
  }

  void Reconnect(Backend* backend) {
    std::shared_ptr<RawChannel> channel;
    {
      absl::MutexLock lock(&mu_);
      backend->reconnect_scheduled = false;
      if (shut_down_ || backend->removed) return;
      channel = backend->channel;
    }
    channel->Connect();
  }

  void ScheduleResolve(absl::Duration delay) {
    RunAfter(delay, [this]() { Resolve(); });
  }

  // On the timer thread (getaddrinfo may block it, and nothing else).
  void Resolve() {
    {
      absl::MutexLock lock(&mu_);
      resolve_soon_ = false;
      if (shut_down_) return;
    }
    absl::StatusOr<std::vector<std::string>> addresses =
        ResolveBackends(dns_name_port_);
    if (addresses.ok()) {
      absl::Status added = SetBackends(*addresses, /*replace=*/true);
      if (!added.ok()) RecordError(added);
    } else {
      RecordError(addresses.status());
    }
    ScheduleResolve(options_.resolve_interval);
  }

  // Thread-safe: the timer is set on the timer loop.
  void RunAfter(absl::Duration delay, net::EventLoop::Task task) {
    net::EventLoop* const loop = timer_loop_.get();
    loop->Post([loop, delay, task = std::move(task)]() mutable {
      loop->RunAt(
          net::EventLoop::Clock::now() +
              absl::ToChronoNanoseconds(std::max(delay, absl::ZeroDuration())),
          std::move(task));
    });
  }

  const BalancedChannelOptions options_;
  // raw+dns: the name and port resolved into backends; else empty.
  const std::string dns_name_port_;
  const std::unique_ptr<net::EventLoop> timer_loop_;
  std::thread timer_thread_;

  mutable absl::Mutex mu_;
  // Only grows: a Backend lives as long as the State (observers and
  // timers hold pointers to it).
  std::vector<std::unique_ptr<Backend>> backends_ ABSL_GUARDED_BY(mu_);
  std::size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  bool resolve_soon_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
};

namespace {

absl::Status ValidateOptions(const BalancedChannelOptions& options) {
  if (options.health_check_interval <= absl::ZeroDuration() ||
      options.health_check_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "health_check_interval and health_check_timeout must be positive");
  }
  if (options.backoff_initial <= absl::ZeroDuration() ||
      options.backoff_max < options.backoff_initial ||
      options.backoff_multiplier < 1.0 || options.backoff_jitter < 0.0 ||
      options.backoff_jitter >= 1.0) {
    return absl::InvalidArgumentError(
        "backoff needs 0 < initial <= max, multiplier >= 1 and jitter in "
        "[0, 1)");
  }
  if (options.resolve_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("resolve_interval must be positive");
  }
  return absl::OkStatus();
}

// One unary call across its attempts.
struct BalancedCall {
  std::shared_ptr<BalancedChannel::State> state;
  std::string method;
  // Owned copy when retries are possible; else the caller's request, which
  // is read only before the first attempt's StartUnaryCall returns.
  std::unique_ptr<google::protobuf::MessageLite> request_copy;
  const google::protobuf::MessageLite* request = nullptr;
  google::protobuf::MessageLite* response = nullptr;
  rpc::CallOptions options;
  absl::Time deadline = absl::InfiniteFuture();
  rpc::UnaryDone done;
  std::vector<const BalancedChannel::State::Backend*> tried;
};

void Finish(std::unique_ptr<BalancedCall> call, absl::Status status) {
  status.ErasePayload(kNotSentPayloadUrl);
  rpc::UnaryDone done = std::move(call->done);
  call.reset();
  std::move(done)(std::move(status));
}

void Attempt(std::unique_ptr<BalancedCall> call) {
  const BalancedChannel::State::Backend* backend = nullptr;
  absl::Status unavailable;
  std::shared_ptr<RawChannel> channel =
      call->state->Pick(call->tried, &backend, &unavailable);
  if (channel == nullptr) {
    Finish(std::move(call), std::move(unavailable));
    return;
  }
  call->tried.push_back(backend);
  rpc::CallOptions options = call->options;
  if (call->deadline != absl::InfiniteFuture()) {
    options.timeout = call->deadline - absl::Now();
    if (options.timeout <= absl::ZeroDuration()) {
      Finish(std::move(call), absl::DeadlineExceededError("deadline exceeded"));
      return;
    }
  }
  // Stable across the move below: they point into the heap.
  const std::string& method = call->method;
  const google::protobuf::MessageLite& request = *call->request;
  google::protobuf::MessageLite* const response = call->response;
  const bool retry = call->request_copy != nullptr;
  channel->StartUnaryCall(
      method, request, response, options,
      [call = std::move(call), retry](absl::Status status) mutable {
        if (retry && IsNotSent(status) && !call->state->shut_down()) {
          call->state->RecordError(status);
          Attempt(std::move(call));
          return;
        }
        Finish(std::move(call), std::move(status));
      });
}

}  // namespace

absl::StatusOr<std::shared_ptr<BalancedChannel>> BalancedChannel::Create(
    std::vector<std::string> addresses, BalancedChannelOptions options) {
  if (addresses.empty() || addresses.size() > kMaxBackends) {
    return absl::InvalidArgumentError(
        absl::StrCat("a balanced channel takes 1..", kMaxBackends,
                     " addresses, not ", addresses.size()));
  }
  if (absl::Status valid = ValidateOptions(options); !valid.ok()) return valid;
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop =
      net::EventLoop::Create();
  if (!loop.ok()) return loop.status();
  auto state =
      std::make_shared<State>(std::move(options), "", *std::move(loop));
  std::shared_ptr<BalancedChannel> channel(new BalancedChannel(state));
  if (absl::Status added = state->SetBackends(addresses, /*replace=*/false);
      !added.ok()) {
    return added;
  }
  state->StartTimers();
  return channel;
}

absl::StatusOr<std::shared_ptr<BalancedChannel>> BalancedChannel::CreateForDns(
    std::string name_port, BalancedChannelOptions options) {
  if (absl::Status valid = ValidateOptions(options); !valid.ok()) return valid;
  absl::StatusOr<std::vector<std::string>> addresses =
      ResolveBackends(name_port);
  if (!addresses.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot resolve ", name_port, ": ", addresses.status().message()));
  }
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop =
      net::EventLoop::Create();
  if (!loop.ok()) return loop.status();
  auto state = std::make_shared<State>(std::move(options), std::move(name_port),
                                       *std::move(loop));
  std::shared_ptr<BalancedChannel> channel(new BalancedChannel(state));
  if (absl::Status added = state->SetBackends(*addresses, /*replace=*/true);
      !added.ok()) {
    return added;
  }
  state->StartTimers();
  return channel;
}

BalancedChannel::BalancedChannel(std::shared_ptr<State> state)
    : state_(std::move(state)) {}

BalancedChannel::~BalancedChannel() { state_->Shutdown(); }

void BalancedChannel::StartUnaryCall(
    absl::string_view method, const google::protobuf::MessageLite& request,
    google::protobuf::MessageLite* response, const rpc::CallOptions& options,
    rpc::UnaryDone done) {
  auto call = std::make_unique<BalancedCall>();
  call->state = state_;
  call->method = std::string(method);
  if (state_->retries()) {
    call->request_copy.reset(request.New());
    call->request_copy->CheckTypeAndMergeFrom(request);
    call->request = call->request_copy.get();
  } else {
    call->request = &request;
  }
  call->response = response;
  call->options = options;
  if (options.timeout != absl::InfiniteDuration()) {
    call->deadline = absl::Now() + options.timeout;
  }
  call->done = std::move(done);
  Attempt(std::move(call));
}

rpc::ClientStream* BalancedChannel::NewStream(
    absl::string_view method, rpc::MethodKind kind,
    const rpc::CallOptions& options, rpc::ClientStreamReactor* reactor) {
  const State::Backend* backend = nullptr;
  absl::Status unavailable;
  std::shared_ptr<RawChannel> channel =
      state_->Pick({}, &backend, &unavailable);
  if (channel == nullptr) {
    return rpc::NewFailedStream(reactor, std::move(unavailable));
  }
  return channel->NewStream(method, kind, options, reactor);
}

std::vector<std::string> BalancedChannel::BackendAddresses() const {
  return state_->Addresses();
}

int BalancedChannel::EjectedCount() const { return state_->EjectedCount(); }

}  // namespace dualrpc::raw
