#include "load_command.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "dualrpc/cli/reflection_client.h"
#include "dualrpc/client/channel_factory.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "load_report.h"
#include "load_run.h"
#include "opaque_message.h"

// ghz's flag names (ghz.sh/docs/options). absl flag names cannot hold '-':
// RunLoadCommand reads "--load-start" as --load_start.
ABSL_FLAG(std::string, target, "",
          "Where to send the load: grpc://HOST:PORT or raw://HOST:PORT.");
ABSL_FLAG(std::string, call, "",
          "The method: package.Service/Method (or package.Service.Method).");
ABSL_FLAG(std::string, d, "{}",
          "The request as JSON; @FILE reads it from FILE, @ from stdin.");
ABSL_FLAG(std::string, protoset, "",
          "A FileDescriptorSet file (protoc --descriptor_set_out "
          "--include_imports) describing the method; default: ask the "
          "server through reflection.");
ABSL_FLAG(int32_t, c, 50,
          "Concurrent callers (closed loop), or the most calls in flight "
          "(with --rps or a ramp).");
ABSL_FLAG(int32_t, connections, 1,
          "TCP connections the callers share, round-robin.");
ABSL_FLAG(int64_t, n, 200, "Calls to make in all; ignored when -z is set.");
ABSL_FLAG(absl::Duration, z, absl::ZeroDuration(),
          "Run for this long (e.g. 10s) instead of -n calls; calls in flight "
          "at the end finish and count.");
ABSL_FLAG(double, rps, 0,
          "Calls per second, started at fixed intended times; latency is "
          "measured from each call's intended start (coordinated omission "
          "corrected). 0: closed loop, as fast as the callers go.");
ABSL_FLAG(std::string, load_schedule, "const",
          "const (--rps), step or line: a ramp from --load-start by "
          "--load-step (each --load-step-duration for step, each second for "
          "line) up or down to --load-end.");
ABSL_FLAG(double, load_start, 0, "The ramp's first rate, calls per second.");
ABSL_FLAG(double, load_end, 0, "The ramp's last rate; 0: no bound.");
ABSL_FLAG(double, load_step, 0, "The ramp's step (may be negative).");
ABSL_FLAG(absl::Duration, load_step_duration, absl::Seconds(1),
          "How long each step of a step ramp lasts.");
// For --help only: RunLoadCommand takes every -H out of argv before absl
// parses it, since absl keeps only the last value of a repeated flag.
ABSL_FLAG(std::vector<std::string>, H, {},
          "Request metadata 'key: value'; repeat -H for more than one.");
ABSL_FLAG(
    absl::Duration, timeout, absl::Seconds(20),
    "Each call's deadline; 0 for none. Reflection calls get at most 20s.");
ABSL_FLAG(std::string, O, "summary",
          "Output format: summary, json, csv "
          "(one row per call) or html (one self-contained page).");
ABSL_FLAG(std::string, o, "", "Write the report here instead of stdout.");
ABSL_FLAG(bool, parse_response, false,
          "Parse every response into its message type (a reused "
          "DynamicMessage) instead of only checking its wire format.");

namespace dualrpc::bench {
namespace {

namespace protobuf = ::google::protobuf;

constexpr char kUsage[] =
    "Load-tests one unary method of any gRPC or raw dualrpc server, as ghz.\n"
    "Usage: dualrpc-bench load --target grpc://HOST:PORT|raw://HOST:PORT\n"
    "         --call package.Service/Method [-d JSON|@FILE] [-c 50] [-n 200 |"
    " -z 10s]\n"
    "         [--rps N | --load-schedule step|line --load-start N ...]\n"
    "         [-H 'key: value']... [-O summary|json|csv|html] [-o FILE]";

// The usage-error exit code; 1 is for runs that could not happen.
constexpr int kUsageError = 2;
// Deadline of each reflection call when --timeout is 0 (no call deadline):
// a server that never answers reflection must not hang the tool.
constexpr absl::Duration kReflectionTimeout = absl::Seconds(20);

// What absl's --help lists: this file's flags only.
void UseLoadHelp() {
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "load_command.cc");
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(kUsage);
}

// Rewrites argv for absl: "--load-start=1" as "--load_start=1" (ghz spells
// flags with '-'), and takes every -H out (absl keeps only the last of a
// repeated flag) into `headers`.
std::vector<std::string> NormalizeArgs(int argc, char** argv,
                                       std::vector<std::string>* headers) {
  std::vector<std::string> args = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      args.insert(args.end(), argv + i, argv + argc);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      args.push_back(std::move(arg));
      continue;
    }
    const std::size_t dashes = arg[1] == '-' ? 2 : 1;
    const std::size_t eq = arg.find('=');
    std::string name = arg.substr(
        dashes, eq == std::string::npos ? std::string::npos : eq - dashes);
    if (name == "H") {
      if (eq != std::string::npos) {
        headers->push_back(arg.substr(eq + 1));
      } else if (i + 1 < argc) {
        headers->push_back(argv[++i]);
      }
      continue;
    }
    for (char& ch : name)
      if (ch == '-') ch = '_';
    std::string rewritten = std::string(dashes, '-') + name;
    if (eq != std::string::npos) rewritten += arg.substr(eq);
    args.push_back(std::move(rewritten));
  }
  return args;
}

