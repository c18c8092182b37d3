#ifndef DUALRPC_BENCH_OPAQUE_MESSAGE_H_
#define DUALRPC_BENCH_OPAQUE_MESSAGE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "google/protobuf/message_lite.h"
#include "google/protobuf/parse_context.h"

namespace dualrpc::bench {

// Messages for a load generator that knows its request and response types
// only at run time (descriptors from reflection or a protoset). A
// DynamicMessage would cost, per call, a reflection-driven serialization of
// the request and a reflection-driven parse of the response (field by field,
// strings copied); these two cost a memcpy and a skim.
//
// Both implement MessageLite through its virtual serialization and parsing
// hooks (_InternalSerialize, _InternalParse), which are public virtuals that
// every transport reaches through SerializeToZeroCopyStream /
// SerializeWithCachedSizesToArray and ParseFromArray / ParseFromZeroCopyStream.
// _InternalParse uses protobuf's exported wire-skipping helper
// (internal::UnknownFieldParse with no output), the one use of a protobuf
// internal in the bench; protobuf 3.21's parse_context.h.

// A request serialized once: every serialization writes the same bytes.
// Immutable after construction, so one instance may be sent by any number of
// concurrent calls (Channel::StartUnaryCall serializes before it returns).
class PreserializedMessage final : public google::protobuf::MessageLite {
 public:
  PreserializedMessage(std::string type_name, std::string bytes)
      : type_name_(std::move(type_name)), bytes_(std::move(bytes)) {}

  const std::string& bytes() const { return bytes_; }

  std::string GetTypeName() const override { return type_name_; }
  MessageLite* New(google::protobuf::Arena* arena) const override {
    // Never called by the transports; a copy keeps the contract anyway.
    if (arena != nullptr) return nullptr;
    return new PreserializedMessage(type_name_, bytes_);
  }
  void Clear() override {}
  bool IsInitialized() const override { return true; }
  void CheckTypeAndMergeFrom(const MessageLite&) override {}
  size_t ByteSizeLong() const override { return bytes_.size(); }
  int GetCachedSize() const override { return static_cast<int>(bytes_.size()); }
  const char* _InternalParse(
      const char*, google::protobuf::internal::ParseContext*) override {
    return nullptr;  // a request is never parsed into
  }
  uint8_t* _InternalSerialize(
      uint8_t* target,
      google::protobuf::io::EpsCopyOutputStream* stream) const override {
    return stream->WriteRaw(bytes_.data(), static_cast<int>(bytes_.size()),
                            target);
  }

 private:
  const std::string type_name_;
  const std::string bytes_;
};

// A response checked, not decoded: parsing walks the top-level fields,
// checking tags, varints and lengths (a malformed response still fails its
// call, as it would with the real type), and keeps nothing. Nested messages
// are skipped as length-delimited bytes, not descended into. Not
// thread-safe: one per caller, reused call after call. Does not own
// `type_name`, which must outlive it (no allocation per message).
class SkimmedResponse final : public google::protobuf::MessageLite {
 public:
  explicit SkimmedResponse(const std::string& type_name)
      : type_name_(&type_name) {}

  // Top-level fields seen by the last parse.
  int64_t fields() const { return fields_; }

  std::string GetTypeName() const override { return *type_name_; }
  MessageLite* New(google::protobuf::Arena* arena) const override {
    if (arena != nullptr) return nullptr;
    return new SkimmedResponse(*type_name_);
  }
  void Clear() override { fields_ = 0; }
  bool IsInitialized() const override { return true; }
  void CheckTypeAndMergeFrom(const MessageLite&) override {}
  size_t ByteSizeLong() const override { return 0; }
  int GetCachedSize() const override { return 0; }
  const char* _InternalParse(
      const char* ptr, google::protobuf::internal::ParseContext* ctx) override {
    namespace internal = google::protobuf::internal;
    while (!ctx->Done(&ptr)) {
      uint32_t tag;
      ptr = internal::ReadTag(ptr, &tag);
      if (ptr == nullptr) return nullptr;
      // An end-group tag or 0 ends the message, as in generated code.
      if (tag == 0 || (tag & 7) == 4) {
        ctx->SetLastTag(tag);
        return ptr;
      }
      ptr = internal::UnknownFieldParse(tag, static_cast<std::string*>(nullptr),
                                        ptr, ctx);
      if (ptr == nullptr) return nullptr;
      ++fields_;
    }
    return ptr;
  }
  uint8_t* _InternalSerialize(
      uint8_t* target,
      google::protobuf::io::EpsCopyOutputStream*) const override {
    return target;  // a response is never sent
  }

 private:
  const std::string* const type_name_;
  int64_t fields_ = 0;
};

}  // namespace dualrpc::bench

#endif  // DUALRPC_BENCH_OPAQUE_MESSAGE_H_
