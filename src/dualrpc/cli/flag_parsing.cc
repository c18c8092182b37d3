#include "dualrpc/cli/flag_parsing.h"

#include <set>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace dualrpc::cli {
namespace {

bool IsHelp(absl::string_view name) { return name == "help" || name == "h"; }

absl::Status SetFlag(absl::CommandLineFlag& flag, absl::string_view value) {
  std::string error;
  // absl's error names the flag and the value: "Illegal value 'x' specified
  // for flag 'timeout'".
  if (!flag.ParseFrom(value, &error)) {
    return absl::InvalidArgumentError(error);
  }
  return absl::OkStatus();
}

// A list flag given again adds to the values given before it on this
// command line instead of replacing them; `set_lists` names the list flags
// this command line has set so far.
absl::Status SetOrAppend(absl::CommandLineFlag& flag, absl::string_view value,
                         std::set<std::string>* set_lists) {
  if (!flag.IsOfType<std::vector<std::string>>()) return SetFlag(flag, value);
  if (!set_lists->insert(std::string(flag.Name())).second) {
    const std::string values = flag.CurrentValue();
    if (!values.empty()) return SetFlag(flag, absl::StrCat(values, ",", value));
  }
  return SetFlag(flag, value);
}

// Parses the flag in `argv[*index]` (its dashes already stripped into
// `body`), advancing `*index` past a separate value argument if it takes one.
absl::Status ParseOneFlag(absl::string_view body,
                          absl::Span<const char* const> argv,
                          absl::Span<const std::string> repeatable,
                          size_t* index, ParsedCommandLine* parsed,
                          std::set<std::string>* set_lists) {
  const size_t equals = body.find('=');
  const absl::string_view given_name = body.substr(0, equals);
  // grpcurl's spelling: '-' in a name reads as '_' (-import-path, -max-time).
  const std::string flag_name = absl::StrReplaceAll(given_name, {{"-", "_"}});
  const absl::string_view name = flag_name;
  const bool has_value = equals != absl::string_view::npos;
  absl::string_view value =
      has_value ? body.substr(equals + 1) : absl::string_view();

  const bool is_repeatable = absl::c_linear_search(repeatable, flag_name);
  absl::CommandLineFlag* flag =
      is_repeatable ? nullptr : absl::FindCommandLineFlag(name);
  if (is_repeatable || flag != nullptr) {
    if (!has_value && flag != nullptr && flag->IsOfType<bool>()) {
      return SetFlag(*flag, "true");
    }
    if (!has_value) {
      if (*index + 1 >= argv.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("missing value for --", given_name));
      }
      value = argv[++*index];
    }
    if (flag != nullptr) return SetOrAppend(*flag, value, set_lists);
    parsed->repeated[flag_name].emplace_back(value);
    return absl::OkStatus();
  }

  absl::string_view negated = name;
  if (!has_value && absl::ConsumePrefix(&negated, "no")) {
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(negated);
    if (flag != nullptr && flag->IsOfType<bool>()) {
      return SetFlag(*flag, "false");
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown flag --", given_name));
}

}  // namespace

absl::StatusOr<ParsedCommandLine> ParseCommandLineFlags(
    absl::Span<const char* const> argv,
    absl::Span<const std::string> repeatable) {
  ParsedCommandLine parsed;
  bool flags_ended = false;
  std::set<std::string> set_lists;
  for (size_t i = 1; i < argv.size(); ++i) {
    const absl::string_view arg = argv[i];
    absl::string_view body = arg;
    const bool looks_like_flag =
        !flags_ended && arg.size() > 1 && absl::ConsumePrefix(&body, "-");
    if (!looks_like_flag) {
      parsed.positional.emplace_back(arg);
      continue;
    }
    if (body == "-") {  // The argument was "--".
      flags_ended = true;
      continue;
    }
    absl::ConsumePrefix(&body, "-");
    if (IsHelp(body)) {
      parsed.help_requested = true;
      continue;
    }
    if (body == "version") {
      parsed.version_requested = true;
      continue;
    }
    const absl::Status status =
        ParseOneFlag(body, argv, repeatable, &i, &parsed, &set_lists);
    if (!status.ok()) return status;
  }
  return parsed;
}

}  // namespace dualrpc::cli
