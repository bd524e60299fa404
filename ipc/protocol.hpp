// Wire protocol v1: one UTF-8 JSON object per frame (see docs/protocol.md).
//
// Table of contents
//   request                  a parsed, envelope-validated request
//   protocol_parse_request   frame bytes → request, or a wire error
//   protocol_reply_ok        {"v":1,"id":…,"ok":true, …fields}
//   protocol_reply_error     {"v":1,"id":…,"ok":false,"error":{code,message}}
//   protocol_op_class        which admission class an op belongs to (the table of ops: ipc/ops.cpp)
//   ops_json                 the table of ops as JSON (aikid --print-ops)
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
#include "ipc/ops.hpp"

namespace aikid::wire {

using json = nlohmann::json;

constexpr int version = 1;

/// The largest deadline_ms accepted (one day): ingress and the daemon add it
/// to a steady_clock time in nanoseconds, which a larger value could overflow.
constexpr std::int64_t max_deadline_ms = 86'400'000;

struct request {
  std::string op;
  const op_info* info = nullptr;  // op's row of the table (ipc/ops.cpp); never null after a parse
  std::string id;                 // the client's token, echoed in the reply ("" if absent)
  std::optional<std::int64_t> deadline_ms;
  json body;                      // the whole request object
  std::string text;               // the frame as sent: the same object, keys in document order
};

/// Parses one request frame. Fails with:
///   too_large   – the frame is longer than max_bytes
///   bad_request – nested deeper than max_depth (checked before parsing; the
///                 message names the path and the level: common/json.hpp)
///   bad_json    – not valid UTF-8, not JSON, or not a JSON object
///   bad_request – "v" is not 1, "id"/"op" are not strings, deadline_ms not a
///                 positive integer ≤ max_deadline_ms (the message names the field)
///   unknown_op  – the op has no row in the table of ops (ipc/ops.cpp)
/// On failure `id_out` still receives the id when it could be read, so the
/// error reply can carry it.
expected<request> protocol_parse_request(std::string_view frame, std::size_t max_bytes, std::string* id_out,
                                         int max_depth = json_default_max_depth);

std::string protocol_reply_ok(std::string_view id, json fields);
std::string protocol_reply_error(std::string_view id, const error& e);

/// The admission class of op `op` (control for an op not in the table).
op_class protocol_op_class(std::string_view op);

/// The table of ops and classes as JSON, what `aikid --print-ops` prints:
/// {"version", "classes": [{name, limit_key, default_limit, ops}],
///  "ops": [{name, class, server, reads_only, embeds, fields, reply}]},
/// a field list as [{name, optional}]. Never fails.
json ops_json();

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
