#include "dualrpc/fileservice/directory_entries.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "dualrpc/base/posix_error.h"

namespace dualrpc::fileservice {
namespace {

// U+FFFD REPLACEMENT CHARACTER in UTF-8.
constexpr absl::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// How a UTF-8 sequence may start (Unicode 15, table 3-7): its total length
// and the range its second byte must fall in. Later bytes are 80..BF.
// length 0: the byte can never start a well-formed sequence.
struct Utf8Lead {
  std::size_t length;
  uint8_t second_min;
  uint8_t second_max;
};

Utf8Lead LeadOf(uint8_t byte) {
  if (byte <= 0x7F) return {1, 0, 0};
  if (byte >= 0xC2 && byte <= 0xDF) return {2, 0x80, 0xBF};
  if (byte == 0xE0) return {3, 0xA0, 0xBF};
  if (byte == 0xED) return {3, 0x80, 0x9F};  // No surrogates.
  if (byte >= 0xE1 && byte <= 0xEF) return {3, 0x80, 0xBF};
  if (byte == 0xF0) return {4, 0x90, 0xBF};
  if (byte >= 0xF1 && byte <= 0xF3) return {4, 0x80, 0xBF};
  if (byte == 0xF4) return {4, 0x80, 0x8F};  // Nothing above U+10FFFF.
  return {0, 0, 0};
}

// Measures the sequence at the front of non-empty `bytes`. Returns true and
// its length if it is well formed; otherwise false and the length of its
// maximal subpart (at least 1), which becomes one U+FFFD.
bool NextSequence(absl::string_view bytes, std::size_t* length) {
  const Utf8Lead lead = LeadOf(static_cast<uint8_t>(bytes[0]));
  if (lead.length == 0) {
    *length = 1;
    return false;
  }
  for (std::size_t i = 1; i < lead.length; ++i) {
    const uint8_t min = i == 1 ? lead.second_min : 0x80;
    const uint8_t max = i == 1 ? lead.second_max : 0xBF;
    if (i >= bytes.size() || static_cast<uint8_t>(bytes[i]) < min ||
        static_cast<uint8_t>(bytes[i]) > max) {
      *length = i;
      return false;
    }
  }
  *length = lead.length;
  return true;
}

// The stored target of symlink `name` in `dir_fd`. NOT_FOUND when the entry
// vanished or stopped being a symlink after it was lstat'ed.
absl::StatusOr<std::string> ReadSymlinkTarget(int dir_fd,
                                              const std::string& name) {
  char target[PATH_MAX];
  const ssize_t length = ::readlinkat(dir_fd, name.c_str(), target, PATH_MAX);
  if (length < 0) {
    if (errno == ENOENT || errno == EINVAL) {
      return absl::NotFoundError("entry changed while listing");
    }
    return base::PosixError(absl::StrCat("read symlink ", Quote(name)), errno);
  }
  // Linux caps targets below PATH_MAX, so a full buffer means truncation.
  if (length >= PATH_MAX) {
    return absl::OutOfRangeError(
        absl::StrCat("symlink target too long: ", Quote(name)));
  }
  return std::string(target, static_cast<std::size_t>(length));
}

}  // namespace

std::string Quote(absl::string_view bytes) {
  return absl::StrCat("\"", absl::CHexEscape(bytes), "\"");
}

void SetTextField(absl::string_view raw, std::string* text,
                  std::string* raw_bytes) {
  text->clear();
  text->reserve(raw.size());
  bool replaced = false;
  absl::string_view rest = raw;
  while (!rest.empty()) {
    std::size_t length = 0;
    if (NextSequence(rest, &length)) {
      text->append(rest.data(), length);
    } else {
      text->append(kReplacementCharacter.data(), kReplacementCharacter.size());
      replaced = true;
    }
    rest.remove_prefix(length);
  }
  if (replaced) raw_bytes->assign(raw.data(), raw.size());
}

v1::DirectoryEntry::Type TypeOf(mode_t mode) {
  if (S_ISREG(mode)) return v1::DirectoryEntry::TYPE_FILE;
  if (S_ISDIR(mode)) return v1::DirectoryEntry::TYPE_DIRECTORY;
  if (S_ISLNK(mode)) return v1::DirectoryEntry::TYPE_SYMLINK;
  return v1::DirectoryEntry::TYPE_OTHER;
}

absl::Status ForEachName(DIR* dir, absl::string_view request_path,
                         absl::FunctionRef<bool(absl::string_view)> visit) {
  while (true) {
    errno = 0;
    const struct dirent* record = ::readdir(dir);
    if (record == nullptr) {
      if (errno == 0) return absl::OkStatus();
      return base::PosixError(
          absl::StrCat("read directory ", Quote(request_path)), errno);
    }
    const absl::string_view name = record->d_name;
    if (name == "." || name == "..") continue;
    if (!visit(name)) return absl::OkStatus();
  }
}

absl::StatusOr<bool> StatEntry(int dir_fd, const std::string& name,
                               absl::string_view request_path,
                               v1::DirectoryEntry* entry) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return false;
    return base::PosixError(
        absl::StrCat("stat ", Quote(name), " in ", Quote(request_path)), errno);
  }
  std::string symlink_target;
  if (S_ISLNK(st.st_mode)) {
    absl::StatusOr<std::string> target = ReadSymlinkTarget(dir_fd, name);
    if (absl::IsNotFound(target.status())) return false;
    if (!target.ok()) return target.status();
    symlink_target = *std::move(target);
  }

  entry->Clear();
  SetTextField(name, entry->mutable_name(), entry->mutable_raw_name());
  entry->set_type(TypeOf(st.st_mode));
  entry->set_size_bytes(static_cast<uint64_t>(st.st_size));
  entry->set_mode(static_cast<uint32_t>(st.st_mode & 07777));
  entry->mutable_modify_time()->set_seconds(st.st_mtim.tv_sec);
  entry->mutable_modify_time()->set_nanos(
      static_cast<int32_t>(st.st_mtim.tv_nsec));
  if (S_ISLNK(st.st_mode)) {
    SetTextField(symlink_target, entry->mutable_symlink_target(),
                 entry->mutable_raw_symlink_target());
  }
  return true;
}

}  // namespace dualrpc::fileservice
