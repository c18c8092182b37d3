#include "dualrpc/auth/token_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dualrpc/rpc/service_registry.h"

namespace dualrpc::auth {
namespace {

bool IsFieldSeparator(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Printable ASCII, no space: what a token or a principal may hold.
bool IsPrintableWord(absl::string_view word) {
  for (char c : word) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

// The fields of `line` up to a comment (a field starting with '#').
std::vector<absl::string_view> FieldsOf(absl::string_view line) {
  std::vector<absl::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsFieldSeparator(line[i])) ++i;
    if (i == line.size() || line[i] == '#') break;
    std::size_t end = i;
    while (end < line.size() && !IsFieldSeparator(line[end])) ++end;
    fields.push_back(line.substr(i, end - i));
    i = end;
  }
  return fields;
}

}  // namespace

absl::Status CheckMethodPattern(absl::string_view pattern) {
  if (absl::EndsWith(pattern, "/*")) {
    absl::string_view service = pattern.substr(0, pattern.size() - 2);
    if (service.size() >= 2 && service[0] == '/' &&
        service.find('/', 1) == absl::string_view::npos &&
        service.find('*') == absl::string_view::npos) {
      return absl::OkStatus();
    }
  } else if (!rpc::ServiceNameOfPath(pattern).empty() &&
             pattern.find('*') == absl::string_view::npos) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("bad method \"", absl::CHexEscape(pattern),
                   "\": want /package.Service/Method or /package.Service/*"));
}

bool MethodPatternMatches(absl::string_view pattern, absl::string_view path) {
  if (absl::EndsWith(pattern, "/*")) {
    // "/pkg.Svc/" then a method name without '/'.
    absl::string_view prefix = pattern.substr(0, pattern.size() - 1);
    return path.size() > prefix.size() && absl::StartsWith(path, prefix) &&
           path.find('/', prefix.size()) == absl::string_view::npos;
  }
  return pattern == path;
}

absl::StatusOr<std::vector<std::string>> ParseMethodPatternList(
    absl::string_view list) {
  std::vector<std::string> patterns;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) continue;
    if (absl::Status valid = CheckMethodPattern(item); !valid.ok()) {
      return valid;
    }
    patterns.emplace_back(item);
  }
  return patterns;
}

absl::StatusOr<std::vector<TokenEntry>> ParseTokenFile(
    absl::string_view contents, absl::string_view file_name) {
  std::vector<TokenEntry> entries;
  // Token -> its line, for duplicates.
  std::map<absl::string_view, int> lines_of_tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    const auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_name, ":", line_number, ": ", what));
    };
    std::vector<absl::string_view> fields = FieldsOf(line);
    if (fields.empty()) continue;
    if (!IsPrintableWord(fields[0])) {
      return error("the token holds a control or non-ASCII byte");
    }
    if (fields.size() < 2) {
      return error("a token without a principal (want TOKEN PRINCIPAL "
                   "[METHOD ...])");
    }
    if (!IsPrintableWord(fields[1])) {
      return error("the principal holds a control or non-ASCII byte");
    }
    auto [it, inserted] = lines_of_tokens.emplace(fields[0], line_number);
    if (!inserted) {
      return error(absl::StrCat("duplicate token (first on line ", it->second,
                                ")"));
    }
    TokenEntry entry;
    entry.token = std::string(fields[0]);
    entry.principal = std::string(fields[1]);
    entry.line = line_number;
    for (std::size_t i = 2; i < fields.size(); ++i) {
      if (absl::Status valid = CheckMethodPattern(fields[i]); !valid.ok()) {
        return error(valid.message());
      }
      entry.methods.emplace_back(fields[i]);
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<std::vector<TokenEntry>> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    const std::string message =
        absl::StrCat("cannot read token file ", path, ": ", std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    if (error == EACCES) return absl::PermissionDeniedError(message);
    return absl::UnavailableError(message);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::UnavailableError(absl::StrCat("cannot read token file ", path));
  }
  return ParseTokenFile(contents.str(), path);
}

}  // namespace dualrpc::auth
