// Reminders said in words (synthesis.hpp section 8): every time expression
// the issue names, per language, at a fixed now in Europe/Oslo; repeating
// reminders across both DST changes; the reminder requests of
// fixtures/reminders.jsonl (the dev set's 6 lines and more of the same
// shape); texts that are not requests; explicit past dates; replies
// ("done", "utsett 10 minutter"); load errors naming file and line.
#define BOOST_TEST_MODULE synthesis_when
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/synthesis/synthesis.hpp"
#include "tests/synthesis/test_util.hpp"

namespace syn = aikid::synthesis;
namespace fs = std::filesystem;
using kind = syn::repeat_rule::kind;

namespace {

// Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms).
std::int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}
void civil_from_days(std::int64_t z, int& y, int& m, int& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(yoe) + static_cast<int>(era) * 400 + (m <= 2);
}

std::int64_t utc_ms(int y, int mo, int d, int h, int mi) {
  return (days_from_civil(y, mo, d) * 1440 + h * 60 + mi) * 60000;
}

struct words {
  std::vector<syn::time_words_ptr> langs;
  syn::zone_ptr oslo;
  const syn::time_words* en = nullptr;
  const syn::time_words* nb = nullptr;
};

const words& W() {
  static const words w = [] {
    words r;
    auto l = syn::time_words_load_dir(fs::path(AIKID_SOURCE_DIR) / "config" / "time");
    if (!l) throw std::runtime_error("config/time: " + l.error().message);
    r.langs = *l;
    for (const auto& p : r.langs) {
      if (syn::time_words_lang(*p) == "en") r.en = p.get();
      if (syn::time_words_lang(*p) == "nb") r.nb = p.get();
    }
    auto z = syn::zone_open("Europe/Oslo");
    if (!z) throw std::runtime_error("Europe/Oslo: " + z.error().message);
    r.oslo = *z;
    return r;
  }();
  return w;
}

const syn::time_words& lang(const std::string& l) { return l == "en" ? *W().en : *W().nb; }
const syn::zone& oslo() { return *W().oslo; }

// Wednesday 9 December 2026 10:00 in Oslo (CET, UTC+1).
const std::int64_t kNow = utc_ms(2026, 12, 9, 9, 0);

// "YYYY-MM-DD HH:MM" of ms in Oslo.
std::string local(std::int64_t ms) {
  const auto lt = syn::zone_local(oslo(), ms);
  char b[32];
  std::snprintf(b, sizeof b, "%04d-%02d-%02d %02d:%02d", lt.year, lt.month, lt.day, lt.hour, lt.minute);
  return b;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct expr_case {
  const char* lang;
  const char* text;
  const char* due;  // local, Oslo
  kind every = kind::none;
};

void check_expr(const expr_case& c, std::int64_t now = kNow) {
  BOOST_TEST_CONTEXT(c.lang << ": \"" << c.text << "\"") {
    const std::string text = c.text;
    const auto p = syn::when_find(lang(c.lang), text, now, oslo());
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(local(p->due_ms) == c.due);
    BOOST_TEST((p->repeat.every == c.every));
    BOOST_TEST(!p->past);
    BOOST_TEST(p->begin == 0u);               // the whole text is the expression
    BOOST_TEST(p->end == text.size());
  }
}

}  // namespace

// ---- every expression of the issue, per language ----------------------------

BOOST_AUTO_TEST_SUITE(expressions)

BOOST_AUTO_TEST_CASE(english) {
  const expr_case cases[] = {
      {"en", "tomorrow at 10", "2026-12-10 10:00"},
      {"en", "tomorrow at 18:00", "2026-12-10 18:00"},
      {"en", "on Friday at 14:00", "2026-12-11 14:00"},
      {"en", "on Monday at 9", "2026-12-14 09:00"},
      {"en", "at half past two", "2026-12-09 14:30"},  // 02:30 has passed today
      {"en", "at 9 am", "2026-12-10 09:00"},
      {"en", "at 3pm", "2026-12-09 15:00"},
      {"en", "at 15:00", "2026-12-09 15:00"},
      {"en", "in 20 minutes", "2026-12-09 10:20"},
      {"en", "in an hour", "2026-12-09 11:00"},
      {"en", "in 2 hours", "2026-12-09 12:00"},
      {"en", "every Monday at 9", "2026-12-14 09:00", kind::weekly},
      {"en", "every day at 8", "2026-12-10 08:00", kind::daily},
      {"en", "tonight", "2026-12-09 20:00"},
      {"en", "this evening", "2026-12-09 20:00"},
      {"en", "tomorrow morning", "2026-12-10 08:00"},
      {"en", "on 24 December at 10", "2026-12-24 10:00"},
      {"en", "December 24 at 10", "2026-12-24 10:00"},
  };
  for (const auto& c : cases) check_expr(c);
}

