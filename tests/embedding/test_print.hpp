// Printers so Boost.Test can show aikid enums in failed assertions.
#pragma once
#include <ostream>

#include "actors/embedding/safetensors.hpp"
#include "common/error.hpp"

namespace aikid {
inline std::ostream& operator<<(std::ostream& o, errc c) { return o << errc_name(c); }
namespace embedding {
inline std::ostream& operator<<(std::ostream& o, st_dtype t) { return o << st_dtype_name(t); }
}  // namespace embedding
}  // namespace aikid
