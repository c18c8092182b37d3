#include "dualrpc/cli/commands.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <istream>
#include <iterator>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "dualrpc/cli/listing_format.h"
#include "dualrpc/cli/stream_call.h"

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

// One directory entry of a walk and, for a directory, what the walk found
// beneath it.
struct WalkNode {
  v1::TreeEntry entry;  // unset for the walked directory itself
  std::vector<std::unique_ptr<WalkNode>> children;
};

absl::string_view TreePath(const v1::TreeEntry& entry) {
  return entry.raw_path().empty() ? absl::string_view(entry.path())
                                  : absl::string_view(entry.raw_path());
}

// Adds `entry` to the tree whose open directories, from the walked one
// down to the latest directory entry, are `open` (depth first: an entry of
// depth d lies in the directory open at d - 1).
absl::Status AddToWalk(v1::TreeEntry entry, std::vector<WalkNode*>* open) {
  const uint32_t depth = entry.depth();
  if (depth == 0 || depth > open->size()) {
    return absl::InternalError(absl::StrCat(
        "server's walk sent an entry of depth ", depth,
        " where the deepest open directory is at ", open->size() - 1));
  }
  open->resize(depth);
  auto node = std::make_unique<WalkNode>();
  node->entry = std::move(entry);
  WalkNode* added = node.get();
  open->back()->children.push_back(std::move(node));
  if (added->entry.entry().type() == v1::DirectoryEntry::TYPE_DIRECTORY) {
    open->push_back(added);
  }
  return absl::OkStatus();
}

// Why ls could not open a directory, in its words where it has them.
std::string WalkErrorText(const v1::WalkError& error) {
  switch (static_cast<absl::StatusCode>(error.code())) {
    case absl::StatusCode::kPermissionDenied:
      return "Permission denied";
    case absl::StatusCode::kNotFound:
      return "No such file or directory";
    default:
      return error.message().empty()
                 ? absl::StatusCodeToString(
                       static_cast<absl::StatusCode>(error.code()))
                 : error.message();
  }
}

// Writes `directory` and, after it, the directories beneath it, as ls -R;
// counts the unreadable ones in `*unreadable` and keeps the first's code.
void WriteWalk(const WalkNode& directory, const std::string& header,
               bool walking_root, bool long_format, std::ostream& out,
               std::ostream& err, int* unreadable,
               absl::StatusCode* first_code) {
  out << header << ":\n";
  if (directory.entry.has_error()) {
    // As ls: the listing on stdout is flushed before the error on stderr.
    out << std::flush;
    err << "ls: cannot open directory '" << header
        << "': " << WalkErrorText(directory.entry.error()) << '\n';
    if ((*unreadable)++ == 0) {
      *first_code =
          static_cast<absl::StatusCode>(directory.entry.error().code());
    }
  }
  for (const auto& child : directory.children) {
    if (long_format) {
      out << FormatLongListing(child->entry.entry()) << '\n';
    } else {
      out << DisplayName(child->entry.entry()) << '\n';
    }
  }
  for (const auto& child : directory.children) {
    if (child->entry.entry().type() != v1::DirectoryEntry::TYPE_DIRECTORY)
      continue;
    out << '\n';
    const std::string path(TreePath(child->entry));
    WriteWalk(*child, walking_root ? absl::StrCat("./", path) : path,
              walking_root, long_format, out, err, unreadable, first_code);
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

namespace dualrpc::cli {

absl::Status RunLsRecursive(rpc::Channel& channel, const CallOptions& call,
                            const LsOptions& ls, std::ostream& out,
                            std::ostream& err) {
  v1::WalkTreeRequest request;
  request.set_path(ls.path);
  rpc::CallOptions options;
  options.timeout = call.timeout;
  StreamCall walk(channel, kWalkTreePath, rpc::MethodKind::kServerStreaming,
                  options);
  walk.Write(request);

  WalkNode root;
  std::vector<WalkNode*> open = {&root};
  absl::Status failure;  // on this side: an answer that is not a walk
  v1::WalkTreeResponse response;
  while (failure.ok() && walk.Read(&response)) {
    if (call.json) {
      failure = WriteJson(response, out);
    } else {
      for (v1::TreeEntry& entry : *response.mutable_entries()) {
        failure = AddToWalk(std::move(entry), &open);
        if (!failure.ok()) break;
      }
    }
    response.Clear();
  }
  if (!failure.ok()) {
    walk.Cancel();
    return failure;
  }
  if (absl::Status status = walk.Finish(); !status.ok()) return status;
  if (call.json) return absl::OkStatus();

  const bool walking_root = ls.path.empty() || ls.path == ".";
  int unreadable = 0;
  absl::StatusCode first_code = absl::StatusCode::kOk;
  WriteWalk(root, walking_root ? std::string(".") : ls.path, walking_root,
            ls.long_format, out, err, &unreadable, &first_code);
  if (unreadable == 0) return absl::OkStatus();
  return absl::Status(
      first_code == absl::StatusCode::kOk ? absl::StatusCode::kUnknown
                                          : first_code,
      absl::StrCat("ls: ", unreadable,
                   unreadable == 1 ? " directory" : " directories",
                   " could not be opened"));
}

}  // namespace dualrpc::cli
