#include "dualrpc/server/ready_file.h"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "dualrpc/base/posix_error.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace dualrpc::server {
namespace {

// `text` as a JSON string literal, quotes included.
absl::StatusOr<std::string> JsonString(const std::string& text) {
  google::protobuf::Value value;
  value.set_string_value(text);
  std::string json;
  const auto printed =
      google::protobuf::util::MessageToJsonString(value, &json);
  if (!printed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot write \"", text, "\" as JSON: ", printed.ToString()));
  }
  return json;
}

}  // namespace

absl::StatusOr<std::string> FormatReadyFile(const ReadyAddressList& addresses) {
  std::set<absl::string_view> names;
  std::string json = "{";
  for (const auto& [name, address] : addresses) {
    if (name.empty())
      return absl::InvalidArgumentError("a ready file name is empty");
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", name, "\" twice in a ready file"));
    }
    absl::StatusOr<std::string> json_name = JsonString(name);
    if (!json_name.ok()) return json_name.status();
    absl::StatusOr<std::string> json_address = JsonString(address);
    if (!json_address.ok()) return json_address.status();
    absl::StrAppend(&json, names.size() == 1 ? "" : ", ", *json_name, ": ",
                    *json_address);
  }
  json += "}\n";
  return json;
}

absl::StatusOr<ReadyAddresses> ParseReadyFile(absl::string_view json) {
  google::protobuf::Struct object;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &object);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ready file is not a JSON object (", parsed.ToString(), "): ", json));
  }
  ReadyAddresses addresses;
  for (const auto& [name, value] : object.fields()) {
    if (value.kind_case() != google::protobuf::Value::kStringValue) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ready file value of \"", name, "\" is not a string: ", json));
    }
    addresses.emplace(name, value.string_value());
  }
  return addresses;
}

absl::Status WriteReadyFile(const std::string& path,
                            const ReadyAddressList& addresses) {
  absl::StatusOr<std::string> json = FormatReadyFile(addresses);
  if (!json.ok()) return json.status();
  const std::string temp_path = path + ".tmp";
  {
    std::ofstream out(temp_path, std::ios::trunc);
    out << *json;
    out.close();
    if (!out)
      return base::PosixError("writing the ready file " + temp_path, errno);
  }
  if (std::rename(temp_path.c_str(), path.c_str()) != 0) {
    return base::PosixError("renaming the ready file to " + path, errno);
  }
  return absl::OkStatus();
}

absl::StatusOr<ReadyAddresses> ReadReadyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::PosixError("opening the ready file " + path, errno);
  std::stringstream text;
  text << in.rdbuf();
  return ParseReadyFile(text.str());
}

}  // namespace dualrpc::server