BOOST_AUTO_TEST_CASE(norwegian) {
  const expr_case cases[] = {
      {"nb", "i morgen klokka 10", "2026-12-10 10:00"},
      {"nb", "i morgen kl. 16", "2026-12-10 16:00"},
      {"nb", "i morgen kl 16:00", "2026-12-10 16:00"},
      {"nb", "på fredag kl. 13:30", "2026-12-11 13:30"},
      {"nb", "fredag kl 14", "2026-12-11 14:00"},
      {"nb", "halv tre", "2026-12-09 14:30"},  // halv = half before: 2:30, the next one
      {"nb", "kvart over to", "2026-12-09 14:15"},
      {"nb", "kvart på tre", "2026-12-09 14:45"},
      {"nb", "om en time", "2026-12-09 11:00"},
      {"nb", "om 20 minutter", "2026-12-09 10:20"},
      {"nb", "om to timer", "2026-12-09 12:00"},
      {"nb", "hver mandag", "2026-12-14 09:00", kind::weekly},
      {"nb", "hver mandag kl. 9", "2026-12-14 09:00", kind::weekly},
      {"nb", "hver dag kl. 8", "2026-12-10 08:00", kind::daily},
      {"nb", "i kveld", "2026-12-09 20:00"},
      {"nb", "i kveld kl. 21", "2026-12-09 21:00"},
      {"nb", "i morgen tidlig", "2026-12-10 08:00"},
      {"nb", "24. desember kl. 10", "2026-12-24 10:00"},
      {"nb", "den 24. desember", "2026-12-24 09:00"},
  };
  for (const auto& c : cases) check_expr(c);
}

BOOST_AUTO_TEST_CASE(more_english) {
  const expr_case cases[] = {
      {"en", "at 9", "2026-12-09 21:00"},            // 09:00 has passed: the 21:00 one
      {"en", "at 11", "2026-12-09 11:00"},
      {"en", "at 12", "2026-12-09 12:00"},           // a bare 12 is noon
      {"en", "at noon", "2026-12-09 12:00"},
      {"en", "at midnight", "2026-12-10 00:00"},
      {"en", "at 2:30", "2026-12-09 14:30"},         // English H:MM is 12-hour
      {"en", "at 09:30", "2026-12-10 09:30"},        // a leading zero is 24-hour: passed, tomorrow
      {"en", "at 8:00", "2026-12-09 20:00"},
      {"en", "ten past three", "2026-12-09 15:10"},
      {"en", "at 20 to 4", "2026-12-09 15:40"},
      {"en", "at quarter to twelve", "2026-12-09 11:45"},
      {"en", "at nine o'clock", "2026-12-09 21:00"},
      {"en", "at 9 in the evening", "2026-12-09 21:00"},
      {"en", "tonight at 9", "2026-12-09 21:00"},
      {"en", "at 9 tomorrow", "2026-12-10 09:00"},
      {"en", "tomorrow at 2", "2026-12-10 14:00"},   // a named day: 12:00-6:59 is afternoon
      {"en", "tomorrow at 7", "2026-12-10 07:00"},   //              7:00-11:59 is morning
      {"en", "tomorrow evening at 7", "2026-12-10 19:00"},
      {"en", "next Friday evening", "2026-12-11 20:00"},
      {"en", "on Wednesday at 9", "2026-12-16 09:00"},   // today, but 09:00 has passed
      {"en", "on Wednesday at 11", "2026-12-09 11:00"},  // today, still ahead
      {"en", "Friday 11 December at 13:30", "2026-12-11 13:30"},
      {"en", "on the 24th of December", "2026-12-24 09:00"},
      {"en", "Dec 31st at 23:59", "2026-12-31 23:59"},
      {"en", "on 1 January at 10", "2027-01-01 10:00"},  // long past this year: next year's
      {"en", "in 2 hours and 30 minutes", "2026-12-09 12:30"},
      {"en", "in half an hour", "2026-12-09 10:30"},
      {"en", "in twenty-five minutes", "2026-12-09 10:25"},
      {"en", "20 minutes from now", "2026-12-09 10:20"},
      {"en", "in 3 days", "2026-12-12 10:00"},
      {"en", "every morning", "2026-12-10 08:00", kind::daily},
      {"en", "every Friday", "2026-12-11 09:00", kind::weekly},
      {"en", "daily at 7:30 pm", "2026-12-09 19:30", kind::daily},
      {"en", "today at 16:00", "2026-12-09 16:00"},
      {"en", "today at 4", "2026-12-09 16:00"},
      {"en", "the day after tomorrow at 17:30", "2026-12-11 17:30"},
      {"en", "TOMORROW AT 10", "2026-12-10 10:00"},
      {"en", "tomorrow, at 10:00", "2026-12-10 10:00"},
      {"en", "in 2 days at 10", "2026-12-11 10:00"},   // whole days, then a time of day
      {"en", "next week", "2026-12-16 09:00"},
  };
  for (const auto& c : cases) check_expr(c);
}

