#ifndef DUALRPC_BASE_PROGRAM_INFO_H_
#define DUALRPC_BASE_PROGRAM_INFO_H_

// What every dualrpc program says about itself: its version line, and how
// its flags are listed and parsed (--help, --version, exit codes). The one
// place dualrpc-server, dualrpc-bench and the dualrpc CLI configure Abseil's
// usage reporting, so that the three agree.
//
// Exit codes (docs: README "Exit codes"): 0 success (also after --help and
// --version), 1 a runtime failure, 2 a usage error.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace dualrpc::base {

// A bad flag, flag value, stray argument or combination.
inline constexpr int kExitUsage = 2;

// CMake's PROJECT_VERSION ("0.1.0") and CMAKE_BUILD_TYPE ("RelWithDebInfo";
// "unknown" when none was set), as this build was configured.
absl::string_view ProjectVersion();
absl::string_view BuildType();

// "dualrpc-server 0.1.0 (RelWithDebInfo build)".
std::string VersionLine(absl::string_view program);

// Configures Abseil's usage reporting for `program` (call once from main,
// before any flag is parsed or listed): --help and --helpshort list every
// flag defined in dualrpc's own files (not Abseil's), each with its default,
// under file names relative to the source tree; --version prints
// VersionLine(program); `usage_message` heads --help. Not thread-safe.
void ConfigureFlagsUsage(absl::string_view program,
                         absl::string_view usage_message);

// absl::ParseCommandLine with dualrpc's exit codes, for programs that take
// their flags from Abseil's parser (after ConfigureFlagsUsage): --help,
// --helpfull, --version and the other usage flags print to stdout and exit
// 0; a flag Abseil cannot parse (unknown, or a value of the wrong type)
// prints Abseil's error and exits kExitUsage. Returns the positional
// arguments, without argv[0]: a program that takes none refuses them.
std::vector<std::string> ParseCommandLineOrExit(int argc, char** argv);

// Every flag defined in dualrpc's files, sorted by name, one entry per flag
// with its help and default ("  --name (help); default: value;"), for a
// program with a parser of its own (the CLI's --help).
std::string FlagsHelpText();

// Whether `file` (a flag's file, as Abseil reports it) is one of Abseil's
// own sources, whose flags (--flagfile, --helpfull, ...) --help leaves out.
bool IsAbseilFile(absl::string_view file);

}  // namespace dualrpc::base

#endif  // DUALRPC_BASE_PROGRAM_INFO_H_
