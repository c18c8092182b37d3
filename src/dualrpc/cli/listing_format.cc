#include "dualrpc/cli/listing_format.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace dualrpc::cli {
namespace {

constexpr absl::string_view kIso8601Utc = "%Y-%m-%dT%H:%M:%SZ";
constexpr absl::string_view kNoTime = "-";

char TypeChar(v1::DirectoryEntry::Type type) {
  switch (type) {
    case v1::DirectoryEntry::TYPE_DIRECTORY:
      return 'd';
    case v1::DirectoryEntry::TYPE_FILE:
      return '-';
    case v1::DirectoryEntry::TYPE_SYMLINK:
      return 'l';
    default:
      return '?';
  }
}

// How one class of user (owner, group, others) is shown: where its rwx bits
// sit in the mode, and its special bit (set-uid, set-gid, sticky), which
// takes the execute position as `special_with_x` or, when the execute bit is
// clear, `special_without_x`.
struct PermissionClass {
  int shift;
  uint32_t special_bit;
  char special_with_x;
  char special_without_x;
};

constexpr PermissionClass kPermissionClasses[] = {
    {6, 04000, 's', 'S'},  // owner, set-uid
    {3, 02000, 's', 'S'},  // group, set-gid
    {0, 01000, 't', 'T'},  // others, sticky
};

void AppendPermissions(uint32_t mode, const PermissionClass& c,
                       std::string* out) {
  const uint32_t bits = (mode >> c.shift) & 07;
  const bool execute = bits & 01;
  out->push_back(bits & 04 ? 'r' : '-');
  out->push_back(bits & 02 ? 'w' : '-');
  if (mode & c.special_bit) {
    out->push_back(execute ? c.special_with_x : c.special_without_x);
  } else {
    out->push_back(execute ? 'x' : '-');
  }
}

}  // namespace

std::string FormatMode(v1::DirectoryEntry::Type type, uint32_t mode) {
  std::string out;
  out.reserve(10);
  out.push_back(TypeChar(type));
  for (const PermissionClass& c : kPermissionClasses) {
    AppendPermissions(mode, c, &out);
  }
  return out;
}

std::string FormatModifyTime(const google::protobuf::Timestamp& time) {
  const absl::Time t =
      absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
  return absl::FormatTime(kIso8601Utc, t, absl::UTCTimeZone());
}

absl::string_view DisplayName(const v1::DirectoryEntry& entry) {
  return entry.raw_name().empty() ? entry.name() : entry.raw_name();
}

std::string FormatLongListing(const v1::DirectoryEntry& entry) {
  std::string line = absl::StrCat(
      FormatMode(entry.type(), entry.mode()), " ", entry.size_bytes(), " ",
      entry.has_modify_time() ? FormatModifyTime(entry.modify_time())
                              : std::string(kNoTime),
      " ", DisplayName(entry));
  if (entry.type() == v1::DirectoryEntry::TYPE_SYMLINK) {
    absl::StrAppend(&line, " -> ",
                    entry.raw_symlink_target().empty()
                        ? entry.symlink_target()
                        : entry.raw_symlink_target());
  }
  return line;
}

}  // namespace dualrpc::cli