BOOST_AUTO_TEST_CASE(more_norwegian) {
  const expr_case cases[] = {
      {"nb", "kl. 9", "2026-12-09 21:00"},
      {"nb", "kl 9:00", "2026-12-10 09:00"},         // H:MM is as written in Norwegian
      {"nb", "kl. 14.30", "2026-12-09 14:30"},
      {"nb", "klokken 23", "2026-12-09 23:00"},
      {"nb", "fem over halv tre", "2026-12-09 14:35"},
      {"nb", "fem på halv tre", "2026-12-09 14:25"},
      {"nb", "ti over to", "2026-12-09 14:10"},
      {"nb", "kl. ti på to", "2026-12-09 13:50"},
      {"nb", "halv ett", "2026-12-09 12:30"},
      {"nb", "kvart på ett", "2026-12-09 12:45"},
      {"nb", "kl. halv 8", "2026-12-09 19:30"},
      {"nb", "midnatt", "2026-12-10 00:00"},
      {"nb", "om en halvtime", "2026-12-09 10:30"},
      {"nb", "om et kvarter", "2026-12-09 10:15"},
      {"nb", "om halvannen time", "2026-12-09 11:30"},
      {"nb", "om 2 timer og 15 minutter", "2026-12-09 12:15"},
      {"nb", "hver kveld", "2026-12-09 20:00", kind::daily},
      {"nb", "hver fredag kl 7", "2026-12-11 07:00", kind::weekly},
      {"nb", "daglig kl. 12", "2026-12-09 12:00", kind::daily},
      {"nb", "i morgen kveld", "2026-12-10 20:00"},
      {"nb", "i kveld kl 9", "2026-12-09 21:00"},
      {"nb", "i ettermiddag", "2026-12-09 15:00"},
      {"nb", "på lørdag", "2026-12-12 09:00"},
      {"nb", "neste mandag kl 8", "2026-12-14 08:00"},
      {"nb", "nå på torsdag", "2026-12-10 09:00"},
      {"nb", "i dag kl. 12", "2026-12-09 12:00"},
      {"nb", "i overmorgen", "2026-12-11 09:00"},
      {"nb", "i morgen kl. 8 om kvelden", "2026-12-10 20:00"},
      {"nb", "fredag den 11. desember kl. 18", "2026-12-11 18:00"},
      {"nb", "31. des kl 23:59", "2026-12-31 23:59"},
      {"nb", "I MORGEN KL. 16", "2026-12-10 16:00"},
      {"nb", "På Fredag Kl. 13:30", "2026-12-11 13:30"},
      {"nb", "om 2 dager kl 10", "2026-12-11 10:00"},
      {"nb", "innen fredag", "2026-12-11 09:00"},
      {"nb", "neste uke", "2026-12-16 09:00"},
  };
  for (const auto& c : cases) check_expr(c);
}

// A bare hour 1-12 is the next of its two occurrences within 24 hours.
BOOST_AUTO_TEST_CASE(bare_hour_is_the_next_occurrence) {
  const std::int64_t six = utc_ms(2026, 12, 9, 5, 0), ten = kNow, ten_pm = utc_ms(2026, 12, 9, 21, 0);
  const std::int64_t one_am = utc_ms(2026, 12, 9, 0, 0);
  check_expr({"en", "at 9", "2026-12-09 09:00"}, six);
  check_expr({"en", "at 9", "2026-12-09 21:00"}, ten);
  check_expr({"en", "at 9", "2026-12-10 09:00"}, ten_pm);
  check_expr({"nb", "kl. 9", "2026-12-09 09:00"}, six);
  check_expr({"nb", "kl. 9", "2026-12-10 09:00"}, ten_pm);
  check_expr({"nb", "halv tre", "2026-12-09 02:30"}, one_am);
  check_expr({"en", "at half past two", "2026-12-09 02:30"}, one_am);
  // A 24-hour time already past today is tomorrow.
  check_expr({"en", "at 08:00", "2026-12-10 08:00"}, ten);
  check_expr({"nb", "kl 08:15", "2026-12-10 08:15"}, ten);
  // "tonight" after its hour: the next full hour.
  check_expr({"en", "tonight", "2026-12-09 22:00"}, ten_pm - 30 * 60000);
}

