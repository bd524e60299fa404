// aikid's error vocabulary: one enum shared by the wire protocol, the engines
// and the actors, and a small expected<T> for every boundary.
//
// Each code is also a wire error code (ipc/protocol.hpp spells it in JSON as
// the snake_case name below). Engines return these codes; the actor that owns
// an engine passes them to the client unchanged, so a reader can follow one
// failure from the engine to the reply.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace aikid {

enum class errc : std::uint8_t {
  /// Not an error; never sent.
  none = 0,
  /// The request frame is not JSON, or not a JSON object.
  bad_json,
  /// A field is missing, has the wrong type or is out of range; the message
  /// names the field. Also used for malformed files handed to a loader when
  /// the caller supplied them (an import file, a client vector).
  bad_request,
  /// The request frame is larger than ipc.max_message_bytes, or a text is
  /// larger than its configured limit.
  too_large,
  /// The op is not one this daemon knows.
  unknown_op,
  /// The memory, entity or request named does not exist.
  not_found,
  /// Admission control: too many requests of this class are in flight. The
  /// client should retry later; nothing was done.
  busy,
  /// The part that would serve the request is down (no model, a corrupt
  /// store); the message says why. Nothing was done.
  unavailable,
  /// The request's deadline_ms passed before it finished; nothing more will
  /// be done for it.
  deadline,
  /// A `cancel` (or a newer percept) stopped the request.
  cancelled,
  /// A bug or an unexpected failure inside aikid (an I/O error, an exception
  /// from a library); the message carries the context.
  internal,
};

/// The wire spelling of a code ("bad_json", …).
constexpr std::string_view errc_name(errc c) {
  switch (c) {
    case errc::none: return "none";
    case errc::bad_json: return "bad_json";
    case errc::bad_request: return "bad_request";
    case errc::too_large: return "too_large";
    case errc::unknown_op: return "unknown_op";
    case errc::not_found: return "not_found";
    case errc::busy: return "busy";
    case errc::unavailable: return "unavailable";
    case errc::deadline: return "deadline";
    case errc::cancelled: return "cancelled";
    case errc::internal: return "internal";
  }
  return "internal";
}

/// The code spelled `name` (the inverse of errc_name); an unknown name is
/// errc::internal.
constexpr errc errc_from_name(std::string_view name) {
  for (auto c : {errc::bad_json, errc::bad_request, errc::too_large, errc::unknown_op, errc::not_found, errc::busy,
                 errc::unavailable, errc::deadline, errc::cancelled, errc::internal})
    if (errc_name(c) == name) return c;
  return errc::internal;
}

/// A code and a human sentence that names what is wrong and where
/// (file:line, field, key).
struct error {
  errc code = errc::internal;
  std::string message;

  error() = default;
  error(errc c, std::string msg) : code(c), message(std::move(msg)) {}
};

/// Either a T or an error. Deliberately small: has_value, value, error,
/// operator bool, * and ->. Accessing the wrong side is a bug (asserted).
template <class T>
class [[nodiscard]] expected {
 public:
  expected(T v) : v_(std::in_place_index<0>, std::move(v)) {}
  expected(aikid::error e) : v_(std::in_place_index<1>, std::move(e)) {}
  expected(errc c, std::string msg) : v_(std::in_place_index<1>, aikid::error{c, std::move(msg)}) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const aikid::error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, aikid::error> v_;
};

/// expected<void>: success or an error.
template <>
class [[nodiscard]] expected<void> {
 public:
  expected() = default;
  expected(aikid::error e) : err_(std::move(e)), ok_(false) {}
  expected(errc c, std::string msg) : err_{c, std::move(msg)}, ok_(false) {}
  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const aikid::error& error() const { return err_; }

 private:
  aikid::error err_;
  bool ok_ = true;
};

}  // namespace aikid
