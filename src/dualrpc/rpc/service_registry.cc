#include "dualrpc/rpc/service_registry.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

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

absl::Status ServiceRegistry::AddMethod(Method method) {
  if (absl::Status valid = CheckMethod(method); !valid.ok()) return valid;
  if (methods_.count(method.path) != 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("method ", method.path, " is already registered"));
  }
  std::string path = method.path;
  methods_.emplace(std::move(path), std::move(method));
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
  for (Method& method : methods) {
    std::string path = method.path;
    methods_.emplace(std::move(path), std::move(method));
  }
  return absl::OkStatus();
}

const Method* ServiceRegistry::FindMethod(absl::string_view path) const {
  auto it = methods_.find(path);
  return it == methods_.end() ? nullptr : &it->second;
}

std::vector<std::string> ServiceRegistry::ServiceNames() const {
  std::vector<std::string> names;
  // Paths sharing the prefix "/service/" are adjacent in methods_.
  for (const auto& [path, method] : methods_) {
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
    methods.push_back(&it->second);
  }
  return methods;
}

}  // namespace dualrpc::rpc