// The span is the expression inside a sentence, with its preposition.
BOOST_AUTO_TEST_CASE(span_inside_a_sentence) {
  const std::string t = "Jeg skal til tannlegen på fredag kl. 13:30, ikke glem det";
  const auto p = syn::when_find(*W().nb, t, kNow, oslo());
  BOOST_REQUIRE(p.has_value());
  BOOST_TEST(t.substr(p->begin, p->end - p->begin) == "på fredag kl. 13:30");
  BOOST_TEST(local(p->due_ms) == "2026-12-11 13:30");
  BOOST_TEST(!syn::when_find(*W().en, "I will buy 2 apples and 3 pears", kNow, oslo()).has_value());
  BOOST_TEST(!syn::when_find(*W().nb, "Hei AIKI, hvordan går det?", kNow, oslo()).has_value());
  BOOST_TEST(!syn::when_find(*W().en, "", kNow, oslo()).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

// ---- repeating reminders keep the local time across DST -----------------------------

BOOST_AUTO_TEST_SUITE(dst)

BOOST_AUTO_TEST_CASE(weekly_nine_stays_nine_in_march_and_october) {
  const syn::repeat_rule monday9{kind::weekly, 1, 9, 0};
  // Last Sunday of March 2026 is the 29th: Monday 23 (CET) → Monday 30 (CEST).
  const std::int64_t march = syn::repeat_next(monday9, utc_ms(2026, 3, 23, 8, 0), oslo());
  BOOST_TEST(march == utc_ms(2026, 3, 30, 7, 0));
  BOOST_TEST(local(march) == "2026-03-30 09:00");
  // Last Sunday of October 2026 is the 25th: Monday 19 (CEST) → Monday 26 (CET).
  const std::int64_t october = syn::repeat_next(monday9, utc_ms(2026, 10, 19, 7, 0), oslo());
  BOOST_TEST(october == utc_ms(2026, 10, 26, 8, 0));
  BOOST_TEST(local(october) == "2026-10-26 09:00");
  // A whole year of Mondays: 09:00 local every time.
  std::int64_t t = utc_ms(2026, 1, 1, 0, 0);
  for (int i = 0; i < 53; ++i) {
    t = syn::repeat_next(monday9, t, oslo());
    const auto lt = syn::zone_local(oslo(), t);
    BOOST_TEST_CONTEXT(local(t)) {
      BOOST_TEST(lt.weekday == 1);
      BOOST_TEST(lt.hour == 9);
      BOOST_TEST(lt.minute == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(parsed_weekly_and_daily_across_the_change) {
  // Saturday 28 March 2026 12:00 CET: "every Monday at 9" → Monday 30 March 09:00 CEST.
  const auto p = syn::when_find(*W().en, "every Monday at 9", utc_ms(2026, 3, 28, 11, 0), oslo());
  BOOST_REQUIRE(p.has_value());
  BOOST_TEST(p->due_ms == utc_ms(2026, 3, 30, 7, 0));
  BOOST_TEST((p->repeat.every == kind::weekly));
  BOOST_TEST(p->repeat.weekday == 1);
  BOOST_TEST(p->repeat.hour == 9);
  BOOST_TEST(p->repeat.minute == 0);
  // "hver dag kl. 8" on Saturday 24 October 2026 (CEST) → Sunday 25th 08:00 CET.
  const auto q = syn::when_find(*W().nb, "hver dag kl. 8", utc_ms(2026, 10, 24, 10, 0), oslo());
  BOOST_REQUIRE(q.has_value());
  BOOST_TEST(q->due_ms == utc_ms(2026, 10, 25, 7, 0));
  BOOST_TEST(q->repeat.hour == 8);
  const syn::repeat_rule daily8{kind::daily, 0, 8, 0};
  BOOST_TEST(syn::repeat_next(daily8, q->due_ms, oslo()) == utc_ms(2026, 10, 26, 7, 0));
  BOOST_TEST(syn::repeat_next(daily8, utc_ms(2026, 3, 28, 7, 0), oslo()) == utc_ms(2026, 3, 29, 6, 0));
}

BOOST_AUTO_TEST_CASE(skipped_and_doubled_local_times) {
  // 02:30 does not exist on 29 March 2026: it moves on by the skip, to 03:30 CEST.
  const syn::repeat_rule r{kind::daily, 0, 2, 30};
  BOOST_TEST(syn::repeat_next(r, utc_ms(2026, 3, 28, 12, 0), oslo()) == utc_ms(2026, 3, 29, 1, 30));
  // 02:30 happens twice on 25 October 2026: the first (CEST, 00:30 UTC).
  BOOST_TEST(syn::repeat_next(r, utc_ms(2026, 10, 24, 12, 0), oslo()) == utc_ms(2026, 10, 25, 0, 30));
  // Strictly after: at the very minute, the next day's.
  const std::int64_t at = syn::repeat_next(r, utc_ms(2026, 10, 24, 12, 0), oslo());
  BOOST_TEST(syn::repeat_next(r, at, oslo()) == utc_ms(2026, 10, 26, 1, 30));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- reminder requests ---------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(requests)

// The expected due time of a fixture line at `now`, as local "YYYY-MM-DD HH:MM".
std::string expected_due(const nlohmann::json& due, std::int64_t now) {
  if (due.contains("minutes_from_now")) return local(now + due["minutes_from_now"].get<std::int64_t>() * 60000);
  const auto lt = syn::zone_local(oslo(), now);
  const int h = due["hour"].get<int>(), m = due["minute"].get<int>();
  int off = 0;
  if (due.contains("day_offset")) {
    off = due["day_offset"].get<int>();
  } else {
    static const char* names[] = {"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"};
    const std::string wd = due["weekday"].get<std::string>();
    const int target = static_cast<int>(std::find(std::begin(names), std::end(names), wd) - std::begin(names));
    off = (target - lt.weekday + 7) % 7;
    if (off == 0 && h * 60 + m <= lt.hour * 60 + lt.minute) off = 7;
  }
  int y = 0, mo = 0, d = 0;
  civil_from_days(days_from_civil(lt.year, lt.month, lt.day) + off, y, mo, d);
  char b[32];
  std::snprintf(b, sizeof b, "%04d-%02d-%02d %02d:%02d", y, mo, d, h, m);
  return b;
}

void check_fixture(std::int64_t now, bool skip_today) {
  std::ifstream in(fs::path(AIKID_SOURCE_DIR) / "tests/synthesis/fixtures/reminders.jsonl");
  BOOST_REQUIRE(in.good());
  std::string line;
  int n = 0, checked = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ++n;
    const auto j = nlohmann::json::parse(line);
    if (skip_today && j["due"].value("day_offset", -1) == 0) continue;
    ++checked;
    const std::string said = j["said"];
    BOOST_TEST_CONTEXT("line " << n << ": " << said) {
      const auto a = syn::reminder_parse(W().langs, said, now, oslo());
      BOOST_REQUIRE(a.has_value());
      BOOST_TEST(a->lang == j["lang"].get<std::string>());
      BOOST_TEST(local(a->when.due_ms) == expected_due(j["due"], now));
      BOOST_TEST(!a->when.past);
      for (const auto& w : j["reminder_has"]) BOOST_TEST(lower(a->what).find(lower(w.get<std::string>())) != std::string::npos, a->what);
    }
  }
  BOOST_TEST(n >= 26);
  BOOST_TEST_MESSAGE("reminders.jsonl: " << checked << " of " << n << " lines checked");
}

BOOST_AUTO_TEST_CASE(fixture_lines_at_a_fixed_now) { check_fixture(kNow, false); }

// The same lines at Saturday 28 March 2026 23:30 CET, the night the clocks
// go forward (lines for "today" are past then and are left out).
BOOST_AUTO_TEST_CASE(fixture_lines_on_the_night_of_the_dst_change) {
  check_fixture(utc_ms(2026, 3, 28, 22, 30), true);
}

BOOST_AUTO_TEST_CASE(what_to_remind_about) {
  const std::pair<const char*, const char*> cases[] = {
      {"Minn meg på å ringe mamma i morgen klokka 10", "ringe mamma"},
      {"Remind me to water the plants tomorrow at 18:00.", "water the plants"},
      {"Husk å minne meg på tannlegen på fredag kl. 13:30.", "tannlegen"},
      {"Hei AIKI, husk at tannlegen er fredag kl 14", "tannlegen"},
      {"Remind me in 20 minutes to take the laundry out.", "take the laundry out"},
      {"Tomorrow at 10, remind me to call the bank", "call the bank"},
      {"Remind me that the dentist is on Friday at 2", "the dentist"},
      {"Remind me about the dentist on Friday", "the dentist"},
      {"Minn meg om tannlegen på fredag", "tannlegen"},
      {"remind me to buy 3 apples tomorrow", "buy 3 apples"},
      {"Remind me to call Anne on Friday at 14:00 about the insurance", "call Anne about the insurance"},
      {"Husk å kjøpe melk i morgen", "kjøpe melk"},
      {"Ikke glem å minne meg på møtet kl 10", "møtet"},
      {"Remember to call the vet tomorrow at 11", "call the vet"},
      {"Remind me to call Bob in 2 days at 10", "call Bob"},
      {"minn meg på å sende søknaden innen fredag", "sende søknaden"},
      {"Remind me tomorrow at 10", ""},
  };
  for (const auto& [text, what] : cases) {
    BOOST_TEST_CONTEXT(text) {
      const auto a = syn::reminder_parse(W().langs, text, kNow, oslo());
      BOOST_REQUIRE(a.has_value());
      BOOST_TEST(a->what == what);
    }
  }
}

BOOST_AUTO_TEST_CASE(no_request_no_reminder) {
  const char* texts[] = {
      "I have a meeting tomorrow at 10",       // a time, no trigger
      "tannlegen er på fredag",
      "Jeg skal til tannlegen i morgen kl 14",
      "Remind me",                             // a trigger, no time
      "Remind me to call mom",
      "Minn meg på å ringe mamma",
      "Husk at tannlegen er snill",
      "Don't remind me tomorrow at 10",        // a negated trigger
      "Ikke minn meg på det i morgen",
      "Hei AIKI",
      "",
  };
  for (const char* t : texts) BOOST_TEST(!syn::reminder_parse(W().langs, t, kNow, oslo()).has_value(), t);
  // The plain sentences do hold a time (for the dated-fact rules): when_find sees it.
  const auto p = syn::when_find(*W().en, "I have a meeting tomorrow at 10", kNow, oslo());
  BOOST_REQUIRE(p.has_value());
  BOOST_TEST(local(p->due_ms) == "2026-12-10 10:00");
  BOOST_TEST(syn::when_find(*W().nb, "tannlegen er på fredag", kNow, oslo()).has_value());
}

BOOST_AUTO_TEST_CASE(explicit_past_dates) {
  const std::pair<const char*, const char*> cases[] = {
      {"remind me on 1 January 2020 at 10", "2020-01-01 10:00"},
      {"Remind me on 7 December at 10 to pay", "2026-12-07 10:00"},  // two days ago, no year
      {"Remind me yesterday at 10", "2026-12-08 10:00"},
      {"Remind me today at 08:00", "2026-12-09 08:00"},
      {"Minn meg på å ringe i går kl. 10", "2026-12-08 10:00"},
      {"minn meg på det den 24. desember 2024", "2024-12-24 09:00"},
  };
  for (const auto& [text, due] : cases) {
    BOOST_TEST_CONTEXT(text) {
      const auto a = syn::reminder_parse(W().langs, text, kNow, oslo());
      BOOST_REQUIRE(a.has_value());
      BOOST_TEST(a->when.past);
      BOOST_TEST(local(a->when.due_ms) == due);
    }
  }
  // A weekday or a bare time is never past: the next one.
  const auto w = syn::reminder_parse(W().langs, "remind me on Wednesday at 8", kNow, oslo());
  BOOST_REQUIRE(w.has_value());
  BOOST_TEST(!w->when.past);
  BOOST_TEST(local(w->when.due_ms) == "2026-12-16 08:00");
}

BOOST_AUTO_TEST_CASE(repeating_request) {
  const auto a = syn::reminder_parse(W().langs, "Minn meg på å ta medisinen hver dag kl. 8", kNow, oslo());
  BOOST_REQUIRE(a.has_value());
  BOOST_TEST(a->what == "ta medisinen");
  BOOST_TEST((a->when.repeat.every == kind::daily));
  BOOST_TEST(a->when.repeat.hour == 8);
  BOOST_TEST(local(a->when.due_ms) == "2026-12-10 08:00");
  const auto b = syn::reminder_parse(W().langs, "Remind me every Monday at 9 to put out the bins", kNow, oslo());
  BOOST_REQUIRE(b.has_value());
  BOOST_TEST(b->what == "put out the bins");
  BOOST_TEST((b->when.repeat.every == kind::weekly));
  BOOST_TEST(b->when.repeat.weekday == 1);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- replies to a reminder ---------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(commands)

BOOST_AUTO_TEST_CASE(done) {
  const std::pair<const char*, const char*> cases[] = {
      {"done", "en"}, {"Done!", "en"}, {"ok, done, thanks", "en"}, {"I did it.", "en"}, {"mark it as done please", "en"},
      {"ferdig", "nb"}, {"Gjort.", "nb"}, {"Takk, det er gjort!", "nb"}, {"ok ferdig", "nb"},
  };
  for (const auto& [text, l] : cases) {
    BOOST_TEST_CONTEXT(text) {
      const auto c = syn::reminder_command_parse(W().langs, text, kNow, oslo());
      BOOST_REQUIRE(c.has_value());
      BOOST_TEST((c->what == syn::reminder_command::kind::done));
      BOOST_TEST(c->lang == l);
    }
  }
}

BOOST_AUTO_TEST_CASE(snooze_by_minutes) {
  const std::tuple<const char*, const char*, std::int64_t> cases[] = {
      {"snooze", "en", 10},  {"Snooze 10 minutes", "en", 10}, {"snooze for an hour", "en", 60},
      {"remind me again in 15 minutes", "en", 15}, {"later, thanks", "en", 10},
      {"utsett", "nb", 10}, {"utsett 10 minutter", "nb", 10}, {"Utsett en time.", "nb", 60},
      {"utsett i 20 minutter takk", "nb", 20}, {"minn meg på det igjen om et kvarter", "nb", 15},
  };
  for (const auto& [text, l, minutes] : cases) {
    BOOST_TEST_CONTEXT(text) {
      const auto c = syn::reminder_command_parse(W().langs, text, kNow, oslo());
      BOOST_REQUIRE(c.has_value());
      BOOST_TEST((c->what == syn::reminder_command::kind::snooze));
      BOOST_TEST(c->lang == l);
      BOOST_TEST(c->snooze_minutes == minutes);
      BOOST_TEST(!c->snooze_until.has_value());
    }
  }
}

BOOST_AUTO_TEST_CASE(snooze_until_a_time) {
  const std::tuple<const char*, const char*, const char*> cases[] = {
      {"snooze until 15:00", "en", "2026-12-09 15:00"},
      {"snooze until tomorrow", "en", "2026-12-10 09:00"},
      {"snooze to 9 am", "en", "2026-12-10 09:00"},
      {"utsett til kl. 15", "nb", "2026-12-09 15:00"},
      {"utsett til i morgen kl 8", "nb", "2026-12-10 08:00"},
      {"utsett til halv tre", "nb", "2026-12-09 14:30"},
  };
  for (const auto& [text, l, due] : cases) {
    BOOST_TEST_CONTEXT(text) {
      const auto c = syn::reminder_command_parse(W().langs, text, kNow, oslo());
      BOOST_REQUIRE(c.has_value());
      BOOST_TEST((c->what == syn::reminder_command::kind::snooze));
      BOOST_TEST(c->lang == l);
      BOOST_REQUIRE(c->snooze_until.has_value());
      BOOST_TEST(local(*c->snooze_until) == due);
      BOOST_TEST(c->snooze_minutes == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(not_a_command) {
  const char* texts[] = {
      "I'm done with the report, what is next?", "the plants are done", "snooze the cat",
      "utsett møtet til fredag", "ferdig med middagen og nå vil jeg se film", "ok", "takk", "",
      "snooze until 1 January 2020",  // a past date
      "done done done done done done done done done done done done done done done done done",
  };
  for (const char* t : texts) BOOST_TEST(!syn::reminder_command_parse(W().langs, t, kNow, oslo()).has_value(), t);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- words in acknowledgements --------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(phrases)

BOOST_AUTO_TEST_CASE(when_in_words) {
  // Not the current year: with the year.
  BOOST_TEST(syn::when_format(*W().en, utc_ms(2020, 1, 1, 9, 0), oslo()) == "Wednesday 1 January 2020 at 10:00");
  BOOST_TEST(syn::when_format(*W().nb, utc_ms(2020, 1, 1, 9, 0), oslo()) == "onsdag 1. januar 2020 kl. 10:00");
  // The current year (by the system clock): without.
  using namespace std::chrono;
  const auto now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const int year = syn::zone_local(oslo(), now).year;
  const std::int64_t dec12 = utc_ms(year, 12, 12, 12, 30);  // 13:30 CET
  static const char* en_days[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
  static const char* nb_days[] = {"søndag", "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag"};
  const int wd = syn::zone_local(oslo(), dec12).weekday;
  BOOST_TEST(syn::when_format(*W().en, dec12, oslo()) == std::string(en_days[wd]) + " 12 December at 13:30");
  BOOST_TEST(syn::when_format(*W().nb, dec12, oslo()) == std::string(nb_days[wd]) + " 12. desember kl. 13:30");
}

BOOST_AUTO_TEST_CASE(phrases_fill_their_fields) {
  const std::vector<std::pair<std::string, std::string>> v = {{"what", "ringe mamma"},
                                                              {"when", "fredag 11. desember kl. 13:30"}};
  BOOST_TEST(syn::time_words_phrase(*W().nb, "ack", v) ==
             "OK — jeg minner deg på det fredag 11. desember kl. 13:30: ringe mamma.");
  BOOST_TEST(syn::time_words_phrase(*W().nb, "fire", v) == "Påminnelse: ringe mamma");
  BOOST_TEST(syn::time_words_phrase(*W().nb, "fire_late", v) ==
             "Påminnelse (for sent, skulle vært fredag 11. desember kl. 13:30): ringe mamma");
  BOOST_TEST(syn::time_words_phrase(*W().en, "ack", {{"what", "the dentist"}, {"when", "Friday 11 December at 13:30"}}) ==
             "OK — I'll remind you: the dentist, Friday 11 December at 13:30.");
  BOOST_TEST(syn::time_words_phrase(*W().en, "fire", {}) == "Reminder: {what}");          // unknown stays
  BOOST_TEST(syn::time_words_phrase(*W().en, "fire", {{"what", "{when}"}, {"when", "x"}}) == "Reminder: {when}");
  BOOST_TEST(syn::time_words_phrase(*W().en, "no_such_phrase", {}) == "no_such_phrase");
  for (const auto& w : W().langs) {
    for (const char* key : {"ack", "ack_repeat", "fire", "fire_late", "past", "snoozed", "done", "nothing_pending"}) {
      const std::string s = syn::time_words_phrase(*w, key, {{"what", "x"}, {"when", "y"}, {"period", "z"}});
      BOOST_TEST(s.find('{') == std::string::npos, syn::time_words_lang(*w) << "." << key << ": " << s);
      BOOST_TEST(s != key);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---- loading ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(loading)

struct temp_dir {
  fs::path dir;
  std::string en;  // config/time/en.toml's text
  temp_dir() {
    dir = fs::temp_directory_path() / ("syn_when_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ifstream in(fs::path(AIKID_SOURCE_DIR) / "config/time/en.toml");
    std::stringstream ss;
    ss << in.rdbuf();
    en = ss.str();
  }
  ~temp_dir() { fs::remove_all(dir); }
  // The 1-based line of the first `needle` in en.
  static std::size_t line_of(const std::string& text, const std::string& needle) {
    const auto at = text.find(needle);
    BOOST_REQUIRE(at != std::string::npos);
    return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
  }
  // Writes en with `from` replaced by `to`; the load's error message.
  std::string load_with(const std::string& from, const std::string& to, aikid::errc code = aikid::errc::bad_request) {
    std::string t = en;
    const auto at = t.find(from);
    BOOST_REQUIRE(at != std::string::npos);
    t.replace(at, from.size(), to);
    std::ofstream(dir / "en.toml") << t;
    const auto r = syn::time_words_load_dir(dir);
    BOOST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().code == code);
    return r.error().message;
  }
};

BOOST_FIXTURE_TEST_CASE(errors_name_file_and_line, temp_dir) {
  const std::string f = (dir / "en.toml").string();
  auto expect = [&](const std::string& from, const std::string& to, const std::string& marker, const std::string& what) {
    std::string t = en;
    t.replace(t.find(from), from.size(), to);
    const std::string msg = load_with(from, to);
    BOOST_TEST(msg.find(f + ":" + std::to_string(line_of(t, marker)) + ": " + what) == 0u, msg);
  };
  expect("default_hour = 9", "default_hour = \"nine\"", "default_hour", "default_hour: expected an integer from 0 to 23");
  expect("h_mm_24h = false", "h_mm_24h = false\ncolour = 1", "colour", "unknown key 'clock.colour'");
  expect("[\"Saturday\"],\n]", "]", "weekdays = [", "date.weekdays: expected 7 arrays of strings");
  expect("at = [\"at\", \"around\"]", "at = [\"at\", \"@\"]", "at = [", "clock.at: '@' has no words");
  expect("\"half past\" = 30", "\"half past\" = \"thirty\"", "\"half past\"", "clock.offsets.half past: expected an integer");
  expect("noon = \"12:00\"", "noon = \"12\"", "noon =", "clock.named.noon: expected \"HH:MM\"");
  expect("nothing_pending = \"There is no reminder waiting to be snoozed or marked done.\"\n", "", "[phrases]",
         "missing 'phrases.nothing_pending'");
  expect("[format]", "[format]\ndate = ", "date = \n", "TOML:");
}

BOOST_FIXTURE_TEST_CASE(a_good_copy_loads_and_an_empty_dir_is_unavailable, temp_dir) {
  auto none = syn::time_words_load_dir(dir);
  BOOST_REQUIRE(!none.has_value());
  BOOST_TEST(none.error().code == aikid::errc::unavailable);
  auto missing = syn::time_words_load_dir(dir / "nope");
  BOOST_REQUIRE(!missing.has_value());
  BOOST_TEST(missing.error().code == aikid::errc::unavailable);
  std::ofstream(dir / "xx.toml") << en;  // a new language is a new file
  auto one = syn::time_words_load_dir(dir);
  BOOST_REQUIRE(one.has_value());
  BOOST_REQUIRE_EQUAL(one->size(), 1u);
  BOOST_TEST(syn::time_words_lang(*one->front()) == "xx");
  BOOST_REQUIRE_EQUAL(W().langs.size(), 2u);
  BOOST_TEST(syn::time_words_lang(*W().langs[0]) == "en");
  BOOST_TEST(syn::time_words_lang(*W().langs[1]) == "nb");
}

BOOST_AUTO_TEST_SUITE_END()
