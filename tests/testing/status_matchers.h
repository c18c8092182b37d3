#ifndef DUALRPC_TESTS_TESTING_STATUS_MATCHERS_H_
#define DUALRPC_TESTS_TESTING_STATUS_MATCHERS_H_

// gMock matchers for absl::Status and absl::StatusOr<T>:
//
//   EXPECT_THAT(registry.AddMethod(m), IsOk());
//   ASSERT_THAT(channel, IsOk());            // then *channel is safe
//   EXPECT_THAT(Parse(""), StatusIs(absl::StatusCode::kInvalidArgument));
//   EXPECT_THAT(Open(p), StatusIs(absl::StatusCode::kNotFound, HasSubstr(p)));
//   EXPECT_THAT(Sum(1, 2), IsOkAndHolds(3));
//
// Every matcher accepts both a Status and any StatusOr<T> (IsOkAndHolds only
// a StatusOr<T>), and a failure names the status it saw ("whose status is
// NOT_FOUND: ...") — StatusOr has no operator<< for gtest to print.

#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace dualrpc_testing {
namespace internal_status {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// The code and message test, shared by every argument type.
class StatusIsCheck {
 public:
  StatusIsCheck(absl::StatusCode code,
                ::testing::Matcher<const std::string&> message)
      : code_(code), message_(std::move(message)) {}

  void DescribeTo(std::ostream* os) const {
    *os << "has status code " << absl::StatusCodeToString(code_)
        << " and a message that ";
    message_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "does not have status code " << absl::StatusCodeToString(code_)
        << " or has a message that ";
    message_.DescribeNegationTo(os);
  }
  bool Check(const absl::Status& status,
             ::testing::MatchResultListener* listener) const {
    *listener << "whose status is " << status;
    if (status.code() != code_) return false;
    ::testing::StringMatchResultListener message_listener;
    const bool message_matches = message_.MatchAndExplain(
        std::string(status.message()), &message_listener);
    if (!message_matches && !message_listener.str().empty()) {
      *listener << ", and whose message " << message_listener.str();
    }
    return message_matches;
  }

 private:
  absl::StatusCode code_;
  ::testing::Matcher<const std::string&> message_;
};

template <typename StatusType>
class StatusIsMatcherImpl : public ::testing::MatcherInterface<StatusType> {
 public:
  explicit StatusIsMatcherImpl(StatusIsCheck check)
      : check_(std::move(check)) {}
  void DescribeTo(std::ostream* os) const override { check_.DescribeTo(os); }
  void DescribeNegationTo(std::ostream* os) const override {
    check_.DescribeNegationTo(os);
  }
  bool MatchAndExplain(
      StatusType actual,
      ::testing::MatchResultListener* listener) const override {
    return check_.Check(GetStatus(actual), listener);
  }

 private:
  StatusIsCheck check_;
};

// Polymorphic: converts to Matcher<absl::Status> and Matcher<StatusOr<T>>.
class StatusIsMatcher {
 public:
  explicit StatusIsMatcher(StatusIsCheck check) : check_(std::move(check)) {}
  template <typename StatusType>
  operator ::testing::Matcher<StatusType>()
      const {  // NOLINT(google-explicit-constructor)
    return ::testing::MakeMatcher(new StatusIsMatcherImpl<StatusType>(check_));
  }

 private:
  StatusIsCheck check_;
};

template <typename StatusType>
class IsOkMatcherImpl : public ::testing::MatcherInterface<StatusType> {
 public:
  void DescribeTo(std::ostream* os) const override { *os << "is OK"; }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "is not OK";
  }
  bool MatchAndExplain(
      StatusType actual,
      ::testing::MatchResultListener* listener) const override {
    const absl::Status& status = GetStatus(actual);
    if (status.ok()) return true;
    *listener << "whose status is " << status;
    return false;
  }
};

class IsOkMatcher {
 public:
  template <typename StatusType>
  operator ::testing::Matcher<StatusType>()
      const {  // NOLINT(google-explicit-constructor)
    return ::testing::MakeMatcher(new IsOkMatcherImpl<StatusType>());
  }
};

template <typename StatusOrType>
class IsOkAndHoldsMatcherImpl
    : public ::testing::MatcherInterface<StatusOrType> {
 public:
  using ValueType = typename std::decay_t<StatusOrType>::value_type;

  template <typename InnerMatcher>
  explicit IsOkAndHoldsMatcherImpl(InnerMatcher&& inner)
      : inner_(::testing::SafeMatcherCast<const ValueType&>(
            std::forward<InnerMatcher>(inner))) {}

  void DescribeTo(std::ostream* os) const override {
    *os << "is OK and has a value that ";
    inner_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "is not OK or has a value that ";
    inner_.DescribeNegationTo(os);
  }
  bool MatchAndExplain(
      StatusOrType actual,
      ::testing::MatchResultListener* listener) const override {
    if (!actual.ok()) {
      *listener << "whose status is " << actual.status();
      return false;
    }
    ::testing::StringMatchResultListener inner_listener;
    const bool matches = inner_.MatchAndExplain(*actual, &inner_listener);
    *listener << "whose value " << ::testing::PrintToString(*actual)
              << (matches ? " matches" : " doesn't match");
    if (!inner_listener.str().empty())
      *listener << ", " << inner_listener.str();
    return matches;
  }

 private:
  ::testing::Matcher<const ValueType&> inner_;
};

template <typename InnerMatcher>
class IsOkAndHoldsMatcher {
 public:
  explicit IsOkAndHoldsMatcher(InnerMatcher inner) : inner_(std::move(inner)) {}
  template <typename StatusOrType>
  operator ::testing::Matcher<StatusOrType>()
      const {  // NOLINT(google-explicit-constructor)
    return ::testing::MakeMatcher(
        new IsOkAndHoldsMatcherImpl<StatusOrType>(inner_));
  }

 private:
  InnerMatcher inner_;
};

}  // namespace internal_status

// The status (of a Status or a StatusOr<T>) is OK.
inline internal_status::IsOkMatcher IsOk() { return {}; }

// The status has `code` and a message matching `message` (a string, which
// must equal the message, or any string matcher: HasSubstr, StartsWith, ...).
template <typename MessageMatcher>
internal_status::StatusIsMatcher StatusIs(absl::StatusCode code,
                                          MessageMatcher&& message) {
  return internal_status::StatusIsMatcher(internal_status::StatusIsCheck(
      code, ::testing::MatcherCast<const std::string&>(
                std::forward<MessageMatcher>(message))));
}
// The status has `code`, whatever its message.
inline internal_status::StatusIsMatcher StatusIs(absl::StatusCode code) {
  return StatusIs(code, ::testing::_);
}

// A StatusOr<T> that is OK and whose value matches `value` (a value or a
// matcher of T).
template <typename ValueMatcher>
internal_status::IsOkAndHoldsMatcher<std::decay_t<ValueMatcher>> IsOkAndHolds(
    ValueMatcher&& value) {
  return internal_status::IsOkAndHoldsMatcher<std::decay_t<ValueMatcher>>(
      std::forward<ValueMatcher>(value));
}

}  // namespace dualrpc_testing

#endif  // DUALRPC_TESTS_TESTING_STATUS_MATCHERS_H_
