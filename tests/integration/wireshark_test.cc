// tshark decodes the raw wire with the shipped dissector,
// contrib/wireshark/dualrpc.lua (docs/PROTOCOL.md):
//  * a live capture on lo of dualrpc CLI calls to a real dualrpc-server
//    (skipped where capturing is not permitted): methods and increasing call
//    ids of the REQUESTs, status codes of the RESPONSEs, the prefaces, and
//    the messages decoded by Wireshark's protobuf dissector through the
//    method path;
//  * a pcap built here from PROTOCOL.md §9's example bytes plus one frame of
//    every other type, cut so that a frame spans two TCP segments and
//    several frames share one: every field of every frame, and expert info
//    on a malformed PING;
//  * a COMPRESSED message left as bytes, not misread as protobuf;
//  * the port preference, for a capture that starts after the preface.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

extern char** environ;

namespace dualrpc::integration {
namespace {

using ::dualrpc_testing::BinaryPath;
using ::dualrpc_testing::CommandResult;
using ::dualrpc_testing::IsOk;
using ::dualrpc_testing::RunCommand;
using ::dualrpc_testing::TempDir;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kTsharkPath[] = DUALRPC_TSHARK_PATH;
constexpr char kSourceDir[] = DUALRPC_SOURCE_DIR;
constexpr char kProtobufIncludeDir[] = DUALRPC_PROTOBUF_INCLUDE_DIR;

// Bounds every wait on a tshark process; one starts in about a second.
constexpr absl::Duration kTsharkTimeout = absl::Seconds(20);

constexpr char kEchoMethod[] = "/dualrpc.v1.FileService/Echo";
constexpr char kListMethod[] = "/dualrpc.v1.FileService/ListDirectory";

// The options that load the dissector and point the protobuf dissector at
// the repository's .proto files (loaded at start) and at protobuf's own
// (google/protobuf/timestamp.proto, for imports only). Heuristics go first
// because the server's port is whatever port 0 gave: it may be one that
// Wireshark assigns to another protocol, and the preface magic should decide.
std::vector<std::string> DissectorOptions() {
  return {
      "-n",
      "-X",
      absl::StrCat("lua_script:", kSourceDir, "/contrib/wireshark/dualrpc.lua"),
      "-o",
      "tcp.try_heuristic_first:TRUE",
      "-o",
      absl::StrCat("uat:protobuf_search_paths:\"", kSourceDir,
                   "/proto\",\"TRUE\""),
      "-o",
      absl::StrCat("uat:protobuf_search_paths:\"", kProtobufIncludeDir,
                   "\",\"FALSE\"")};
}

// One decoded packet: field name -> tshark's text for it (several
// occurrences in the packet joined by ',', absent fields empty).
using Row = std::map<std::string, std::string>;

// Runs `tshark -r pcap` with the dissector (plus `extra_options`), keeps the
// packets matching `display_filter` and returns the `fields` of each. A Lua
// error, which tshark reports without failing (on stderr while loading, as
// expert info while dissecting), is an error here.
absl::StatusOr<std::vector<Row>> DecodeFields(
    const std::string& pcap, const std::string& display_filter,
    const std::vector<std::string>& fields,
    const std::vector<std::string>& extra_options = {}) {
  constexpr char kExpertField[] = "_ws.expert.message";
  std::vector<std::string> argv = {kTsharkPath, "-r", pcap};
  for (const std::string& option : DissectorOptions()) argv.push_back(option);
  for (const std::string& option : extra_options) argv.push_back(option);
  for (const char* option : {"-Y", display_filter.c_str(), "-T", "fields", "-E",
                             "occurrence=a", "-E", "aggregator=,"}) {
    argv.push_back(option);
  }
  for (const std::string& field : fields) {
    argv.push_back("-e");
    argv.push_back(field);
  }
  argv.push_back("-e");
  argv.push_back(kExpertField);
  CommandResult result = RunCommand(argv, "", kTsharkTimeout);
  if (result.exit_code != 0 || absl::StrContains(result.stderr_text, "Lua")) {
    return absl::InternalError(absl::StrCat("tshark exited ", result.exit_code,
                                            ": ", result.stderr_text));
  }
  std::vector<Row> rows;
  for (absl::string_view line :
       absl::StrSplit(result.stdout_text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> cells = absl::StrSplit(line, '\t');
    if (cells.size() != fields.size() + 1) {
      return absl::InternalError(absl::StrCat("tshark printed: ", line));
    }
    if (absl::StrContains(cells.back(), "Lua Error")) {
      return absl::InternalError(cells.back());
    }
    Row row;
    for (size_t i = 0; i < cells.size(); ++i) {
      row[i < fields.size() ? fields[i] : kExpertField] = cells[i];
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::string> Occurrences(const std::string& cell) {
  return absl::StrSplit(cell, ',', absl::SkipEmpty());
}

uint32_t ToUint(absl::string_view text) {
  uint32_t value = 0;
  EXPECT_TRUE(absl::SimpleAtoi(text, &value)) << text;
  return value;
}

// ---- A live capture --------------------------------------------------------

// A `tshark -i lo` child process writing a capture file. Owns the process:
// the destructor kills (SIGKILL) and reaps it unless Stop() already reaped it.
// Not thread-safe.
//
// tshark says "Capturing on" a little before its filter is attached, and
// packets reach it in blocks, some time after they crossed lo; stopped by
// SIGINT, it drops what has not reached it yet. So a test waits for packets
// of its own: one it sends until one shows up (capturing has begun), and one
// after everything it wants in the file (all of that has been written). For
// that, tshark also prints each packet's TCP source port to its stdout as it
// writes the packet (WaitForPacketFrom).
class LoopbackCapture {
 public:
  // Starts tshark capturing `capture_filter` on lo into `path` and waits (up
  // to kTsharkTimeout) until it reports "Capturing on". PermissionDenied when
  // tshark exited because this process may not capture; other errors for
  // anything else.
  static absl::StatusOr<std::unique_ptr<LoopbackCapture>> Start(
      const std::string& capture_filter, const std::string& path) {
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
      return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
    }
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
      ::close(out_pipe[0]);
      ::close(out_pipe[1]);
      return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    std::vector<std::string> argv = {
        kTsharkPath, "-n", "-i", "lo", "-f",     capture_filter, "-w",
        path,        "-P", "-l", "-T", "fields", "-e",           "tcp.srcport"};
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    pid_t pid = -1;
    int spawned = ::posix_spawn(&pid, kTsharkPath, &actions, nullptr,
                                args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (spawned != 0) {
      ::close(out_pipe[0]);
      ::close(err_pipe[0]);
      return absl::InternalError(absl::StrCat("posix_spawn ", kTsharkPath, ": ",
                                              std::strerror(spawned)));
    }
    auto capture = std::unique_ptr<LoopbackCapture>(
        new LoopbackCapture(pid, out_pipe[0], err_pipe[0]));
    const std::string& text = capture->stderr_text_;
    if (capture->ReadUntil(
            [&text] { return absl::StrContains(text, "Capturing on"); },
            absl::Now() + kTsharkTimeout)) {
      return capture;
    }
    if (absl::StrContains(text, "ermission") ||
        absl::StrContains(text, "not permitted")) {
      return absl::PermissionDeniedError(text);
    }
    return absl::InternalError(
        absl::StrCat("tshark did not start capturing: ", text));
  }

  LoopbackCapture(const LoopbackCapture&) = delete;
  LoopbackCapture& operator=(const LoopbackCapture&) = delete;

  ~LoopbackCapture() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }

  // Waits up to `timeout` until tshark has written a packet from TCP port
  // `source_port`, and so every packet captured before it.
  absl::Status WaitForPacketFrom(uint16_t source_port,
                                 absl::Duration timeout = kTsharkTimeout) {
    const std::string line = absl::StrCat("\n", source_port, "\n");
    const std::string& text = stdout_text_;
    if (ReadUntil([&] { return absl::StrContains(text, line); },
                  absl::Now() + timeout)) {
      return absl::OkStatus();
    }
    return absl::DeadlineExceededError(
        absl::StrCat("tshark did not report a packet from port ", source_port,
                     ": ", stderr_text_));
  }

  // Interrupts tshark (it then completes the file and exits) and waits up to
  // kTsharkTimeout for it to exit.
  absl::Status Stop() {
    ::kill(pid_, SIGINT);
    const absl::Time deadline = absl::Now() + kTsharkTimeout;
    ReadUntil([] { return false; }, deadline);  // until EOF: tshark exits
    while (true) {
      int status = 0;
      pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        pid_ = -1;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
          return absl::OkStatus();
        }
        return absl::InternalError(absl::StrCat("tshark exited with status ",
                                                status, ": ", stderr_text_));
      }
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError("tshark did not exit after SIGINT");
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

 private:
  LoopbackCapture(pid_t pid, int stdout_fd, int stderr_fd)
      : pid_(pid), fds_{stdout_fd, stderr_fd} {}

  // Appends tshark's stdout and stderr to stdout_text_ and stderr_text_
  // until `done()` (true), or EOF on both, or `deadline` (false).
  bool ReadUntil(const std::function<bool()>& done, absl::Time deadline) {
    std::string* texts[2] = {&stdout_text_, &stderr_text_};
    while (!done()) {
      int timeout_ms =
          static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
      if (timeout_ms <= 0) return false;
      pollfd poll_fds[2] = {{fds_[0], POLLIN, 0}, {fds_[1], POLLIN, 0}};
      if (fds_[0] < 0 && fds_[1] < 0) return false;
      int ready = ::poll(poll_fds, 2, timeout_ms);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      for (int i = 0; i < 2; ++i) {
        if (fds_[i] < 0 || poll_fds[i].revents == 0) continue;
        char chunk[4096];
        ssize_t n = ::read(fds_[i], chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          ::close(fds_[i]);
          fds_[i] = -1;
          continue;
        }
        texts[i]->append(chunk, static_cast<size_t>(n));
      }
    }
    return true;
  }

  pid_t pid_;
  int fds_[2];  // tshark's stdout and stderr, -1 once at EOF
  // Starts with a newline so that every printed line is "\n<line>\n".
  std::string stdout_text_ = "\n";
  std::string stderr_text_;
};

// Opens a TCP connection to 127.0.0.1:`port` and closes it at once. Returns
// its local port.
absl::StatusOr<uint16_t> ConnectAndClose(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(std::strerror(errno));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    absl::Status error = absl::InternalError(std::strerror(errno));
    ::close(fd);
    return error;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// Connects to 127.0.0.1:`port` until `capture` reports one of those
// connections' packets (each try waits 250 ms), for up to kTsharkTimeout.
absl::Status WaitUntilCapturing(LoopbackCapture* capture, uint16_t port) {
  const absl::Time deadline = absl::Now() + kTsharkTimeout;
  absl::Status seen = absl::DeadlineExceededError("no try");
  while (!seen.ok() && absl::Now() < deadline) {
    absl::StatusOr<uint16_t> local_port = ConnectAndClose(port);
    if (!local_port.ok()) return local_port.status();
    seen = capture->WaitForPacketFrom(*local_port, absl::Milliseconds(250));
  }
  return seen;
}

// tcp.stream -> the (call id, text) pairs of its frames, in capture order.
using Streams =
    std::map<std::string, std::vector<std::pair<uint32_t, std::string>>>;

// Groups rows by tcp.stream, pairing the call ids of the frames of type
// `type` with the values of `value_field`, which only those frames carry: a
// packet may carry several frames (a streaming call's REQUEST and its first
// MESSAGE; a 1.2 server's SETTINGS and a RESPONSE), each with its own type
// and call id.
Streams ByStream(const std::vector<Row>& rows, const std::string& value_field,
                 uint32_t type) {
  Streams streams;
  for (const Row& row : rows) {
    std::vector<std::string> types = Occurrences(row.at("dualrpc.type"));
    std::vector<std::string> ids = Occurrences(row.at("dualrpc.call_id"));
    std::vector<std::string> values = Occurrences(row.at(value_field));
    EXPECT_EQ(ids.size(), types.size()) << row.at("dualrpc.type");
    // Every frame carries the field (the dissector adds a generated method
    // to the frames of a call), or only those of `type` do.
    const bool every_frame = values.size() == ids.size();
    std::size_t value = 0;
    for (size_t i = 0; i < ids.size() && i < types.size(); ++i) {
      // The dissector shows types in hex ("0x01").
      uint32_t frame_type = 0;
      const bool matches =
          absl::SimpleHexAtoi(types[i], &frame_type) && frame_type == type;
      if (every_frame) value = i;
      if (matches && value < values.size()) {
        streams[row.at("tcp.stream")].emplace_back(ToUint(ids[i]),
                                                   values[value]);
      }
      if (!every_frame && matches) ++value;
    }
    EXPECT_TRUE(every_frame || value == values.size()) << row.at(value_field);
  }
  return streams;
}

TEST(WiresharkTest, DecodesACapturedRunOfCliCalls) {
  ASSERT_EQ(::access(kTsharkPath, X_OK), 0)
      << "tshark not found (" << kTsharkPath << "): run scripts/bootstrap";
  TempDir root;
  root.WriteFile("a.txt", "a\n");
  root.WriteFile("b.txt", "b\n");
  root.WriteFile("c.txt", "c\n");
  absl::StatusOr<std::unique_ptr<dualrpc_testing::ServerProcess>> server =
      dualrpc_testing::StartServer(root.path());
  ASSERT_THAT(server, IsOk());
  const std::string raw_address = (*server)->Address("raw").value_or("");
  const std::string port = raw_address.substr(raw_address.rfind(':') + 1);
  ASSERT_FALSE(port.empty()) << raw_address;

  TempDir out;
  const std::string pcap = out.path() + "/cli.pcapng";
  absl::StatusOr<std::unique_ptr<LoopbackCapture>> capture =
      LoopbackCapture::Start("tcp port " + port, pcap);
  if (absl::IsPermissionDenied(capture.status())) {
    GTEST_SKIP() << "capturing on lo is not permitted here: "
                 << capture.status().message();
  }
  ASSERT_THAT(capture, IsOk());
  ASSERT_THAT(WaitUntilCapturing(capture->get(), ToUint(port)), IsOk());

  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(),
                {BinaryPath("dualrpc"), "--target=raw://" + raw_address});
    return RunCommand(args);
  };
  CommandResult echo = cli({"echo", "hello-wireshark"});
  EXPECT_EQ(echo.exit_code, 0) << echo.stderr_text;
  EXPECT_EQ(echo.stdout_text, "hello-wireshark\n");
  // One entry per page: three calls on one connection.
  CommandResult pages = cli({"ls", "--page_size=1"});
  EXPECT_EQ(pages.exit_code, 0) << pages.stderr_text;
  EXPECT_EQ(pages.stdout_text, "a.txt\nb.txt\nc.txt\n");
  CommandResult missing = cli({"ls", "missing"});
  EXPECT_EQ(missing.exit_code, 64 + 5);  // grpcurl-style: 64 + NOT_FOUND
  EXPECT_THAT(missing.stderr_text, HasSubstr("NOT_FOUND"));
  CommandResult list = cli({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.stderr_text;
  EXPECT_THAT(list.stdout_text, HasSubstr("dualrpc.v1.FileService"));
  // Everything above is in the file once tshark has seen a later packet.
  absl::StatusOr<uint16_t> sentinel_port = ConnectAndClose(ToUint(port));
  ASSERT_THAT(sentinel_port, IsOk());
  ASSERT_THAT((*capture)->WaitForPacketFrom(*sentinel_port), IsOk());
  ASSERT_THAT((*capture)->Stop(), IsOk());

  absl::StatusOr<std::vector<Row>> requests = DecodeFields(
      pcap, "dualrpc.type == 1",
      {"tcp.stream", "dualrpc.type", "dualrpc.call_id", "dualrpc.method"});
  ASSERT_THAT(requests, IsOk());
  Streams calls = ByStream(*requests, "dualrpc.method", 1);
  std::vector<std::vector<std::pair<uint32_t, std::string>>> per_connection;
  for (const auto& [stream, frames] : calls) {
    per_connection.push_back(frames);
    for (size_t i = 1; i < frames.size(); ++i) {
      EXPECT_GT(frames[i].first, frames[i - 1].first) << "stream " << stream;
    }
  }
  EXPECT_THAT(per_connection, Contains(ElementsAre(Pair(1u, kEchoMethod))));
  EXPECT_THAT(per_connection,
              Contains(ElementsAre(Pair(1u, kListMethod), Pair(2u, kListMethod),
                                   Pair(3u, kListMethod))));
  EXPECT_THAT(per_connection, Contains(ElementsAre(Pair(1u, kListMethod))));
  // `list` is reflection over the raw wire (however many calls it makes).
  EXPECT_THAT(per_connection,
              Contains(AllOf(
                  Not(IsEmpty()),
                  Each(Pair(::testing::_, StartsWith("/grpc.reflection."))))));

  // Every call got its RESPONSE, with the status the CLI reported.
  absl::StatusOr<std::vector<Row>> responses = DecodeFields(
      pcap, "dualrpc.type == 2",
      {"tcp.stream", "dualrpc.type", "dualrpc.call_id", "dualrpc.status_code"});
  ASSERT_THAT(responses, IsOk());
  Streams statuses = ByStream(*responses, "dualrpc.status_code", 2);
  for (const auto& [stream, frames] : calls) {
    const auto& answers = statuses[stream];
    ASSERT_THAT(answers, SizeIs(frames.size())) << "stream " << stream;
    const std::string method = frames[0].second;
    if (method == kEchoMethod) {
      EXPECT_THAT(answers, ElementsAre(Pair(1u, "0")));
    } else if (method == kListMethod && frames.size() == 3) {
      EXPECT_THAT(answers,
                  ElementsAre(Pair(1u, "0"), Pair(2u, "0"), Pair(3u, "0")));
    } else if (method == kListMethod) {
      EXPECT_THAT(answers, ElementsAre(Pair(1u, "5")));  // NOT_FOUND
    }
  }
  absl::StatusOr<std::vector<Row>> not_found =
      DecodeFields(pcap, "dualrpc.status_code == 5",
                   {"dualrpc.method", "dualrpc.status_message"});
  ASSERT_THAT(not_found, IsOk());
  ASSERT_THAT(*not_found, SizeIs(1));
  EXPECT_EQ((*not_found)[0]["dualrpc.method"], kListMethod);
  EXPECT_THAT((*not_found)[0]["dualrpc.status_message"], HasSubstr("missing"));

  // Both prefaces of every connection.
  absl::StatusOr<std::vector<Row>> prefaces =
      DecodeFields(pcap, "dualrpc.preface",
                   {"tcp.stream", "dualrpc.preface.magic",
                    "dualrpc.preface.major", "dualrpc.preface.minor"});
  ASSERT_THAT(prefaces, IsOk());
  std::map<std::string, int> prefaces_per_stream;
  for (const Row& row : *prefaces) {
    EXPECT_EQ(row.at("dualrpc.preface.magic"), "DRPC");
    EXPECT_EQ(row.at("dualrpc.preface.major"), "1");
    EXPECT_EQ(row.at("dualrpc.preface.minor"), "2");  // Both speak 1.2.
    ++prefaces_per_stream[row.at("tcp.stream")];
  }
  for (const auto& [stream, frames] : calls) {
    EXPECT_EQ(prefaces_per_stream[stream], 2) << "stream " << stream;
  }

  // The messages, typed by the protobuf dissector from the method path.
  absl::StatusOr<std::vector<Row>> echo_messages = DecodeFields(
      pcap, absl::StrCat("dualrpc.method == \"", kEchoMethod, "\""),
      {"dualrpc.type", "protobuf.message.name", "protobuf.field.name",
       "protobuf.field.value"});
  ASSERT_THAT(echo_messages, IsOk());
  ASSERT_THAT(*echo_messages, SizeIs(2));
  const std::string payload_hex = absl::BytesToHexString("hello-wireshark");
  EXPECT_EQ((*echo_messages)[0]["dualrpc.type"], "0x01");
  EXPECT_EQ((*echo_messages)[0]["protobuf.message.name"],
            "dualrpc.v1.EchoRequest");
  EXPECT_EQ((*echo_messages)[0]["protobuf.field.name"], "payload");
  EXPECT_EQ((*echo_messages)[0]["protobuf.field.value"], payload_hex);
  // The server's SETTINGS (0x08) usually shares the RESPONSE's packet.
  EXPECT_THAT((*echo_messages)[1]["dualrpc.type"], EndsWith("0x02"));
  EXPECT_EQ((*echo_messages)[1]["protobuf.message.name"],
            "dualrpc.v1.EchoResponse");
  EXPECT_EQ((*echo_messages)[1]["protobuf.field.value"], payload_hex);
}

// ---- A synthesized capture
// ---------------------------------------------------

constexpr uint16_t kClientPort = 50000;
constexpr uint16_t kServerPort = 7357;

// A classic pcap file of raw IPv4 packets (LINKTYPE_RAW) carrying one TCP
// connection 127.0.0.1:kClientPort -> 127.0.0.1:kServerPort, with the
// sequence and acknowledgement numbers a real stack would send, so that
// Wireshark's TCP reassembly sees the segments as cut here.
class TcpPcapWriter {
 public:
  TcpPcapWriter() {
    AppendHost32(0xa1b2c3d4);  // magic, microsecond timestamps
    AppendHost16(2);           // version 2.4
    AppendHost16(4);
    AppendHost32(0);      // thiszone
    AppendHost32(0);      // sigfigs
    AppendHost32(65535);  // snaplen
    AppendHost32(101);    // LINKTYPE_RAW
  }

  void Handshake() {
    Segment(/*from_client=*/true, kSyn, "");
    Segment(/*from_client=*/false, kSyn | kAck, "");
    Segment(/*from_client=*/true, kAck, "");
  }

  // One segment carrying `hex` (decoded), PSH|ACK.
  void Send(bool from_client, absl::string_view hex) {
    Segment(from_client, kPsh | kAck, absl::HexStringToBytes(hex));
  }

  absl::Status WriteTo(const std::string& path) const {
    std::ofstream file(path, std::ios::binary);
    file.write(file_.data(), static_cast<std::streamsize>(file_.size()));
    file.close();
    if (!file) return absl::InternalError("cannot write " + path);
    return absl::OkStatus();
  }

 private:
  static constexpr uint8_t kSyn = 0x02, kPsh = 0x08, kAck = 0x10;

  void Segment(bool from_client, uint8_t flags, const std::string& payload) {
    uint32_t& seq = from_client ? client_next_ : server_next_;
    uint32_t ack = from_client ? server_next_ : client_next_;
    std::string packet;
    const size_t total = 20 + 20 + payload.size();
    // IPv4 header, checksum patched below.
    AppendBig(&packet, 0x4500, 2);
    AppendBig(&packet, total, 2);
    AppendBig(&packet, ++ip_id_, 2);
    AppendBig(&packet, 0x4000, 2);  // don't fragment
    AppendBig(&packet, 0x4006, 2);  // TTL 64, TCP
    AppendBig(&packet, 0, 2);
    AppendBig(&packet, INADDR_LOOPBACK, 4);
    AppendBig(&packet, INADDR_LOOPBACK, 4);
    uint32_t sum = 0;
    for (size_t i = 0; i < 20; i += 2) {
      sum += (static_cast<uint8_t>(packet[i]) << 8) |
             static_cast<uint8_t>(packet[i + 1]);
    }
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    packet[10] = static_cast<char>((~sum >> 8) & 0xff);
    packet[11] = static_cast<char>(~sum & 0xff);
    // TCP header (checksum 0: Wireshark does not verify it by default).
    AppendBig(&packet, from_client ? kClientPort : kServerPort, 2);
    AppendBig(&packet, from_client ? kServerPort : kClientPort, 2);
    AppendBig(&packet, seq, 4);
    AppendBig(&packet, (flags & kAck) ? ack : 0, 4);
    AppendBig(&packet, (5 << 12) | flags, 2);  // data offset 5 words
    AppendBig(&packet, 65535, 2);              // window
    AppendBig(&packet, 0, 4);                  // checksum, urgent pointer
    packet += payload;
    seq += static_cast<uint32_t>(payload.size()) + ((flags & kSyn) ? 1 : 0);

    ++packets_;
    AppendHost32(1700000000);       // ts_sec
    AppendHost32(packets_ * 1000);  // ts_usec: 1 ms apart
    AppendHost32(static_cast<uint32_t>(packet.size()));
    AppendHost32(static_cast<uint32_t>(packet.size()));
    file_ += packet;
  }

  static void AppendBig(std::string* out, uint64_t value, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) {
      out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
    }
  }
  void AppendHost32(uint32_t value) {
    file_.append(reinterpret_cast<const char*>(&value), sizeof(value));
  }
  void AppendHost16(uint16_t value) {
    file_.append(reinterpret_cast<const char*>(&value), sizeof(value));
  }

  std::string file_;
  uint32_t client_next_ = 1000;
  uint32_t server_next_ = 5000;
  uint16_t ip_id_ = 0;
  uint32_t packets_ = 0;
};

// clang-format off
// docs/PROTOCOL.md §9, byte for byte (as tests/raw/protocol_examples_test.cc
// checks them against the codec and a server).
constexpr char kPreface[] = "4452504301010000";
constexpr char kEchoRequest[] =
    "0000002b" "01" "01" "0000" "00000001"  // REQUEST id 1, END_STREAM
    "00000023"                              // header length 35
    "0a1c" "2f6475616c7270632e76312e46696c65536572766963652f4563686f"
    "10c096b102"                            // timeout_micros 5000000
    "0a026869";                             // EchoRequest payload "hi"
constexpr char kEchoResponse[] =
    "00000008" "02" "01" "0000" "00000001"  // RESPONSE id 1
    "00000000"                              // empty header: OK
    "0a026869";                             // EchoResponse payload "hi"
constexpr char kListRequest[] =
    "00000032" "01" "01" "0000" "00000002"  // REQUEST id 2
    "00000027"                              // header length 39
    "0a25" "2f6475616c7270632e76312e46696c65536572766963652f4c697374"
    "4469726563746f7279"                    // ListDirectory, no deadline
    "0a052e2e2f2e2e";                       // path "../.."
constexpr char kListResponse[] =
    "0000002d" "02" "01" "0000" "00000002"  // RESPONSE id 2
    "00000029"                              // header length 41
    "0807"                                  // PERMISSION_DENIED
    "1225" "706174682065736361706573207468652073657276656420726f6f743a"
    "20222e2e2f2e2e22";                     // path escapes the served root

// One frame of each other type, laid out as PROTOCOL.md §3 and §5 say.
constexpr char kPing[] = "00000008" "04" "00" "0000" "00000000"
                         "0102030405060708";
constexpr char kPingAck[] = "00000008" "04" "80" "0000" "00000000"
                            "0102030405060708";
constexpr char kGoaway[] =
    "0000001f" "05" "00" "0000" "00000000"
    "00000002"                              // last call id 2
    "080e" "1217"                           // UNAVAILABLE, 23-byte message
    "736572766572206973207368757474696e6720646f776e";
constexpr char kCancel[] = "00000000" "03" "00" "0000" "00000003";
constexpr char kHalfClose[] = "00000000" "06" "01" "0000" "00000004";
constexpr char kWindowUpdate[] = "00000004" "07" "00" "0000" "00000004"
                                 "00008000";
// §9.3's bidi call, as call 6.
constexpr char kStreamRequest[] =
    "00000028" "01" "00" "0000" "00000006"  // REQUEST id 6, no END_STREAM
    "00000024"                              // header length 36
    "0a22" "2f6475616c7270632e76312e46696c65536572766963652f4563686f"
    "53747265616d";                         // EchoStream; no message part
constexpr char kStreamMessage[] =
    "00000004" "06" "00" "0000" "00000006" "0a026869";  // MESSAGE "hi"
constexpr char kStreamWindowUpdateAndHalfClose[] =
    "00000004" "07" "00" "0000" "00000006" "00010000"   // +65536
    "00000000" "06" "01" "0000" "00000006";             // half-close
constexpr char kStreamResponse[] =
    "00000004" "02" "01" "0000" "00000006" "00000000";  // RESPONSE OK
constexpr char kRequestWithMetadata[] =
    "0000003a" "01" "01" "0000" "00000005"  // REQUEST id 5
    "00000036"                              // header length 54
    "0a1c" "2f6475616c7270632e76312e46696c65536572766963652f4563686f"
    "1a16" "0a0d" "617574686f72697a6174696f6e"  // metadata key authorization
    "1205" "746f6b656e";                        // value "token"; empty message
constexpr char kShortPing[] = "00000004" "04" "00" "0000" "00000000"
                              "deadbeef";
// clang-format on

constexpr bool kFromClient = true;
constexpr bool kFromServer = false;

// Frames 1-3 are the handshake; then one segment per frame number:
//   4  the client preface and the first 10 bytes of REQUEST 1 (its frame
//      header cut in two), 5 the rest of REQUEST 1;
//   6  the server preface and RESPONSE 1;
//   7  REQUEST 2 and a PING; 8 RESPONSE 2, the PING's ACK and a GOAWAY;
//   9  CANCEL 3, a half-close and a WINDOW_UPDATE for 4 (no REQUEST opened
//      4: the dissector does not judge that) and REQUEST 5 (with metadata);
//   10 a malformed PING and a REQUEST whose call id 4 does not increase;
//   11 REQUEST 6 (EchoStream, no END_STREAM) and its first MESSAGE; 12 the
//      server's MESSAGE; 13 WINDOW_UPDATE and half-close; 14 RESPONSE 6.
void WriteConversation(TcpPcapWriter* pcap) {
  pcap->Handshake();
  const std::string echo_request = kEchoRequest;
  pcap->Send(kFromClient, absl::StrCat(kPreface, echo_request.substr(0, 20)));
  pcap->Send(kFromClient, echo_request.substr(20));
  pcap->Send(kFromServer, absl::StrCat(kPreface, kEchoResponse));
  pcap->Send(kFromClient, absl::StrCat(kListRequest, kPing));
  pcap->Send(kFromServer, absl::StrCat(kListResponse, kPingAck, kGoaway));
  pcap->Send(kFromClient, absl::StrCat(kCancel, kHalfClose, kWindowUpdate,
                                       kRequestWithMetadata));
  // REQUEST 5's bytes with call id 4 (hex offset 16 of the frame header).
  const std::string stale_request =
      std::string(kRequestWithMetadata).replace(16, 8, "00000004");
  pcap->Send(kFromClient, absl::StrCat(kShortPing, stale_request));
  pcap->Send(kFromClient, absl::StrCat(kStreamRequest, kStreamMessage));
  pcap->Send(kFromServer, kStreamMessage);
  pcap->Send(kFromClient, kStreamWindowUpdateAndHalfClose);
  pcap->Send(kFromServer, kStreamResponse);
}

const std::vector<std::string> kSynthesizedFields = {
    "frame.number",
    "dualrpc.preface.magic",
    "dualrpc.type",
    "dualrpc.flags",
    "dualrpc.call_id",
    "dualrpc.length",
    "dualrpc.method",
    "dualrpc.timeout_micros",
    "dualrpc.metadata.key",
    "dualrpc.metadata.value",
    "dualrpc.status_code",
    "dualrpc.status_message",
    "dualrpc.ping.payload",
    "dualrpc.goaway.last_call_id",
    "dualrpc.goaway.status_code",
    "dualrpc.goaway.status_message",
    "dualrpc.window_update.increment",
    "dualrpc.payload",
    "protobuf.message.name",
    "protobuf.field.value",
    "protobuf.field.value.string",
    "_ws.col.Info",
};

std::map<std::string, Row> ByFrame(const std::vector<Row>& rows) {
  std::map<std::string, Row> frames;
  for (const Row& row : rows) frames[row.at("frame.number")] = row;
  return frames;
}

TEST(WiresharkTest, DecodesThePcapOfProtocolExamples) {
  ASSERT_EQ(::access(kTsharkPath, X_OK), 0)
      << "tshark not found (" << kTsharkPath << "): run scripts/bootstrap";
  TempDir out;
  const std::string path = out.path() + "/examples.pcap";
  TcpPcapWriter pcap;
  WriteConversation(&pcap);
  ASSERT_THAT(pcap.WriteTo(path), IsOk());

  absl::StatusOr<std::vector<Row>> rows =
      DecodeFields(path, "dualrpc", kSynthesizedFields);
  ASSERT_THAT(rows, IsOk());
  std::map<std::string, Row> frame = ByFrame(*rows);
  ASSERT_THAT(frame, SizeIs(11));  // frames 4..14

  // 4: the preface; REQUEST 1 waits for its second segment.
  EXPECT_EQ(frame["4"]["dualrpc.preface.magic"], "DRPC");
  EXPECT_EQ(frame["4"]["dualrpc.type"], "");
  // 5: REQUEST 1, reassembled across the two segments.
  EXPECT_EQ(frame["5"]["dualrpc.type"], "0x01");
  EXPECT_EQ(frame["5"]["dualrpc.flags"], "0x01");
  EXPECT_EQ(frame["5"]["dualrpc.length"], "43");
  EXPECT_EQ(frame["5"]["dualrpc.call_id"], "1");
  EXPECT_EQ(frame["5"]["dualrpc.method"], kEchoMethod);
  EXPECT_EQ(frame["5"]["dualrpc.timeout_micros"], "5000000");
  EXPECT_EQ(frame["5"]["protobuf.message.name"], "dualrpc.v1.EchoRequest");
  EXPECT_EQ(frame["5"]["protobuf.field.value"], "6869");
  EXPECT_EQ(frame["5"]["_ws.col.Info"],
            absl::StrCat("REQUEST id=1 ", kEchoMethod));
  // 6: the server preface and RESPONSE 1, OK, typed by REQUEST 1's method.
  EXPECT_EQ(frame["6"]["dualrpc.preface.magic"], "DRPC");
  EXPECT_EQ(frame["6"]["dualrpc.type"], "0x02");
  EXPECT_EQ(frame["6"]["dualrpc.status_code"], "0");
  EXPECT_EQ(frame["6"]["dualrpc.method"], kEchoMethod);
  EXPECT_EQ(frame["6"]["protobuf.message.name"], "dualrpc.v1.EchoResponse");
  EXPECT_EQ(frame["6"]["_ws.col.Info"],
            absl::StrCat("Preface 1.1, RESPONSE id=1 OK ", kEchoMethod));
  // 7: REQUEST 2 and a PING in one segment.
  EXPECT_EQ(frame["7"]["dualrpc.type"], "0x01,0x04");
  EXPECT_EQ(frame["7"]["dualrpc.call_id"], "2,0");
  EXPECT_EQ(frame["7"]["dualrpc.method"], kListMethod);
  EXPECT_EQ(frame["7"]["dualrpc.timeout_micros"], "");
  EXPECT_EQ(frame["7"]["protobuf.message.name"],
            "dualrpc.v1.ListDirectoryRequest");
  EXPECT_EQ(frame["7"]["protobuf.field.value.string"], "../..");
  EXPECT_EQ(frame["7"]["dualrpc.ping.payload"], "0102030405060708");
  // 8: RESPONSE 2 PERMISSION_DENIED, PING ACK and GOAWAY in one segment.
  EXPECT_EQ(frame["8"]["dualrpc.type"], "0x02,0x04,0x05");
  EXPECT_EQ(frame["8"]["dualrpc.flags"], "0x01,0x80,0x00");
  EXPECT_EQ(frame["8"]["dualrpc.status_code"], "7");
  EXPECT_EQ(frame["8"]["dualrpc.status_message"],
            "path escapes the served root: \"../..\"");
  EXPECT_EQ(frame["8"]["dualrpc.ping.payload"], "0102030405060708");
  EXPECT_EQ(frame["8"]["dualrpc.goaway.last_call_id"], "2");
  EXPECT_EQ(frame["8"]["dualrpc.goaway.status_code"], "14");
  EXPECT_EQ(frame["8"]["dualrpc.goaway.status_message"],
            "server is shutting down");
  EXPECT_EQ(frame["8"]["_ws.col.Info"],
            absl::StrCat("RESPONSE id=2 PERMISSION_DENIED ", kListMethod,
                         ", PING id=0 ACK, GOAWAY id=0 last=2 UNAVAILABLE "
                         "(server is shutting down)"));
  // 9: CANCEL 3, half-close and WINDOW_UPDATE 4, REQUEST 5 with metadata.
  EXPECT_EQ(frame["9"]["dualrpc.type"], "0x03,0x06,0x07,0x01");
  EXPECT_EQ(frame["9"]["dualrpc.flags"], "0x00,0x01,0x00,0x01");
  EXPECT_EQ(frame["9"]["dualrpc.call_id"], "3,4,4,5");
  EXPECT_EQ(frame["9"]["dualrpc.window_update.increment"], "32768");
  EXPECT_EQ(frame["9"]["dualrpc.payload"], "");
  EXPECT_EQ(frame["9"]["dualrpc.metadata.key"], "authorization");
  EXPECT_EQ(frame["9"]["dualrpc.metadata.value"], "746f6b656e");
  // Well-formed frames carry no expert info but the failed call's note.
  for (const char* number : {"4", "5", "6", "7", "9", "11", "12", "13", "14"}) {
    EXPECT_EQ(frame[number]["_ws.expert.message"], "") << "frame " << number;
  }
  EXPECT_THAT(frame["8"]["_ws.expert.message"],
              StartsWith("PERMISSION_DENIED"));
  // 10: a PING of 4 bytes breaks §5.2, a REQUEST id 4 after 5 breaks §3.3.
  EXPECT_THAT(frame["10"]["_ws.expert.message"],
              AllOf(HasSubstr("PING payload of 4 bytes, not 8"),
                    HasSubstr("call id 4 not greater than earlier id 5")));
  // 11-14: the bidi call of §9.3. Its MESSAGEs are typed by REQUEST 6's
  // method, as requests from the client and responses from the server.
  constexpr char kEchoStream[] = "/dualrpc.v1.FileService/EchoStream";
  EXPECT_EQ(frame["11"]["dualrpc.type"], "0x01,0x06");
  EXPECT_EQ(frame["11"]["dualrpc.flags"], "0x00,0x00");
  EXPECT_EQ(frame["11"]["dualrpc.method"],
            absl::StrCat(kEchoStream, ",", kEchoStream));
  EXPECT_EQ(frame["11"]["protobuf.message.name"], "dualrpc.v1.EchoRequest");
  EXPECT_EQ(frame["11"]["_ws.col.Info"],
            absl::StrCat("REQUEST id=6 ", kEchoStream, ", MESSAGE id=6 ",
                         kEchoStream));
  EXPECT_EQ(frame["12"]["dualrpc.type"], "0x06");
  EXPECT_EQ(frame["12"]["dualrpc.method"], kEchoStream);
  EXPECT_EQ(frame["12"]["protobuf.message.name"], "dualrpc.v1.EchoResponse");
  EXPECT_EQ(frame["12"]["protobuf.field.value"], "6869");
  EXPECT_EQ(frame["13"]["dualrpc.type"], "0x07,0x06");
  EXPECT_EQ(frame["13"]["dualrpc.window_update.increment"], "65536");
  EXPECT_EQ(frame["13"]["_ws.col.Info"],
            "WINDOW_UPDATE id=6 +65536, MESSAGE id=6 half-close");
  EXPECT_EQ(frame["14"]["dualrpc.type"], "0x02");
  EXPECT_EQ(frame["14"]["dualrpc.status_code"], "0");
  EXPECT_EQ(frame["14"]["dualrpc.method"], kEchoStream);
}

TEST(WiresharkTest, FlagsMalformedStreamingFrames) {
  ASSERT_EQ(::access(kTsharkPath, X_OK), 0)
      << "tshark not found (" << kTsharkPath << "): run scripts/bootstrap";
  TempDir out;
  const std::string path = out.path() + "/bad_streaming.pcap";
  TcpPcapWriter pcap;
  pcap.Handshake();
  pcap.Send(kFromClient, absl::StrCat(kPreface, kStreamRequest));
  // A half-close with a payload; a WINDOW_UPDATE of 0; one of 3 bytes.
  pcap.Send(kFromClient, absl::StrCat("00000001"
                                      "06"
                                      "01"
                                      "0000"
                                      "00000006"
                                      "ff",
                                      "00000004"
                                      "07"
                                      "00"
                                      "0000"
                                      "00000006"
                                      "00000000",
                                      "00000003"
                                      "07"
                                      "00"
                                      "0000"
                                      "00000006"
                                      "000001"));
  ASSERT_THAT(pcap.WriteTo(path), IsOk());
  absl::StatusOr<std::vector<Row>> rows =
      DecodeFields(path, "dualrpc", {"frame.number", "dualrpc.type"});
  ASSERT_THAT(rows, IsOk());
  std::map<std::string, Row> frame = ByFrame(*rows);
  EXPECT_THAT(
      frame["5"]["_ws.expert.message"],
      AllOf(HasSubstr("half-close MESSAGE with a payload"),
            HasSubstr("WINDOW_UPDATE increment 0 or with the high bit set"),
            HasSubstr("WINDOW_UPDATE payload of 3 bytes, not 4")));
}

TEST(WiresharkTest, LeavesACompressedMessageUndecoded) {
  ASSERT_EQ(::access(kTsharkPath, X_OK), 0)
      << "tshark not found (" << kTsharkPath << "): run scripts/bootstrap";
  TempDir out;
  const std::string path = out.path() + "/compressed.pcap";
  TcpPcapWriter pcap;
  pcap.Handshake();
  // REQUEST 1 of §9 with flags END_STREAM|COMPRESSED (hex offset 10).
  const std::string compressed = std::string(kEchoRequest).replace(10, 2, "03");
  pcap.Send(kFromClient, absl::StrCat(kPreface, compressed));
  ASSERT_THAT(pcap.WriteTo(path), IsOk());

  absl::StatusOr<std::vector<Row>> rows =
      DecodeFields(path, "dualrpc",
                   {"dualrpc.flags.compressed", "dualrpc.method",
                    "dualrpc.message", "protobuf.message.name"});
  ASSERT_THAT(rows, IsOk());
  ASSERT_THAT(*rows, SizeIs(1));
  EXPECT_EQ((*rows)[0]["dualrpc.flags.compressed"], "1");
  EXPECT_EQ((*rows)[0]["dualrpc.method"], kEchoMethod);
  EXPECT_EQ((*rows)[0]["dualrpc.message"], "0a026869");
  EXPECT_EQ((*rows)[0]["protobuf.message.name"], "");
}

// 1.2 (§5.6, §5.3): the SETTINGS a 1.2 client gets first, and a drain's
// notice (GOAWAY last_call_id 0xFFFFFFFF, then the DRAINING PING).
TEST(WiresharkTest, DecodesSettingsAndTheDrainNotice) {
  ASSERT_EQ(::access(kTsharkPath, X_OK), 0)
      << "tshark not found (" << kTsharkPath << "): run scripts/bootstrap";
  TempDir out;
  const std::string path = out.path() + "/settings.pcap";
  TcpPcapWriter pcap;
  pcap.Handshake();
  pcap.Send(kFromClient, "4452504301020000");  // a 1.2 client's preface
  pcap.Send(kFromServer,
            absl::StrCat("4452504301020000",
                         // SETTINGS: max_message_bytes 4194304,
                         // max_calls_in_flight 100.
                         "00000007"
                         "08"
                         "00"
                         "0000"
                         "00000000"
                         "0880808002"
                         "1864",
                         // GOAWAY 0xFFFFFFFF UNAVAILABLE, then the PING.
                         "0000001f"
                         "05"
                         "00"
                         "0000"
                         "00000000"
                         "ffffffff"
                         "080e"
                         "1217",
                         absl::BytesToHexString("server is shutting down"),
                         "00000008"
                         "04"
                         "00"
                         "0000"
                         "00000000"
                         "445241494e494e47"));
  ASSERT_THAT(pcap.WriteTo(path), IsOk());

  absl::StatusOr<std::vector<Row>> rows = DecodeFields(
      path, "dualrpc",
      {"frame.number", "dualrpc.type", "dualrpc.settings.max_message_bytes",
       "dualrpc.settings.max_calls_in_flight", "dualrpc.goaway.last_call_id",
       "_ws.col.Info"});
  ASSERT_THAT(rows, IsOk());
  std::map<std::string, Row> frame = ByFrame(*rows);
  ASSERT_EQ(frame.count("5"), 1u);
  EXPECT_EQ(frame["5"]["dualrpc.type"], "0x08,0x05,0x04");
  EXPECT_EQ(frame["5"]["dualrpc.settings.max_message_bytes"], "4194304");
  EXPECT_EQ(frame["5"]["dualrpc.settings.max_calls_in_flight"], "100");
  EXPECT_EQ(frame["5"]["dualrpc.goaway.last_call_id"], "4294967295");
  EXPECT_THAT(frame["5"]["_ws.col.Info"],
              AllOf(HasSubstr("Preface 1.2"),
                    HasSubstr("SETTINGS id=0 max_message_bytes=4194304 "
                              "max_calls_in_flight=100"),
                    HasSubstr("GOAWAY id=0 last=4294967295 UNAVAILABLE"),
                    HasSubstr("PING id=0")));
}

TEST(WiresharkTest, PortPreferenceDecodesACaptureStartedAfterThePreface) {
  ASSERT_EQ(::access(kTsharkPath, X_OK), 0)
      << "tshark not found (" << kTsharkPath << "): run scripts/bootstrap";
  TempDir out;
  const std::string path = out.path() + "/midway.pcap";
  TcpPcapWriter pcap;
  pcap.Send(kFromClient, kListRequest);
  pcap.Send(kFromServer, kListResponse);
  ASSERT_THAT(pcap.WriteTo(path), IsOk());
  const std::vector<std::string> fields = {"frame.number", "dualrpc.type",
                                           "dualrpc.call_id"};

  // No preface: the heuristic cannot know the connection.
  absl::StatusOr<std::vector<Row>> unknown =
      DecodeFields(path, "dualrpc", fields);
  ASSERT_THAT(unknown, IsOk());
  EXPECT_THAT(*unknown, IsEmpty());

  absl::StatusOr<std::vector<Row>> decoded =
      DecodeFields(path, "dualrpc", fields,
                   {"-o", absl::StrCat("dualrpc.tcp_port:", kServerPort)});
  ASSERT_THAT(decoded, IsOk());
  ASSERT_THAT(*decoded, SizeIs(2));
  EXPECT_EQ((*decoded)[0]["dualrpc.type"], "0x01");
  EXPECT_EQ((*decoded)[0]["dualrpc.call_id"], "2");
  EXPECT_EQ((*decoded)[1]["dualrpc.type"], "0x02");
  EXPECT_EQ((*decoded)[1]["dualrpc.call_id"], "2");
}

}  // namespace
}  // namespace dualrpc::integration
