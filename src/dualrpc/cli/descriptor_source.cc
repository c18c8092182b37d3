#include "dualrpc/cli/descriptor_source.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dualrpc/cli/reflection_client.h"
#include "google/protobuf/compiler/importer.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"

namespace dualrpc::cli {
namespace {

using ::google::protobuf::DescriptorPool;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::FileDescriptorSet;
using ::google::protobuf::SimpleDescriptorDatabase;
using ::google::protobuf::compiler::DiskSourceTree;
using ::google::protobuf::compiler::MultiFileErrorCollector;
using ::google::protobuf::compiler::SourceTreeDescriptorDatabase;

// The well-known types that libprotobuf compiles in, so that files and sets
// that import them load without an import path for them (grpcurl and protoc
// have them built in too).
constexpr const char* kWellKnownFiles[] = {
    "google/protobuf/any.proto",
    "google/protobuf/api.proto",
    "google/protobuf/descriptor.proto",
    "google/protobuf/duration.proto",
    "google/protobuf/empty.proto",
    "google/protobuf/field_mask.proto",
    "google/protobuf/source_context.proto",
    "google/protobuf/struct.proto",
    "google/protobuf/timestamp.proto",
    "google/protobuf/type.proto",
    "google/protobuf/wrappers.proto",
};

void AddWellKnownFiles(SimpleDescriptorDatabase* database) {
  for (const char* name : kWellKnownFiles) {
    const FileDescriptor* file =
        DescriptorPool::generated_pool()->FindFileByName(name);
    if (file == nullptr) continue;
    FileDescriptorProto proto;
    file->CopyTo(&proto);
    database->Add(proto);
  }
}

// Keeps the first error, as "FILE:LINE:COLUMN: message".
class FirstParseError final : public MultiFileErrorCollector {
 public:
  void AddError(const std::string& filename, int line, int column,
                const std::string& message) override {
    if (!first_error.empty()) return;
    // Lines and columns are zero-based here, -1 when there is none.
    first_error = line < 0 ? absl::StrCat(filename, ": ", message)
                           : absl::StrCat(filename, ":", line + 1, ":",
                                          column + 1, ": ", message);
  }
  std::string first_error;
};

// Keeps the first reason a file failed to build.
class FirstBuildError final : public DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const google::protobuf::Message* /*descriptor*/,
                ErrorLocation /*location*/,
                const std::string& message) override {
    if (first_error.empty()) {
      first_error = absl::StrCat(filename, ": ", element_name, ": ", message);
    }
  }
  std::string first_error;
};

absl::StatusOr<FileDescriptorSet> ReadProtoset(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << file.rdbuf();
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read protoset ", path));
  }
  FileDescriptorSet set;
  if (!set.ParseFromString(bytes.str())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "protoset ", path, " is not a serialized FileDescriptorSet"));
  }
  return set;
}

}  // namespace

// Declared in dependency order: the pool reads the databases, the merged
// database reads the others, the parsed database reads the source tree and
// reports to parse_errors.
struct FileDescriptorSource::Databases {
  FirstParseError parse_errors;
  FirstBuildError build_errors;
  DiskSourceTree source_tree;
  // -proto: files parsed on demand from source_tree.
  std::unique_ptr<SourceTreeDescriptorDatabase> parsed;
  // -protoset: the sets' files.
  SimpleDescriptorDatabase protosets;
  SimpleDescriptorDatabase well_known;
  // well_known first: then a parsed file's import of a well-known type never
  // asks source_tree, which would report it as not found.
  std::unique_ptr<google::protobuf::MergedDescriptorDatabase> merged;
  std::unique_ptr<DescriptorPool> pool;

  std::string FirstError() const {
    return parse_errors.first_error.empty() ? build_errors.first_error
                                            : parse_errors.first_error;
  }
};

FileDescriptorSource::FileDescriptorSource(std::unique_ptr<Databases> databases)
    : databases_(std::move(databases)) {}

FileDescriptorSource::~FileDescriptorSource() = default;

