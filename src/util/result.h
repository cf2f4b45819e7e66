// Result-style returns for system boundaries: a value, or an Error that carries the errno
// and a sentence saying what failed (and, where we know it, what to do about it).
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace maptrail {

struct Error {
  int err = 0;          // errno value, 0 when not from a system call
  std::string message;  // "open /proc/42/maps: No such file or directory"

  static Error from_errno(std::string what, int e = errno);
  std::string to_string() const { return message; }
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace maptrail
