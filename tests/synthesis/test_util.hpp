// Test helpers: printing aikid's error codes in Boost.Test messages.
#pragma once

#include <ostream>

#include "common/error.hpp"

namespace aikid {
inline std::ostream& operator<<(std::ostream& os, errc c) { return os << errc_name(c); }
}  // namespace aikid
