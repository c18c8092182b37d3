#include "dualrpc/rpc/service_registry.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/rpc/interceptor_stage.h"

namespace dualrpc::rpc {
namespace {

absl::Status CheckMethod(const Method& method) {
  if (ServiceNameOfPath(method.path).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "method path \"", method.path, "\" is not /package.Service/Method"));
  }
  const bool unary = method.kind == MethodKind::kUnary;
  if (!method.new_request || !method.new_response ||
      (unary ? (!method.invoke || method.start_stream)
             : (!method.start_stream || method.invoke))) {
    return absl::InvalidArgumentError(
        absl::StrCat("method ", method.path, " lacks a function"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view ServiceNameOfPath(absl::string_view path) {
  if (path.size() < 4 || path[0] != '/') return {};
  absl::string_view rest = path.substr(1);
  absl::string_view::size_type slash = rest.find('/');
  if (slash == absl::string_view::npos || slash == 0 ||
      slash + 1 == rest.size() ||
      rest.find('/', slash + 1) != absl::string_view::npos) {
    return {};
  }
  return rest.substr(0, slash);
}

ServiceRegistry::ServiceRegistry()
    : stage_(std::make_shared<internal::InterceptorStage>()) {}
ServiceRegistry::~ServiceRegistry() = default;
ServiceRegistry::ServiceRegistry(ServiceRegistry&&) noexcept = default;
ServiceRegistry& ServiceRegistry::operator=(ServiceRegistry&&) noexcept =
    default;

ServiceRegistry::ServiceRegistry(const ServiceRegistry& other)
    : methods_(other.methods_), stage_(other.stage_) {
  for (auto& [path, entry] : methods_) Serve(&entry);
}

ServiceRegistry& ServiceRegistry::operator=(const ServiceRegistry& other) {
  if (this != &other) {
    ServiceRegistry copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void ServiceRegistry::Serve(Entry* entry) const {
  if (stage_->interceptors.empty()) {
    entry->served = entry->implementation;
    return;
  }
  entry->served = internal::InterceptedMethod(&entry->implementation,
                                              &entry->served, stage_);
}

void ServiceRegistry::Insert(Method method) {
  std::string path = method.path;
  auto [it, inserted] =
      methods_.emplace(std::move(path), Entry{std::move(method), Method()});
  Serve(&it->second);
}

absl::Status ServiceRegistry::AddInterceptor(
    std::shared_ptr<ServerInterceptor> interceptor) {
  if (interceptor == nullptr) {
    return absl::InvalidArgumentError("null interceptor");
  }
  // A new stage: copies of this registry keep the one they were given.
  auto stage = std::make_shared<internal::InterceptorStage>(*stage_);
  stage->wants_call_end =
      stage->wants_call_end || interceptor->wants_call_end();
  stage->interceptors.push_back(std::move(interceptor));
  stage_ = std::move(stage);
  for (auto& [path, entry] : methods_) Serve(&entry);
  return absl::OkStatus();
}

absl::Status ServiceRegistry::AddMethod(Method method) {
  if (absl::Status valid = CheckMethod(method); !valid.ok()) return valid;
  if (methods_.count(method.path) != 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("method ", method.path, " is already registered"));
  }
  Insert(std::move(method));
  return absl::OkStatus();
}

absl::Status ServiceRegistry::AddMethods(std::vector<Method> methods) {
  std::set<absl::string_view> new_paths;
  for (const Method& method : methods) {
    if (absl::Status valid = CheckMethod(method); !valid.ok()) return valid;
    if (methods_.count(method.path) != 0 ||
        !new_paths.insert(method.path).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("method ", method.path, " is already registered"));
    }
  }
  for (Method& method : methods) Insert(std::move(method));
  return absl::OkStatus();
}

const Method* ServiceRegistry::FindMethod(absl::string_view path) const {
  auto it = methods_.find(path);
  return it == methods_.end() ? nullptr : &it->second.served;
}

std::vector<std::string> ServiceRegistry::ServiceNames() const {
  std::vector<std::string> names;
  // Paths sharing the prefix "/service/" are adjacent in methods_.
  for (const auto& [path, entry] : methods_) {
    absl::string_view service = ServiceNameOfPath(path);
    if (names.empty() || names.back() != service) {
      names.emplace_back(service);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<const Method*> ServiceRegistry::ServiceMethods(
    absl::string_view service_name) const {
  std::string prefix = absl::StrCat("/", service_name, "/");
  std::vector<const Method*> methods;
  for (auto it = methods_.lower_bound(prefix);
       it != methods_.end() && absl::StartsWith(it->first, prefix); ++it) {
    methods.push_back(&it->second.served);
  }
  return methods;
}

}  // namespace dualrpc::rpc
