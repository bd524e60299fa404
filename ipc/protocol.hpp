// Wire protocol v1: one UTF-8 JSON object per frame (see docs/protocol.md).
//
// Table of contents
//   request                  a parsed, envelope-validated request
//   protocol_parse_request   frame bytes → request, or a wire error
//   protocol_reply_ok        {"v":1,"id":…,"ok":true, …fields}
//   protocol_reply_error     {"v":1,"id":…,"ok":false,"error":{code,message}}
//   protocol_op_class        which admission class an op belongs to
//   field_*                  typed field accessors whose errors name the field
//   utf8_valid               strict UTF-8 check (common/utf8.hpp: no overlongs, no surrogates)
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/json.hpp"

namespace aikid::wire {

using json = nlohmann::json;

constexpr int version = 1;

/// The largest deadline_ms accepted (one day): ingress and the daemon add it
/// to a steady_clock time in nanoseconds, which a larger value could overflow.
constexpr std::int64_t max_deadline_ms = 86'400'000;

/// Admission classes: each has its own in-flight limit (ipc.max_inflight_*).
enum class op_class { control, perceive, memory, kg, generate, embed };

struct request {
  std::string op;
  std::string id;                 // the client's token, echoed in the reply ("" if absent)
  std::optional<std::int64_t> deadline_ms;
  json body;                      // the whole request object
  std::string text;               // the frame as sent: the same object, keys in document order
};

/// Every op of protocol v1, in the order of the architecture's table.
const std::vector<std::string>& protocol_ops();

/// Parses one request frame. Fails with:
///   too_large   – the frame is longer than max_bytes
///   bad_request – nested deeper than max_depth (checked before parsing; the
///                 message names the path and the level: common/json.hpp)
///   bad_json    – not valid UTF-8, not JSON, or not a JSON object
///   bad_request – "v" is not 1, "id"/"op" are not strings, deadline_ms not a
///                 positive integer ≤ max_deadline_ms (the message names the field)
///   unknown_op  – the op is not in protocol_ops()
/// On failure `id_out` still receives the id when it could be read, so the
/// error reply can carry it.
expected<request> protocol_parse_request(std::string_view frame, std::size_t max_bytes, std::string* id_out,
                                         int max_depth = json_default_max_depth);

std::string protocol_reply_ok(std::string_view id, json fields);
std::string protocol_reply_error(std::string_view id, const error& e);

op_class protocol_op_class(std::string_view op);
std::string_view op_class_name(op_class c);

/// True if `s` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates,
/// nothing above U+10FFFF). `bad_at` gets the offset of the first bad byte.
bool utf8_valid(std::string_view s, std::size_t* bad_at = nullptr);

// Field accessors: each fails with errc::bad_request and a message
// "field: what is wrong" (missing, wrong type, out of range).
expected<std::string> field_string(const json& o, const char* name);                 // required
expected<std::optional<std::string>> field_opt_string(const json& o, const char* name);
expected<std::optional<std::int64_t>> field_opt_int(const json& o, const char* name, std::int64_t lo,
                                                    std::int64_t hi);
expected<std::optional<double>> field_opt_number(const json& o, const char* name, double lo, double hi);
expected<std::optional<bool>> field_opt_bool(const json& o, const char* name);
expected<std::optional<json>> field_opt_object(const json& o, const char* name);
expected<std::optional<std::vector<float>>> field_opt_vector(const json& o, const char* name);

}  // namespace aikid::wire
