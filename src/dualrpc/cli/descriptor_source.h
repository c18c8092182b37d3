#ifndef DUALRPC_CLI_DESCRIPTOR_SOURCE_H_
#define DUALRPC_CLI_DESCRIPTOR_SOURCE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dualrpc/rpc/channel.h"
#include "google/protobuf/descriptor.h"

namespace dualrpc::cli {

// Where the inspection commands (list, describe, call) get a server's schema
// from: its reflection service (ReflectionClient) or files on this side
// (FileDescriptorSource). grpcurl's DescriptorSource.
// Implementations are not thread-safe; one command uses one source.
class DescriptorSource {
 public:
  virtual ~DescriptorSource() = default;

  // The services, fully qualified, sorted.
  virtual absl::StatusOr<std::vector<std::string>> ListServices() = 0;

  // Makes the file that defines `symbol` (a fully qualified service, method,
  // message, enum, field... name, no leading dot) and everything it imports
  // available in pool(). NOT_FOUND when the source does not know the symbol.
  virtual absl::Status LoadSymbol(absl::string_view symbol) = 0;

  // What LoadSymbol made available (and possibly more). Lives as long as
  // the source; looking something up in it never does I/O.
  virtual const google::protobuf::DescriptorPool& pool() const = 0;
};

// A schema from files, for servers without reflection: .proto files parsed
// here (protoc's Importer), or FileDescriptorSets ("protosets", as
// `protoc --descriptor_set_out=F --include_imports` writes). Everything is
// read and built when the source is made, so a bad file fails there, before
// any call. The well-known types (google/protobuf/*.proto) are built in, for
// files that import them and sets written without --include_imports.
class FileDescriptorSource final : public DescriptorSource {
 public:
  // Parses `proto_files`, each named relative to one of `import_paths`
  // (tried in order; none given means the current directory) or as a path
  // on disk beneath one of them, as protoc takes them; imports are resolved
  // in `import_paths`. ListServices lists the services of these files and of
  // everything they import. INVALID_ARGUMENT naming the file, line and
  // column of the first error, or the file that is not found.
  static absl::StatusOr<std::unique_ptr<FileDescriptorSource>> FromProtoFiles(
      const std::vector<std::string>& proto_files,
      const std::vector<std::string>& import_paths);

  // Reads each of `protoset_files` as a serialized FileDescriptorSet;
  // ListServices lists the services of every file in them. A file may be in
  // more than one set if it is the same in each. INVALID_ARGUMENT if a set
  // cannot be read or parsed, two sets disagree about a file, or the files
  // do not build (an import missing, a type undefined).
  static absl::StatusOr<std::unique_ptr<FileDescriptorSource>> FromProtosets(
      const std::vector<std::string>& protoset_files);

  ~FileDescriptorSource() override;
  FileDescriptorSource(const FileDescriptorSource&) = delete;
  FileDescriptorSource& operator=(const FileDescriptorSource&) = delete;

  absl::StatusOr<std::vector<std::string>> ListServices() override;
  absl::Status LoadSymbol(absl::string_view symbol) override;
  const google::protobuf::DescriptorPool& pool() const override;

 private:
  struct Databases;
  explicit FileDescriptorSource(std::unique_ptr<Databases> databases);
  // Builds `file_names` and their imports; records the services.
  absl::Status Build(const std::vector<std::string>& file_names);

  std::unique_ptr<Databases> databases_;  // what pool() is built from
  std::vector<std::string> services_;     // sorted
};

// The files that stand in for reflection, from the CLI's -proto,
// -import-path and -protoset flags. All empty: reflection.
struct SchemaFiles {
  std::vector<std::string> proto_files;
  std::vector<std::string> import_paths;
  std::vector<std::string> protosets;
};

// The source a command uses: files if `files` names any, else reflection
// over `channel` with `timeout` per reflection call (`channel` must then
// outlive the source). INVALID_ARGUMENT for both -proto and -protoset (as
// grpcurl), for -import-path without -proto, and for files that do not
// load.
absl::StatusOr<std::unique_ptr<DescriptorSource>> MakeDescriptorSource(
    const SchemaFiles& files, rpc::Channel* channel, absl::Duration timeout);

}  // namespace dualrpc::cli

#endif  // DUALRPC_CLI_DESCRIPTOR_SOURCE_H_
