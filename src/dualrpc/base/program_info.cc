#include "dualrpc/base/program_info.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/internal/parse.h"
#include "absl/flags/internal/usage.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

#ifndef DUALRPC_VERSION
#error "DUALRPC_VERSION must be defined (CMake's PROJECT_VERSION)"
#endif
#ifndef DUALRPC_BUILD_TYPE
#error "DUALRPC_BUILD_TYPE must be defined (CMake's CMAKE_BUILD_TYPE)"
#endif
#ifndef DUALRPC_SOURCE_DIR
#error "DUALRPC_SOURCE_DIR must be defined (CMake's PROJECT_SOURCE_DIR)"
#endif

namespace dualrpc::base {
namespace {

// A flag's __FILE__ relative to the source tree: without the source
// directory, or without the "../" that a build with ccache's base_dir
// (relative paths) puts in front.
std::string NormalizeFlagFile(absl::string_view file) {
  if (absl::ConsumePrefix(&file, DUALRPC_SOURCE_DIR)) {
    absl::ConsumePrefix(&file, "/");
    return std::string(file);
  }
  while (absl::ConsumePrefix(&file, "../") ||
         absl::ConsumePrefix(&file, "./")) {
  }
  return std::string(file);
}

// Set while ParseCommandLineOrExit is inside Abseil's parser, whose only
// way out on a bad flag is exit(1) (Abseil 20220623 has no parser that
// returns its errors; ParseAbseilFlagsOnly came later).
std::atomic<bool> parsing_flags{false};

// An atexit handler: an exit from inside the parser is a usage error.
void ExitWithUsageCodeIfParsing() {
  if (!parsing_flags.load()) return;
  std::cout.flush();
  std::fflush(nullptr);
  std::_Exit(kExitUsage);
}

}  // namespace

absl::string_view ProjectVersion() { return DUALRPC_VERSION; }

absl::string_view BuildType() {
  constexpr absl::string_view kBuildType = DUALRPC_BUILD_TYPE;
  return kBuildType.empty() ? "unknown" : kBuildType;
}

std::string VersionLine(absl::string_view program) {
  return absl::StrCat(program, " ", ProjectVersion(), " (", BuildType(),
                      " build)");
}

bool IsAbseilFile(absl::string_view file) {
  return absl::StartsWith(file, "absl/") || absl::StrContains(file, "/absl/");
}

void ConfigureFlagsUsage(absl::string_view program,
                         absl::string_view usage_message) {
  absl::FlagsUsageConfig config;
  // Abseil's default lists only flags of a file named like the program
  // ("No flags matched"): every file but Abseil's own is ours.
  config.contains_help_flags = [](absl::string_view file) {
    return !IsAbseilFile(file);
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  config.normalize_filename = NormalizeFlagFile;
  config.version_string = [line = VersionLine(program)] {
    return absl::StrCat(line, "\n");
  };
  absl::SetFlagsUsageConfig(std::move(config));
  absl::SetProgramUsageMessage(usage_message);
}

std::vector<std::string> ParseCommandLineOrExit(int argc, char** argv) {
  static const bool registered = std::atexit(ExitWithUsageCodeIfParsing) == 0;
  (void)registered;
  parsing_flags.store(true);
  // Internal API, confined to this file: the public ParseCommandLine also
  // handles --help, exiting 1; here usage flags are handled below, exit 0.
  const std::vector<char*> remaining =
      absl::flags_internal::ParseCommandLineImpl(
          argc, argv, absl::flags_internal::ArgvListAction::kRemoveParsedArgs,
          absl::flags_internal::UsageFlagsAction::kIgnoreUsage,
          absl::flags_internal::OnUndefinedFlag::kAbortIfUndefined);
  parsing_flags.store(false);
  if (absl::flags_internal::HandleUsageFlags(
          std::cout, absl::ProgramUsageMessage()) != -1) {
    std::cout.flush();
    std::exit(0);
  }
  return std::vector<std::string>(remaining.begin() + 1, remaining.end());
}

std::string FlagsHelpText() {
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!IsAbseilFile(flag->Filename())) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](const absl::CommandLineFlag* a, const absl::CommandLineFlag* b) {
              return a->Name() < b->Name();
            });
  std::string text;
  for (const absl::CommandLineFlag* flag : flags) {
    std::string default_value = flag->DefaultValue();
    if (flag->IsOfType<std::string>()) {
      default_value = absl::StrCat("\"", default_value, "\"");
    } else if (default_value.empty()) {
      default_value = "(none)";  // an empty list
    }
    absl::StrAppendFormat(&text, "  --%s (%s); default: %s;\n", flag->Name(),
                          flag->Help(), default_value);
  }
  return text;
}

}  // namespace dualrpc::base
