#ifndef DUALRPC_CLI_FLAG_PARSING_H_
#define DUALRPC_CLI_FLAG_PARSING_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace dualrpc::cli {

struct ParsedCommandLine {
  // Arguments that are not flags, in order, without argv[0].
  std::vector<std::string> positional;
  // --help, -help, -h or --h was given.
  bool help_requested = false;
  // --version or -version was given.
  bool version_requested = false;
  // The values of the repeatable flags, by the name the caller gave, in
  // command-line order; a flag that was not given has no entry.
  std::map<std::string, std::vector<std::string>> repeated;
};

// Sets the process's registered Abseil flags from `argv` (argv[0] is the
// program and is skipped). Flags may appear anywhere among the positional
// arguments:
//   --name=value, --name value   any flag ("-name" works like "--name")
//   --name, --noname             bool flags (so "-l" sets flag `l`)
//   --import-path                the flag import_path ('-' in a name is '_',
//                                so grpcurl's "-max-time" is flag max_time)
//   --proto a --proto b          a std::vector<std::string> flag given again
//                                adds to its values (as does --proto=a,b)
// A lone "--" ends flag parsing; "-" is positional.
//
// `repeatable` names flags that are not Abseil flags and may be given many
// times (grpcurl's "-H"); each takes a value, and their values are collected
// in `repeated` (names as in `repeatable`, with '_' for '-').
//
// Unlike absl::ParseCommandLine, which prints and exit(1)s on a bad flag,
// this returns INVALID_ARGUMENT, so the caller decides how usage errors
// look and with which exit status. Flags already set before the error stay
// set. Not thread-safe with other code that sets flags.
absl::StatusOr<ParsedCommandLine> ParseCommandLineFlags(
    absl::Span<const char* const> argv,
    absl::Span<const std::string> repeatable = {});

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_FLAG_PARSING_H_