absl::StatusOr<rpc::Metadata> ParseHeaders(
    const std::vector<std::string>& headers) {
  rpc::Metadata metadata;
  for (const std::string& header : headers) {
    const std::size_t colon = header.find(':');
    if (colon == std::string::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("-H \"", header, "\" is not 'key: value'"));
    }
    std::string key(absl::StripAsciiWhitespace(header.substr(0, colon)));
    absl::AsciiStrToLower(&key);
    metadata.emplace_back(
        std::move(key),
        std::string(absl::StripAsciiWhitespace(header.substr(colon + 1))));
  }
  return metadata;
}

absl::StatusOr<std::string> ReadAll(std::istream& in, const std::string& name) {
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  if (in.bad()) return absl::NotFoundError(absl::StrCat("cannot read ", name));
  return text;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  return ReadAll(in, path);
}

// -d: JSON, @FILE or @ (stdin).
absl::StatusOr<std::string> RequestJson(const std::string& data) {
  if (data == "@") return ReadAll(std::cin, "stdin");
  if (absl::StartsWith(data, "@")) return ReadFile(data.substr(1));
  return data;
}

// "pkg.Svc/Method", "/pkg.Svc/Method" or "pkg.Svc.Method".
absl::StatusOr<std::pair<std::string, std::string>> SplitMethod(
    absl::string_view text) {
  absl::string_view name = text;
  absl::ConsumePrefix(&name, "/");
  std::size_t split = name.rfind('/');
  if (split == absl::string_view::npos) split = name.rfind('.');
  if (split == absl::string_view::npos || split == 0 ||
      split + 1 == name.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--call \"", text, "\" is not package.Service/Method"));
  }
  return std::make_pair(std::string(name.substr(0, split)),
                        std::string(name.substr(split + 1)));
}

// Where the method's descriptors come from; owns whatever the pool reads.
class Descriptors {
 public:
  // Through server reflection over `channel` (not owned, outlives this).
  static absl::StatusOr<std::unique_ptr<Descriptors>> FromReflection(
      rpc::Channel* channel, absl::Duration timeout,
      const std::string& service) {
    auto descriptors = std::unique_ptr<Descriptors>(new Descriptors());
    descriptors->reflection_ =
        std::make_unique<cli::ReflectionClient>(channel, timeout);
    if (absl::Status loaded = descriptors->reflection_->LoadSymbol(service);
        !loaded.ok()) {
      return absl::Status(loaded.code(),
                          absl::StrCat("reflection: ", loaded.message()));
    }
    descriptors->pool_ = &descriptors->reflection_->pool();
    return descriptors;
  }

  // From a serialized FileDescriptorSet; files build on demand, in
  // dependency order, from the database.
  static absl::StatusOr<std::unique_ptr<Descriptors>> FromProtoset(
      const std::string& path) {
    absl::StatusOr<std::string> bytes = ReadFile(path);
    if (!bytes.ok()) return bytes.status();
    protobuf::FileDescriptorSet set;
    if (!set.ParseFromString(*bytes)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is not a FileDescriptorSet"));
    }
    auto descriptors = std::unique_ptr<Descriptors>(new Descriptors());
    descriptors->database_ =
        std::make_unique<protobuf::SimpleDescriptorDatabase>();
    for (const protobuf::FileDescriptorProto& file : set.file()) {
      if (!descriptors->database_->Add(file)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": ", file.name(), " is there twice"));
      }
    }
    descriptors->own_pool_ = std::make_unique<protobuf::DescriptorPool>(
        descriptors->database_.get());
    descriptors->pool_ = descriptors->own_pool_.get();
    return descriptors;
  }

  const protobuf::DescriptorPool& pool() const { return *pool_; }

 private:
  Descriptors() = default;

  std::unique_ptr<cli::ReflectionClient> reflection_;
  std::unique_ptr<protobuf::SimpleDescriptorDatabase> database_;
  std::unique_ptr<protobuf::DescriptorPool> own_pool_;
  const protobuf::DescriptorPool* pool_ = nullptr;
};

