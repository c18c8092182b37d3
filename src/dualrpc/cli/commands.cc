#include "dualrpc/cli/commands.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <istream>
#include <iterator>
#include <ostream>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "dualrpc/cli/listing_format.h"

namespace dualrpc::cli {
namespace {

absl::Status WriteJson(const google::protobuf::Message& message,
                       std::ostream& out) {
  std::string json;
  const auto status =
      google::protobuf::util::MessageToJsonString(message, &json);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot render response as JSON: ", status.ToString()));
  }
  out << json << '\n';
  return absl::OkStatus();
}

// The contract orders entries by raw name bytes across the whole listing, so
// every name must sort after `*last_name` (the previous one, "" at the
// start). Checked before a page is shown, so that a server that restarts or
// repeats the listing is an error instead of an endless loop.
absl::Status CheckNameOrder(const v1::ListDirectoryResponse& page,
                            std::string* last_name) {
  for (const v1::DirectoryEntry& entry : page.entries()) {
    const absl::string_view name = DisplayName(entry);
    if (!last_name->empty() && name <= *last_name) {
      return absl::InternalError(
          "server returned directory entries out of order; stopping the "
          "listing");
    }
    last_name->assign(name.data(), name.size());
  }
  return absl::OkStatus();
}

// Fetches pages of `request`, handing each to `on_page`: every page when
// `follow_pages`, else only the first. Returns the next_page_token that was
// not followed ("" once the listing is complete).
absl::StatusOr<std::string> FetchPages(
    FileServiceClient& client, v1::ListDirectoryRequest request,
    bool follow_pages, absl::Duration timeout,
    absl::FunctionRef<void(const v1::ListDirectoryResponse&)> on_page) {
  std::string last_name;
  while (true) {
    absl::StatusOr<v1::ListDirectoryResponse> page =
        client.ListDirectory(request, timeout);
    if (!page.ok()) return page.status();
    const absl::Status order = CheckNameOrder(*page, &last_name);
    if (!order.ok()) return order;
    on_page(*page);
    const std::string& next = page->next_page_token();
    if (next.empty() || !follow_pages) return next;
    // Pages may be empty, so names alone cannot prove progress.
    if (next == request.page_token()) {
      return absl::InternalError(
          "server returned the same next_page_token it was sent");
    }
    request.set_page_token(next);
  }
}

void WriteEntries(const v1::ListDirectoryResponse& page, bool long_format,
                  std::ostream& out) {
  for (const v1::DirectoryEntry& entry : page.entries()) {
    if (long_format) {
      out << FormatLongListing(entry) << '\n';
    } else {
      out << DisplayName(entry) << '\n';
    }
  }
}

}  // namespace

absl::Status RunLs(FileServiceClient& client, const CallOptions& call,
                   const LsOptions& ls, std::ostream& out, std::ostream& err) {
  v1::ListDirectoryRequest request;
  request.set_path(ls.path);
  request.set_page_size(ls.page_size);

  v1::ListDirectoryResponse merged;  // Used with --json only.
  absl::StatusOr<std::string> unfollowed =
      FetchPages(client, request, ls.follow_pages, call.timeout,
                 [&](const v1::ListDirectoryResponse& page) {
                   if (call.json) {
                     merged.mutable_entries()->MergeFrom(page.entries());
                   } else {
                     WriteEntries(page, ls.long_format, out);
                   }
                 });
  if (!unfollowed.ok()) return unfollowed.status();

  if (!unfollowed->empty()) {
    err << "next_page_token: " << *unfollowed << '\n';
  }
  if (!call.json) return absl::OkStatus();
  merged.set_next_page_token(*unfollowed);
  return WriteJson(merged, out);
}

absl::Status RunEcho(FileServiceClient& client, const CallOptions& call,
                     const EchoOptions& echo, std::istream& in,
                     std::ostream& out) {
  v1::EchoRequest request;
  if (echo.text.has_value()) {
    request.set_payload(*echo.text);
  } else {
    request.set_payload(std::string(std::istreambuf_iterator<char>(in),
                                    std::istreambuf_iterator<char>()));
    if (in.bad()) return absl::UnknownError("cannot read standard input");
  }

  absl::StatusOr<v1::EchoResponse> response =
      client.Echo(request, call.timeout);
  if (!response.ok()) return response.status();
  if (call.json) return WriteJson(*response, out);
  out << response->payload();
  if (echo.text.has_value()) out << '\n';
  return absl::OkStatus();
}

std::string FormatStatusForCli(const absl::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                      status.message());
}

}  // namespace dualrpc::cli
