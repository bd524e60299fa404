// Time zones (date/tz over the system's tzdata) and due-time parsing.
#include <cstdio>
#include <filesystem>

#include <date/date.h>
#include <date/tz.h>

#include "actors/synthesis/internal.hpp"
#include "actors/synthesis/synthesis.hpp"

namespace aikid::synthesis {

struct zone {
  const date::time_zone* tz = nullptr;  // null: UTC
  std::string name;
};

expected<zone_ptr> zone_open(std::string_view iana_name) {
  std::string name(iana_name);
  if (name.empty()) {  // the machine's zone (/etc/localtime); UTC where there is none
    try {
      name = date::current_zone()->name();
    } catch (const std::exception&) {
      name = "UTC";
    }
  }
  if (name == "UTC" || name == "Etc/UTC") {
    auto z = std::make_shared<zone>();
    z->name = "UTC";
    return zone_ptr(std::move(z));
  }
  try {
    const auto* tz = date::locate_zone(name);
    auto z = std::make_shared<zone>();
    z->tz = tz;
    z->name = name;
    return zone_ptr(std::move(z));
  } catch (const std::exception& e) {
    std::error_code ec;
    if (!std::filesystem::exists("/usr/share/zoneinfo", ec)) {
      return error{errc::unavailable, "time zone '" + name +
                                          "': tzdata not found in /usr/share/zoneinfo (install "
                                          "tzdata): " + e.what()};
    }
    return error{errc::unavailable, "time zone '" + name + "': unknown zone (" + e.what() + ")"};
  }
}

const std::string& zone_name(const zone& z) { return z.name; }

namespace detail {
// The calendar fields and the UTC offset of unix-ms t in z (no day bounds, no iso).
local_time zone_fields(const zone& z, std::int64_t unix_ms, long* offset_s) {
  using namespace std::chrono;
  const sys_time<milliseconds> st{milliseconds{unix_ms}};
  local_time r;
  seconds offset{0};
  date::local_time<milliseconds> lt{milliseconds{unix_ms}};
  if (z.tz) {
    auto info = z.tz->get_info(date::floor<seconds>(st));
    offset = info.offset;
    lt = date::local_time<milliseconds>{st.time_since_epoch() + offset};
  }
  const auto ld = date::floor<date::days>(lt);
  const date::year_month_day ymd{ld};
  const date::hh_mm_ss<milliseconds> hms{lt - ld};
  r.year = int(ymd.year());
  r.month = int(unsigned(ymd.month()));
  r.day = int(unsigned(ymd.day()));
  r.hour = int(hms.hours().count());
  r.minute = int(hms.minutes().count());
  r.second = int(hms.seconds().count());
  r.weekday = int(date::weekday{ld}.c_encoding());
  r.day_start_ms = r.day_end_ms = 0;
  if (offset_s) *offset_s = static_cast<long>(offset.count());
  return r;
}
}  // namespace detail

local_time zone_local(const zone& z, std::int64_t unix_ms) {
  using namespace std::chrono;
  long off = 0;
  local_time r = detail::zone_fields(z, unix_ms, &off);
  r.zone_name = z.name;
  const date::local_days ld{date::year_month_day{date::year{r.year}, date::month{unsigned(r.month)},
                                                 date::day{unsigned(r.day)}}};
  auto to_sys = [&](date::local_days d) -> std::int64_t {
    if (!z.tz) return duration_cast<milliseconds>(d.time_since_epoch()).count();
    auto zt = date::zoned_time<seconds>(z.tz, date::local_seconds{d.time_since_epoch()},
                                        date::choose::earliest);
    return duration_cast<milliseconds>(zt.get_sys_time().time_since_epoch()).count();
  };
  r.day_start_ms = to_sys(ld);
  r.day_end_ms = to_sys(ld + date::days{1});
  char buf[64];
  const long aoff = off < 0 ? -off : off;
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", r.year, r.month,
                r.day, r.hour, r.minute, r.second, off < 0 ? '-' : '+', aoff / 3600,
                (aoff % 3600) / 60);
  r.iso = buf;
  return r;
}

namespace detail {

expected<std::int64_t> parse_due(const nlohmann::json& v, const zone& naive) {
  using namespace std::chrono;
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) return static_cast<std::int64_t>(v.get<double>());
  if (!v.is_string()) return error{errc::bad_request, "due: expected an ISO-8601 string or unix ms"};
  const std::string s = v.get<std::string>();
  int Y = 0, M = 0, D = 0, h = 0, m = 0, sec = 0, n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &Y, &M, &D, &n) != 3 || n != 10) {
    return error{errc::bad_request, "due: '" + s + "' is not YYYY-MM-DD[THH:MM[:SS]][Z|±HH:MM]"};
  }
  std::size_t i = 10;
  long frac_ms = 0;
  if (i < s.size() && (s[i] == 'T' || s[i] == ' ')) {
    int k = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d%n", &h, &m, &k) != 2 || k != 5) {
      return error{errc::bad_request, "due: '" + s + "': bad time of day"};
    }
    i += 1 + 5;
    if (i < s.size() && s[i] == ':') {
      if (std::sscanf(s.c_str() + i + 1, "%2d%n", &sec, &k) != 1 || k != 2) {
        return error{errc::bad_request, "due: '" + s + "': bad seconds"};
      }
      i += 3;
      if (i < s.size() && s[i] == '.') {
        ++i;
        long scale = 100;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
          frac_ms += (s[i] - '0') * scale;
          scale /= 10;
          ++i;
        }
      }
    }
  }
  const date::year_month_day ymd{date::year{Y}, date::month{unsigned(M)}, date::day{unsigned(D)}};
  if (!ymd.ok() || h > 23 || m > 59 || sec > 60) {
    return error{errc::bad_request, "due: '" + s + "': no such date or time"};
  }
  const auto local = date::local_days{ymd} + hours{h} + minutes{m} + seconds{sec};
  std::int64_t ms;
  if (i == s.size()) {  // naive: read in the configured zone
    if (!naive.tz) {
      ms = duration_cast<milliseconds>(local.time_since_epoch()).count();
    } else {
      auto zt = date::zoned_time<seconds>(naive.tz, local, date::choose::earliest);
      ms = duration_cast<milliseconds>(zt.get_sys_time().time_since_epoch()).count();
    }
  } else if (s[i] == 'Z' && i + 1 == s.size()) {
    ms = duration_cast<milliseconds>(local.time_since_epoch()).count();
  } else if (s[i] == '+' || s[i] == '-') {
    int oh = 0, om = 0, k = 0;
    const char* t = s.c_str() + i + 1;
    if (!((std::sscanf(t, "%2d:%2d%n", &oh, &om, &k) == 2 && k == 5 && i + 6 == s.size()) ||
          (std::sscanf(t, "%2d%2d%n", &oh, &om, &k) == 2 && k == 4 && i + 5 == s.size()) ||
          (std::sscanf(t, "%2d%n", &oh, &k) == 1 && k == 2 && i + 3 == s.size()))) {
      return error{errc::bad_request, "due: '" + s + "': bad UTC offset"};
    }
    const long off = (oh * 3600L + om * 60L) * (s[i] == '-' ? -1 : 1);
    ms = duration_cast<milliseconds>(local.time_since_epoch()).count() - off * 1000L;
  } else {
    return error{errc::bad_request, "due: '" + s + "': unexpected text after the time"};
  }
  return ms + frac_ms;
}

}  // namespace detail
}  // namespace aikid::synthesis