absl::StatusOr<LoadSchedule> ScheduleFromFlags() {
  LoadSchedule schedule;
  const std::string kind = absl::GetFlag(FLAGS_load_schedule);
  if (kind == "const") {
    schedule.kind = LoadSchedule::Kind::kConst;
    schedule.start = absl::GetFlag(FLAGS_rps);
    return schedule;
  }
  if (kind == "step") {
    schedule.kind = LoadSchedule::Kind::kStep;
  } else if (kind == "line") {
    schedule.kind = LoadSchedule::Kind::kLine;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--load-schedule \"", kind, "\" is not const, step or line"));
  }
  schedule.start = absl::GetFlag(FLAGS_load_start);
  schedule.end = absl::GetFlag(FLAGS_load_end);
  schedule.step = absl::GetFlag(FLAGS_load_step);
  schedule.step_duration = absl::GetFlag(FLAGS_load_step_duration);
  if (schedule.start <= 0) {
    return absl::InvalidArgumentError(
        "a step or line schedule needs --load-start > 0");
  }
  if (schedule.kind == LoadSchedule::Kind::kStep &&
      schedule.step_duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--load-step-duration must be positive");
  }
  return schedule;
}

// A usage error (exit 2) or a failure to run (exit 1), reported on stderr.
struct Failure {
  int exit_code;
  absl::Status status;
};

int Report(const Failure& failure) {
  std::fprintf(stderr, "dualrpc-bench load: %s\n",
               failure.status.ToString().c_str());
  return failure.exit_code;
}