absl::StatusOr<std::unique_ptr<FileDescriptorSource>>
FileDescriptorSource::FromProtoFiles(
    const std::vector<std::string>& proto_files,
    const std::vector<std::string>& import_paths) {
  auto databases = std::make_unique<Databases>();
  if (import_paths.empty()) {
    databases->source_tree.MapPath("", ".");
  } else {
    for (const std::string& path : import_paths) {
      databases->source_tree.MapPath("", path);
    }
  }
  databases->parsed =
      std::make_unique<SourceTreeDescriptorDatabase>(&databases->source_tree);
  databases->parsed->RecordErrorsTo(&databases->parse_errors);
  AddWellKnownFiles(&databases->well_known);
  databases->merged =
      std::make_unique<google::protobuf::MergedDescriptorDatabase>(
          &databases->well_known, databases->parsed.get());
  databases->pool = std::make_unique<DescriptorPool>(
      databases->merged.get(),
      databases->parsed->GetValidationErrorCollector());

  // protoc's rule: a path on disk beneath an import path stands for its
  // name relative to that import path; anything else is such a name already.
  std::vector<std::string> names;
  for (const std::string& file : proto_files) {
    std::string virtual_file;
    std::string shadowing_disk_file;
    const bool on_disk = databases->source_tree.DiskFileToVirtualFile(
                             file, &virtual_file, &shadowing_disk_file) ==
                         DiskSourceTree::SUCCESS;
    names.push_back(on_disk ? virtual_file : file);
  }
  std::unique_ptr<FileDescriptorSource> source(
      new FileDescriptorSource(std::move(databases)));
  if (absl::Status built = source->Build(names); !built.ok()) return built;
  return source;
}

absl::StatusOr<std::unique_ptr<FileDescriptorSource>>
FileDescriptorSource::FromProtosets(
    const std::vector<std::string>& protoset_files) {
  auto databases = std::make_unique<Databases>();
  std::vector<std::string> names;
  std::map<std::string, std::string> serialized_by_name;
  for (const std::string& path : protoset_files) {
    absl::StatusOr<FileDescriptorSet> set = ReadProtoset(path);
    if (!set.ok()) return set.status();
    for (const FileDescriptorProto& file : set->file()) {
      const std::string serialized = file.SerializeAsString();
      auto [it, inserted] = serialized_by_name.emplace(file.name(), serialized);
      if (!inserted) {
        if (it->second == serialized) continue;
        return absl::InvalidArgumentError(
            absl::StrCat("protoset ", path, " has another ", file.name(),
                         " than the protosets before it"));
      }
      databases->protosets.Add(file);
      names.push_back(file.name());
    }
  }
  AddWellKnownFiles(&databases->well_known);
  databases->merged =
      std::make_unique<google::protobuf::MergedDescriptorDatabase>(
          &databases->protosets, &databases->well_known);
  databases->pool = std::make_unique<DescriptorPool>(databases->merged.get(),
                                                     &databases->build_errors);
  std::unique_ptr<FileDescriptorSource> source(
      new FileDescriptorSource(std::move(databases)));
  if (absl::Status built = source->Build(names); !built.ok()) return built;
  return source;
}

absl::Status FileDescriptorSource::Build(
    const std::vector<std::string>& file_names) {
  std::set<std::string> services;
  std::set<const FileDescriptor*> seen;
  std::vector<const FileDescriptor*> unvisited;
  for (const std::string& name : file_names) {
    const FileDescriptor* file = databases_->pool->FindFileByName(name);
    if (file == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot load ", name, ": ", databases_->FirstError()));
    }
    unvisited.push_back(file);
  }
  while (!unvisited.empty()) {
    const FileDescriptor* file = unvisited.back();
    unvisited.pop_back();
    if (!seen.insert(file).second) continue;
    for (int i = 0; i < file->service_count(); ++i) {
      services.insert(file->service(i)->full_name());
    }
    for (int i = 0; i < file->dependency_count(); ++i) {
      unvisited.push_back(file->dependency(i));
    }
  }
  services_.assign(services.begin(), services.end());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> FileDescriptorSource::ListServices() {
  return services_;
}

absl::Status FileDescriptorSource::LoadSymbol(absl::string_view symbol) {
  const std::string name(symbol);
  if (databases_->pool->FindFileContainingSymbol(name) == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "cannot resolve \"", name, "\": not defined in the given files"));
  }
  return absl::OkStatus();
}

const DescriptorPool& FileDescriptorSource::pool() const {
  return *databases_->pool;
}

absl::StatusOr<std::unique_ptr<DescriptorSource>> MakeDescriptorSource(
    const SchemaFiles& files, rpc::Channel* channel, absl::Duration timeout) {
  if (!files.proto_files.empty() && !files.protosets.empty()) {
    return absl::InvalidArgumentError(
        "use either -proto or -protoset, not both");
  }
  if (!files.import_paths.empty() && files.proto_files.empty()) {
    return absl::InvalidArgumentError("-import-path needs -proto");
  }
  if (!files.proto_files.empty()) {
    return FileDescriptorSource::FromProtoFiles(files.proto_files,
                                                files.import_paths);
  }
  if (!files.protosets.empty()) {
    return FileDescriptorSource::FromProtosets(files.protosets);
  }
  return std::make_unique<ReflectionClient>(channel, timeout);
}

}  // namespace dualrpc::cli
