// Cost per frame of the raw protocol's codec (src/raw): what one call adds on
// the wire path before any syscall. Payload sizes 0 B, 64 B, 1 KiB, 64 KiB.
//
//   EncodeOkResponse  RESPONSE, header length 0, message serialized straight
//                     into the output Buffer (the server's hot path).
//   EncodeRequest     REQUEST with a RequestHeader (method, timeout).
//   DecodeFrame       append one frame to the input Buffer (what a read does)
//                     and decode it: the copy is part of the cost.
//   DecodeRequest     DecodeFrame + split the payload + parse the
//                     RequestHeader: the server's per-request framing work.
//   DecodeBurst       1000 small frames arrive in one buffer (one read);
//                     decode them all. Reported per frame.

#include <cstdint>
#include <string>

#include "benchmark/benchmark.h"
#include "dualrpc/net/buffer.h"
#include "dualrpc/raw/wire/call_payload.h"
#include "dualrpc/raw/wire/frame.h"
#include "dualrpc/raw/wire/frame_decoder.h"
#include "dualrpc/v1/file_service.pb.h"
#include "dualrpc/wire/v1/wire.pb.h"

namespace dualrpc::bench {
namespace {

constexpr char kMethod[] = "/dualrpc.v1.FileService/Echo";

v1::EchoResponse ResponseOfSize(std::int64_t payload_bytes) {
  v1::EchoResponse response;
  response.set_payload(
      std::string(static_cast<std::size_t>(payload_bytes), 'x'));
  return response;
}

std::string RequestFrameOfSize(std::int64_t payload_bytes) {
  wire::v1::RequestHeader header;
  header.set_method(kMethod);
  header.set_timeout_micros(5000000);
  v1::EchoRequest request;
  request.set_payload(
      std::string(static_cast<std::size_t>(payload_bytes), 'x'));
  net::Buffer out;
  if (!raw::AppendCallFrame(&out, raw::FrameType::kRequest, raw::kFlagEndStream,
                            1, &header, &request, raw::FrameLimits{})
           .ok()) {
    std::abort();
  }
  return std::string(out.View());
}

void SizeArgs(benchmark::internal::Benchmark* bench) {
  for (std::int64_t size : {0, 64, 1024, 64 * 1024}) bench->Arg(size);
}

void BM_EncodeOkResponse(benchmark::State& state) {
  const v1::EchoResponse response = ResponseOfSize(state.range(0));
  const raw::FrameLimits limits;
  net::Buffer out(128 * 1024);
  std::uint32_t call_id = 1;
  for (auto _ : state) {
    absl::Status appended = raw::AppendCallFrame(
        &out, raw::FrameType::kResponse, raw::kFlagEndStream, call_id++,
        nullptr, &response, limits);
    benchmark::DoNotOptimize(appended);
    benchmark::DoNotOptimize(out.Peek());
    out.RetrieveAll();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_EncodeOkResponse)->Apply(SizeArgs);

void BM_EncodeRequest(benchmark::State& state) {
  wire::v1::RequestHeader header;
  header.set_method(kMethod);
  header.set_timeout_micros(5000000);
  v1::EchoRequest request;
  request.set_payload(
      std::string(static_cast<std::size_t>(state.range(0)), 'x'));
  const raw::FrameLimits limits;
  net::Buffer out(128 * 1024);
  std::uint32_t call_id = 1;
  for (auto _ : state) {
    absl::Status appended = raw::AppendCallFrame(&out, raw::FrameType::kRequest,
                                                 raw::kFlagEndStream, call_id++,
                                                 &header, &request, limits);
    benchmark::DoNotOptimize(appended);
    benchmark::DoNotOptimize(out.Peek());
    out.RetrieveAll();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_EncodeRequest)->Apply(SizeArgs);

void BM_DecodeFrame(benchmark::State& state) {
  const std::string frame = RequestFrameOfSize(state.range(0));
  raw::FrameDecoder decoder(raw::FrameLimits{}, /*expect_preface=*/false);
  net::Buffer input(128 * 1024);
  for (auto _ : state) {
    input.Append(frame);
    raw::FrameDecoder::Event event = decoder.Next(&input);
    benchmark::DoNotOptimize(event.payload.data());
    if (event.kind != raw::FrameDecoder::Event::kFrame)
      state.SkipWithError("decode");
    event = decoder.Next(&input);  // Consumes the frame; needs more.
    benchmark::DoNotOptimize(event.kind);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_DecodeFrame)->Apply(SizeArgs);

void BM_DecodeRequest(benchmark::State& state) {
  const std::string frame = RequestFrameOfSize(state.range(0));
  const raw::FrameLimits limits;
  raw::FrameDecoder decoder(limits, /*expect_preface=*/false);
  net::Buffer input(128 * 1024);
  wire::v1::RequestHeader header;
  for (auto _ : state) {
    input.Append(frame);
    raw::FrameDecoder::Event event = decoder.Next(&input);
    absl::StatusOr<raw::CallPayload> parts =
        raw::SplitCallPayload(event.payload, limits);
    if (!parts.ok() ||
        !header.ParseFromArray(parts->header.data(),
                               static_cast<int>(parts->header.size()))) {
      state.SkipWithError("decode");
    }
    benchmark::DoNotOptimize(parts->message.data());
    event = decoder.Next(&input);
    benchmark::DoNotOptimize(event.kind);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_DecodeRequest)->Apply(SizeArgs);

void BM_DecodeBurst(benchmark::State& state) {
  const int frames_per_burst = static_cast<int>(state.range(1));
  std::string burst;
  const std::string frame = RequestFrameOfSize(state.range(0));
  for (int i = 0; i < frames_per_burst; ++i) burst += frame;
  raw::FrameDecoder decoder(raw::FrameLimits{}, /*expect_preface=*/false);
  net::Buffer input(burst.size() + 1024);
  for (auto _ : state) {
    input.Append(burst);
    int frames = 0;
    for (raw::FrameDecoder::Event event = decoder.Next(&input);
         event.kind == raw::FrameDecoder::Event::kFrame;
         event = decoder.Next(&input)) {
      ++frames;
    }
    if (frames != frames_per_burst) state.SkipWithError("decode");
  }
  state.SetItemsProcessed(state.iterations() * frames_per_burst);
  state.SetBytesProcessed(state.iterations() *
                          static_cast<std::int64_t>(burst.size()));
}
BENCHMARK(BM_DecodeBurst)->Args({0, 1000})->Args({64, 1000});

}  // namespace
}  // namespace dualrpc::bench