int Load(const std::vector<std::string>& headers) {
  const std::string target = absl::GetFlag(FLAGS_target);
  if (target.empty() || absl::GetFlag(FLAGS_call).empty()) {
    return Report({kUsageError, absl::InvalidArgumentError(
                                    "--target and --call are required "
                                    "(dualrpc-bench load --help)")});
  }
  absl::StatusOr<std::pair<std::string, std::string>> names =
      SplitMethod(absl::GetFlag(FLAGS_call));
  if (!names.ok()) return Report({kUsageError, names.status()});
  absl::StatusOr<LoadFormat> format = ParseLoadFormat(absl::GetFlag(FLAGS_O));
  if (!format.ok()) return Report({kUsageError, format.status()});
  absl::StatusOr<LoadSchedule> schedule = ScheduleFromFlags();
  if (!schedule.ok()) return Report({kUsageError, schedule.status()});
  absl::StatusOr<rpc::Metadata> metadata = ParseHeaders(headers);
  if (!metadata.ok()) return Report({kUsageError, metadata.status()});
  absl::StatusOr<std::string> json = RequestJson(absl::GetFlag(FLAGS_d));
  if (!json.ok()) return Report({kUsageError, json.status()});

  client::ChannelFactoryOptions channel_options;
  channel_options.connections = absl::GetFlag(FLAGS_connections);
  absl::StatusOr<std::shared_ptr<rpc::Channel>> channel =
      client::CreateChannel(target, channel_options);
  if (!channel.ok()) return Report({kUsageError, channel.status()});

  absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout <= absl::ZeroDuration()) timeout = absl::InfiniteDuration();
  const std::string protoset = absl::GetFlag(FLAGS_protoset);
  absl::StatusOr<std::unique_ptr<Descriptors>> descriptors =
      protoset.empty()
          ? Descriptors::FromReflection(channel->get(),
                                        std::min(timeout, kReflectionTimeout),
                                        names->first)
          : Descriptors::FromProtoset(protoset);
  if (!descriptors.ok()) return Report({1, descriptors.status()});
  const protobuf::ServiceDescriptor* service =
      (*descriptors)->pool().FindServiceByName(names->first);
  if (service == nullptr) {
    return Report(
        {1, absl::NotFoundError(absl::StrCat("no service ", names->first,
                                             " in the descriptors"))});
  }
  const protobuf::MethodDescriptor* method =
      service->FindMethodByName(names->second);
  if (method == nullptr) {
    return Report(
        {1, absl::NotFoundError(absl::StrCat(
                "service ", names->first, " has no method ", names->second))});
  }
  if (method->client_streaming() || method->server_streaming()) {
    return Report({1, absl::UnimplementedError(
                          absl::StrCat(method->full_name(),
                                       " is a streaming method; the "
                                       "load tool calls unary methods"))});
  }

  // The request is built once from JSON and serialized once; every call
  // sends those bytes (PreserializedMessage).
  protobuf::DynamicMessageFactory factory(&(*descriptors)->pool());
  const protobuf::Message* response_prototype =
      factory.GetPrototype(method->output_type());
  std::unique_ptr<protobuf::Message> request(
      factory.GetPrototype(method->input_type())->New());
  if (auto parsed = protobuf::util::JsonStringToMessage(*json, request.get());
      !parsed.ok()) {
    return Report(
        {kUsageError, absl::InvalidArgumentError(absl::StrCat(
                          "-d is not a ", method->input_type()->full_name(),
                          " in JSON: ", parsed.message().ToString()))});
  }
  const PreserializedMessage wire_request(method->input_type()->full_name(),
                                          request->SerializeAsString());
  const std::string response_type = method->output_type()->full_name();
  const bool parse_response = absl::GetFlag(FLAGS_parse_response);

  LoadSpec spec;
  spec.channel = channel->get();
  spec.method = absl::StrCat("/", service->full_name(), "/", method->name());
  spec.request = &wire_request;
  spec.new_response = [&]() -> std::unique_ptr<protobuf::MessageLite> {
    if (parse_response) {
      return std::unique_ptr<protobuf::MessageLite>(response_prototype->New());
    }
    return std::make_unique<SkimmedResponse>(response_type);
  };
  spec.options.timeout = timeout;
  spec.options.metadata = *std::move(metadata);
  spec.concurrency = absl::GetFlag(FLAGS_c);
  spec.duration = absl::GetFlag(FLAGS_z);
  spec.total_calls =
      spec.duration > absl::ZeroDuration() ? 0 : absl::GetFlag(FLAGS_n);
  spec.schedule = *schedule;
  spec.open_loop =
      schedule->kind != LoadSchedule::Kind::kConst || schedule->start > 0;
  spec.keep_calls = *format == LoadFormat::kCsv;
  absl::StatusOr<LoadResult> result = RunLoad(spec);
  if (!result.ok()) return Report({kUsageError, result.status()});
  result->target = target;
  result->connections = channel_options.connections;
  if (result->calls_dropped > 0) {
    std::fprintf(stderr,
                 "dualrpc-bench load: the CSV holds the first %lld calls; "
                 "%lld more were counted but not kept\n",
                 static_cast<long long>(kMaxKeptCalls),
                 static_cast<long long>(result->calls_dropped));
  }

  const std::string output = absl::GetFlag(FLAGS_o);
  if (output.empty()) {
    WriteLoadReport(*result, *format, std::cout);
    std::cout.flush();
    return std::cout ? 0 : 1;
  }
  std::ofstream out(output, std::ios::binary | std::ios::trunc);
  WriteLoadReport(*result, *format, out);
  out.close();
  if (!out) {
    return Report(
        {1, absl::InternalError(absl::StrCat("cannot write ", output))});
  }
  return 0;
}

}  // namespace

int RunLoadCommand(int argc, char** argv) {
  UseLoadHelp();
  std::vector<std::string> headers;
  std::vector<std::string> args = NormalizeArgs(argc, argv, &headers);
  std::vector<char*> arg_pointers;
  for (std::string& arg : args) arg_pointers.push_back(arg.data());
  const std::vector<char*> positional = absl::ParseCommandLine(
      static_cast<int>(arg_pointers.size()), arg_pointers.data());
  if (positional.size() > 1) {
    return Report({kUsageError, absl::InvalidArgumentError(absl::StrCat(
                                    "unexpected argument \"", positional[1],
                                    "\" (dualrpc-bench load --help)"))});
  }
  return Load(headers);
}

}  // namespace dualrpc::bench
