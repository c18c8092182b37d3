#include "dualrpc/cli/listing_format.h"

#include <cstdint>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace dualrpc::cli {
namespace {

using Entry = v1::DirectoryEntry;

google::protobuf::Timestamp UtcTimestamp(absl::CivilSecond civil,
                                         int32_t nanos = 0) {
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(
      absl::ToUnixSeconds(absl::FromCivil(civil, absl::UTCTimeZone())));
  timestamp.set_nanos(nanos);
  return timestamp;
}

TEST(FormatModeTest, TypeCharacters) {
  EXPECT_EQ(FormatMode(Entry::TYPE_DIRECTORY, 0755), "drwxr-xr-x");
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 0644), "-rw-r--r--");
  EXPECT_EQ(FormatMode(Entry::TYPE_SYMLINK, 0777), "lrwxrwxrwx");
  EXPECT_EQ(FormatMode(Entry::TYPE_OTHER, 0600), "?rw-------");
  EXPECT_EQ(FormatMode(Entry::TYPE_UNSPECIFIED, 0), "?---------");
}

TEST(FormatModeTest, EachPermissionBit) {
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 0400), "-r--------");
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 0200), "--w-------");
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 0100), "---x------");
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 0040), "----r-----");
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 0020), "-----w----");
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 0010), "------x---");
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 0004), "-------r--");
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 0002), "--------w-");
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 0001), "---------x");
}

TEST(FormatModeTest, SpecialBitsLikeLs) {
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 04755), "-rwsr-xr-x");
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 04644), "-rwSr--r--");
  EXPECT_EQ(FormatMode(Entry::TYPE_DIRECTORY, 02775), "drwxrwsr-x");
  EXPECT_EQ(FormatMode(Entry::TYPE_DIRECTORY, 02765), "drwxrwSr-x");
  EXPECT_EQ(FormatMode(Entry::TYPE_DIRECTORY, 01777), "drwxrwxrwt");
  EXPECT_EQ(FormatMode(Entry::TYPE_DIRECTORY, 01776), "drwxrwxrwT");
  EXPECT_EQ(FormatMode(Entry::TYPE_FILE, 07000), "---S--S--T");
}

TEST(FormatModeTest, IgnoresBitsAboveSpecialBits) {
  EXPECT_EQ(FormatMode(Entry::TYPE_DIRECTORY, 040755), "drwxr-xr-x");
}

TEST(FormatModifyTimeTest, UtcIso8601ToTheSecond) {
  EXPECT_EQ(FormatModifyTime(
                UtcTimestamp(absl::CivilSecond(2026, 11, 25, 19, 56, 0))),
            "2026-11-25T19:56:00Z");
  EXPECT_EQ(FormatModifyTime(UtcTimestamp(
                absl::CivilSecond(2026, 1, 2, 3, 4, 5), 999999999)),
            "2026-01-02T03:04:05Z");
  EXPECT_EQ(FormatModifyTime(google::protobuf::Timestamp()),
            "1970-01-01T00:00:00Z");
}

TEST(FormatModifyTimeTest, TruncatesTowardThePastBeforeTheEpoch) {
  google::protobuf::Timestamp half_second_before_epoch;
  half_second_before_epoch.set_seconds(-1);
  half_second_before_epoch.set_nanos(500000000);
  EXPECT_EQ(FormatModifyTime(half_second_before_epoch), "1969-12-31T23:59:59Z");
}

TEST(FormatLongListingTest, Directory) {
  Entry entry;
  entry.set_name("src");
  entry.set_type(Entry::TYPE_DIRECTORY);
  entry.set_mode(0755);
  entry.set_size_bytes(4096);
  *entry.mutable_modify_time() =
      UtcTimestamp(absl::CivilSecond(2026, 11, 25, 19, 56, 0));
  EXPECT_EQ(FormatLongListing(entry),
            "drwxr-xr-x 4096 2026-11-25T19:56:00Z src");
}

TEST(FormatLongListingTest, SymlinkShowsTarget) {
  Entry entry;
  entry.set_name("link");
  entry.set_type(Entry::TYPE_SYMLINK);
  entry.set_mode(0777);
  entry.set_size_bytes(11);
  entry.set_symlink_target("../some/file");
  *entry.mutable_modify_time() =
      UtcTimestamp(absl::CivilSecond(2024, 2, 29, 0, 0, 1));
  EXPECT_EQ(FormatLongListing(entry),
            "lrwxrwxrwx 11 2024-02-29T00:00:01Z link -> ../some/file");
}

TEST(FormatLongListingTest, FileWithoutModifyTime) {
  Entry entry;
  entry.set_name("a.txt");
  entry.set_type(Entry::TYPE_FILE);
  entry.set_mode(0644);
  entry.set_size_bytes(18446744073709551615u);
  EXPECT_EQ(FormatLongListing(entry),
            "-rw-r--r-- 18446744073709551615 - a.txt");
}

TEST(FormatLongListingTest, NonUtf8NamesPrintTheirRawBytes) {
  Entry entry;
  entry.set_name("bad\xEF\xBF\xBD");
  entry.set_raw_name("bad\xFF");
  entry.set_type(Entry::TYPE_SYMLINK);
  entry.set_mode(0777);
  entry.set_symlink_target("t\xEF\xBF\xBD");
  entry.set_raw_symlink_target("t\xFE");
  EXPECT_EQ(DisplayName(entry), "bad\xFF");
  EXPECT_EQ(FormatLongListing(entry), "lrwxrwxrwx 0 - bad\xFF -> t\xFE");
}

TEST(DisplayNameTest, Utf8NameAsIs) {
  Entry entry;
  entry.set_name("caf\xC3\xA9");
  EXPECT_EQ(DisplayName(entry), "caf\xC3\xA9");
}

}  // namespace
}  // namespace dualrpc::cli
