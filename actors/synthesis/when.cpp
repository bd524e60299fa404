// Reminders said in words (synthesis.hpp section 8): the grammar of time
// expressions, reminder requests and replies to a reminder, over the words of
// config/time/<lang>.toml. The data holds every word; this file the grammar:
//
//   expression := relative | (day | time-of-day)+        one of each, any order
//   relative   := [in] amount-of-time {and amount-of-time} [from-now] [time]
//                 (in or from-now; a time only after whole days: "in 2 days at 10")
//   day        := day-word [part] | part-today | daily [part] | every (weekday | part)
//                 | weekly-day [part]   ("on Mondays", "på mandager")
//               | [on] weekday [date] [part] | [on] date [part]
//   date       := [the] N [ordinal] [of] month [year] | month [the] N [ordinal] [year]
//   time       := [at] (named | H:MM | [offset] [half] hour [oclock]) [am | pm]
//                 (a bare hour needs `at`, an offset, `half`, o'clock or am/pm)
//
// Text is cut into tokens (case-folded words; digits and letters apart, so
// "3pm" is 3 pm; "18:00"/"18.00" one clock token); punctuation is dropped.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <date/date.h>
#include <toml++/toml.h>
#include <utf8proc.h>

#include "actors/synthesis/internal.hpp"
#include "actors/synthesis/synthesis.hpp"
#include "actors/synthesis/toml_reader.hpp"

namespace aikid::synthesis {

namespace when_detail {

// ---- tokens ------------------------------------------------------------------

struct token {
  std::string s;              // case-folded text
  std::size_t b = 0, e = 0;   // source bytes
  int num = -1;               // an all-digit token of at most 4 digits: its value
  int digits = 0;             // its digit count
  int clock = -1;             // "H:MM" / "H.MM": minutes of the day
  bool zero_lead = false;     // the clock's hour has a leading zero ("09:00")
  bool punct = false;
};
using tokens = std::vector<token>;

void put_utf8(std::string& s, char32_t cp) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  s.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

bool ascii_digit(char32_t c) { return c >= U'0' && c <= U'9'; }

void set_number(token& t) {
  if (t.s.empty() || t.s.size() > 4) return;
  if (!std::all_of(t.s.begin(), t.s.end(), [](char c) { return c >= '0' && c <= '9'; })) return;
  t.num = std::stoi(t.s);
  t.digits = static_cast<int>(t.s.size());
}

// Words (split where digits meet letters) and single punctuation marks.
tokens raw_tokens(std::string_view text) {
  std::vector<detail::folded_cp> st;
  detail::text_fold_stream(text, st);
  tokens out;
  bool open = false, open_digit = false;
  for (const auto& f : st) {
    if (!f.word) {
      open = false;
      if (f.cp != U' ' && f.first) {
        token p;
        put_utf8(p.s, f.cp);
        p.b = f.begin;
        p.e = f.end;
        p.punct = true;
        out.push_back(std::move(p));
      }
      continue;
    }
    const bool d = ascii_digit(f.cp);
    if (open && f.first && d != open_digit) open = false;
    if (!open) {
      out.emplace_back();
      out.back().b = f.begin;
      open = true;
      open_digit = d;
    }
    put_utf8(out.back().s, f.cp);
    out.back().e = f.end;
  }
  for (auto& t : out) set_number(t);
  return out;
}

// r[i..i+2] is "H:MM" or "H.MM" written without spaces, H 0–23, MM 00–59.
bool is_clock(const tokens& r, std::size_t i) {
  if (i + 2 >= r.size()) return false;
  const token &h = r[i], &p = r[i + 1], &m = r[i + 2];
  return h.num >= 0 && h.digits <= 2 && h.num <= 23 && p.punct && (p.s == ":" || p.s == ".") &&
         m.num >= 0 && m.digits == 2 && m.num <= 59 && h.e == p.b && p.e == m.b;
}

// The tokens of text: words, numbers and clock times; punctuation dropped.
tokens tokenize(std::string_view text) {
  tokens raw = raw_tokens(text), out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (is_clock(raw, i)) {
      token c;
      c.clock = raw[i].num * 60 + raw[i + 2].num;
      c.zero_lead = raw[i].digits == 2 && raw[i].s[0] == '0';
      c.s = raw[i].s + ":" + raw[i + 2].s;
      c.b = raw[i].b;
      c.e = raw[i + 2].e;
      out.push_back(std::move(c));
      i += 2;
    } else if (!raw[i].punct) {
      out.push_back(std::move(raw[i]));
    }
  }
  return out;
}

// ---- words -----------------------------------------------------------------------

using phrase = std::vector<std::string>;  // folded words
struct entry {
  phrase words;
  int value = 0;
};
using plist = std::vector<entry>;

struct daypart {
  int hour = 0;
  bool pm = false;
};

bool matches(const phrase& p, const tokens& t, std::size_t i, std::size_t end) {
  if (i + p.size() > end) return false;
  for (std::size_t j = 0; j < p.size(); ++j) {
    if (t[i + j].clock >= 0 || t[i + j].s != p[j]) return false;
  }
  return true;
}

struct hit {
  std::size_t n = 0;  // tokens matched (0: none)
  int value = 0;
};

// The longest entry of l matching at t[i] and ending by `end`.
hit match(const plist& l, const tokens& t, std::size_t i, std::size_t end) {
  hit best;
  for (const auto& en : l) {
    if (en.words.size() > best.n && matches(en.words, t, i, end)) best = {en.words.size(), en.value};
  }
  return best;
}
hit match(const plist& l, const tokens& t, std::size_t i) { return match(l, t, i, t.size()); }

// An entry of l ending exactly at t[end - 1], not starting before `begin`: its length.
std::size_t match_ending(const plist& l, const tokens& t, std::size_t begin, std::size_t end) {
  std::size_t best = 0;
  for (const auto& en : l) {
    const std::size_t k = en.words.size();
    if (k > best && k <= end - begin && matches(en.words, t, end - k, end)) best = k;
  }
  return best;
}

}  // namespace when_detail

using namespace when_detail;

struct time_words {
  std::string lang, file;
  int default_hour = 9;
  std::string fmt_date, fmt_date_year;
  std::string fmt_day = "{day} {month}", fmt_day_year = "{day} {month} {year}";  // [format] day, day_year (optional)
  std::string fmt_weekday_day = "{weekday} {day} {month}";                         // [format] weekday_day (optional)
  plist numbers;
  plist at, oclock, am, pm, half_before, offsets, directions, named;  // named: minutes of day
  bool h_mm_24h = false;
  plist days;                                      // value: days from today
  plist on, the, of, ordinal, weekdays, months;    // weekdays 0–6, months 1–12
  std::vector<std::string> weekday_names, month_names;
  plist in, from_now, and_, amounts, units, durations;  // units, durations: minutes
  std::vector<daypart> dayparts;
  plist part_today, part_after;                    // value: index into dayparts
  plist every, daily, weekly;  // weekly: "on Mondays", "på mandager" (0–6)
  plist triggers, not_after, lead, trail;
  plist done, snooze, until, for_, politeness;
  int snooze_minutes = 10;
  std::map<std::string, std::string, std::less<>> phrases;
};

namespace when_detail {

// ---- loading ---------------------------------------------------------------------

// *t, or an empty table.
const toml::table& or_empty(const toml::table* t) {
  static const toml::table empty;
  return t ? *t : empty;
}

using detail::toml_reader;
constexpr auto path_of = &toml_reader::path_of;  // "clock" + "at" → "clock.at"

// Reads one file's tables. The first problem is kept in `err` as
// "file:line: what" (the line of the value, key or table at fault); reading
// goes on harmlessly after it.
struct reader : detail::toml_reader {
  // t's sub-table `key`; null when absent (fails when required) or not a table (fails).
  const toml::table* table(const toml::table& t, std::string_view key, const std::string& where, bool required) {
    const toml::node* n = t.get(key);
    if (!n && required) fail(line_of(t), "missing [" + path_of(where, key) + "]");
    if (n && !n->is_table()) fail(line_of(*n), path_of(where, key) + ": expected a table");
    return n ? n->as_table() : nullptr;
  }

  // A phrase's words; fails when it has none ("@", "").
  phrase words(std::string_view text, std::size_t line, const std::string& where) {
    phrase p;
    for (auto& tk : tokenize(text)) p.push_back(tk.s);
    if (p.empty()) fail(line, where + ": '" + std::string(text) + "' has no words");
    return p;
  }

  // An array of strings, each a phrase with `value`. Fails on anything else.
  void list_into(const toml::node& n, const std::string& where, int value, plist& out) {
    const auto* arr = n.as_array();
    if (!arr) return fail(line_of(n), where + ": expected an array of strings");
    for (auto&& el : *arr) {
      const auto s = el.value<std::string>();
      if (!el.is_string() || !s) return fail(line_of(el), where + ": expected an array of strings");
      out.push_back({words(*s, line_of(el), where), value});
    }
  }

  // The optional list t.key (empty when absent).
  plist list(const toml::table* t, std::string_view key, const std::string& where) {
    plist out;
    if (const toml::node* n = t ? t->get(key) : nullptr) list_into(*n, path_of(where, key), 0, out);
    return out;
  }

  // The optional table t.key of phrase = integer in [lo, hi].
  plist valued(const toml::table* t, std::string_view key, const std::string& where, int lo, int hi) {
    plist out;
    const toml::table* v = t ? table(*t, key, where, false) : nullptr;
    const std::string at = path_of(where, key);
    for (auto&& [k, n] : or_empty(v)) {
      const auto i = n.value<std::int64_t>();
      if (!n.is_integer() || !i || *i < lo || *i > hi) {
        fail(line_of(n), path_of(at, k.str()) + ": expected an integer from " + std::to_string(lo) + " to " +
                             std::to_string(hi));
        continue;
      }
      out.push_back({words(k.str(), k.source().begin.line, at), static_cast<int>(*i)});
    }
    return out;
  }

  // The required t.key: `count` arrays of strings; entry i has value
  // first + i, and names[i] is its first string as written.
  plist nested(const toml::table& t, std::string_view key, const std::string& where, std::size_t count, int first,
               std::vector<std::string>& names) {
    plist out;
    const std::string at = path_of(where, key);
    const toml::node* n = t.get(key);
    const auto* arr = n ? n->as_array() : nullptr;
    if (!arr || arr->size() != count) {
      fail(n ? line_of(*n) : line_of(t), at + ": expected " + std::to_string(count) + " arrays of strings");
      return out;
    }
    for (std::size_t i = 0; i < count; ++i) {
      const std::string el = at + "[" + std::to_string(i) + "]";
      const auto* inner = (*arr)[i].as_array();
      const auto name = inner && !inner->empty() ? (*inner)[0].value<std::string>() : std::nullopt;
      if (!name) {
        fail(line_of((*arr)[i]), el + ": expected a non-empty array of strings");
        return out;
      }
      names.push_back(*name);
      list_into((*arr)[i], el, first + static_cast<int>(i), out);
    }
    return out;
  }

  // The optional integer t.key in [lo, hi] (dflt when absent).
  int integer(const toml::table* t, std::string_view key, const std::string& where, int lo, int hi, int dflt) {
    const toml::node* n = t ? t->get(key) : nullptr;
    if (!n) return dflt;
    const auto i = n->value<std::int64_t>();
    if (n->is_integer() && i && *i >= lo && *i <= hi) return static_cast<int>(*i);
    fail(line_of(*n), path_of(where, key) + ": expected an integer from " + std::to_string(lo) + " to " +
                          std::to_string(hi));
    return dflt;
  }

  // The optional boolean t.key (false when absent).
  bool boolean(const toml::table* t, std::string_view key, const std::string& where) {
    const toml::node* n = t ? t->get(key) : nullptr;
    if (n && !n->is_boolean()) fail(line_of(*n), path_of(where, key) + ": expected true or false");
    return n ? n->value<bool>().value_or(false) : false;
  }

  // The required string t.key.
  std::string string(const toml::table& t, std::string_view key, const std::string& where) {
    const toml::node* n = t.get(key);
    if (!n) fail(line_of(t), "missing '" + path_of(where, key) + "'");
    if (n && !n->is_string()) fail(line_of(*n), path_of(where, key) + ": expected a string");
    return n ? n->value<std::string>().value_or("") : std::string();
  }
};

// clock.named: phrase = "HH:MM" → minutes of the day.
plist read_named(reader& r, const toml::table* clock) {
  plist out;
  const toml::table* t = clock ? r.table(*clock, "named", "clock", false) : nullptr;
  for (auto&& [k, n] : or_empty(t)) {
    int h = -1, m = -1, used = 0;
    const auto s = n.value<std::string>();
    if (!n.is_string() || !s || std::sscanf(s->c_str(), "%2d:%2d%n", &h, &m, &used) != 2 ||
        used != static_cast<int>(s->size()) || h < 0 || h > 23 || m < 0 || m > 59) {
      r.fail(r.line_of(n), path_of("clock.named", k.str()) + ": expected \"HH:MM\"");
      continue;
    }
    out.push_back({r.words(k.str(), k.source().begin.line, "clock.named"), h * 60 + m});
  }
  return out;
}

void read_clock(reader& r, const toml::table& root, time_words& w) {
  const toml::table* c = r.table(root, "clock", "", false);
  if (c) r.only(*c, "clock", {"at", "oclock", "am", "pm", "half_before", "h_mm_24h", "offsets", "directions", "named"});
  w.at = r.list(c, "at", "clock");
  w.oclock = r.list(c, "oclock", "clock");
  w.am = r.list(c, "am", "clock");
  w.pm = r.list(c, "pm", "clock");
  w.half_before = r.list(c, "half_before", "clock");
  w.h_mm_24h = r.boolean(c, "h_mm_24h", "clock");
  w.offsets = r.valued(c, "offsets", "clock", -59, 59);
  w.directions = r.valued(c, "directions", "clock", -1, 1);
  w.named = read_named(r, c);
}

void read_dates(reader& r, const toml::table& root, time_words& w) {
  w.days = r.valued(&root, "days", "", -7, 7);
  const toml::table* d = r.table(root, "date", "", true);
  if (!d) return;
  r.only(*d, "date", {"on", "the", "of", "ordinal", "weekdays", "months"});
  w.on = r.list(d, "on", "date");
  w.the = r.list(d, "the", "date");
  w.of = r.list(d, "of", "date");
  w.ordinal = r.list(d, "ordinal", "date");
  w.weekdays = r.nested(*d, "weekdays", "date", 7, 0, w.weekday_names);
  w.months = r.nested(*d, "months", "date", 12, 1, w.month_names);
}

void read_relative(reader& r, const toml::table& root, time_words& w) {
  const toml::table* t = r.table(root, "relative", "", false);
  if (t) r.only(*t, "relative", {"in", "from_now", "and", "amounts", "units", "durations"});
  w.in = r.list(t, "in", "relative");
  w.from_now = r.list(t, "from_now", "relative");
  w.and_ = r.list(t, "and", "relative");
  w.amounts = r.valued(t, "amounts", "relative", 1, 100);
  w.units = r.valued(t, "units", "relative", 1, 525600);
  w.durations = r.valued(t, "durations", "relative", 1, 525600);
}

void read_dayparts(reader& r, const toml::table& root, time_words& w) {
  const toml::table* t = r.table(root, "dayparts", "", false);
  for (auto&& [k, n] : or_empty(t)) {
    const std::string where = path_of("dayparts", k.str());
    const toml::table* p = n.as_table();
    if (!p) {
      r.fail(r.line_of(n), where + ": expected a table");
      continue;
    }
    r.only(*p, where, {"hour", "pm", "today", "after_day"});
    if (!p->get("hour")) r.fail(r.line_of(n), "missing '" + where + ".hour'");
    const int index = static_cast<int>(w.dayparts.size());
    w.dayparts.push_back({r.integer(p, "hour", where, 0, 23, 12), r.boolean(p, "pm", where)});
    for (auto e : r.list(p, "today", where)) w.part_today.push_back({std::move(e.words), index});
    for (auto e : r.list(p, "after_day", where)) w.part_after.push_back({std::move(e.words), index});
  }
}

void read_reminders(reader& r, const toml::table& root, time_words& w) {
  const toml::table* p = r.table(root, "repeat", "", false);
  if (p) r.only(*p, "repeat", {"every", "daily", "weekly"});
  w.every = r.list(p, "every", "repeat");
  w.daily = r.list(p, "daily", "repeat");
  if (p && p->get("weekly")) {
    std::vector<std::string> names;
    w.weekly = r.nested(*p, "weekly", "repeat", 7, 0, names);
  }
  const toml::table* m = r.table(root, "reminder", "", false);
  if (m) r.only(*m, "reminder", {"triggers", "not_after", "lead", "trail"});
  w.triggers = r.list(m, "triggers", "reminder");
  w.not_after = r.list(m, "not_after", "reminder");
  w.lead = r.list(m, "lead", "reminder");
  w.trail = r.list(m, "trail", "reminder");
  const toml::table* c = r.table(root, "commands", "", false);
  if (c) r.only(*c, "commands", {"done", "snooze", "until", "for", "politeness", "snooze_minutes"});
  w.done = r.list(c, "done", "commands");
  w.snooze = r.list(c, "snooze", "commands");
  w.until = r.list(c, "until", "commands");
  w.for_ = r.list(c, "for", "commands");
  w.politeness = r.list(c, "politeness", "commands");
  w.snooze_minutes = r.integer(c, "snooze_minutes", "commands", 1, 10080, 10);
}

constexpr std::string_view kPhraseKeys[] = {"ack",     "ack_repeat", "fire",            "fire_late",    "past",
                                            "snoozed", "done",       "nothing_pending", "period_daily", "period_weekly"};

void read_texts(reader& r, const toml::table& root, time_words& w) {
  if (const toml::table* f = r.table(root, "format", "", true)) {
    r.only(*f, "format", {"date", "date_year", "day", "day_year", "weekday_day"});
    w.fmt_date = r.string(*f, "date", "format");
    w.fmt_date_year = r.string(*f, "date_year", "format");
    if (f->get("day")) w.fmt_day = r.string(*f, "day", "format");
    if (f->get("day_year")) w.fmt_day_year = r.string(*f, "day_year", "format");
    if (f->get("weekday_day")) w.fmt_weekday_day = r.string(*f, "weekday_day", "format");
  }
  const toml::table* p = r.table(root, "phrases", "", true);
  if (!p) return;
  for (auto&& [k, n] : *p) {
    if (!n.is_string()) r.fail(r.line_of(n), path_of("phrases", k.str()) + ": expected a string");
    w.phrases[std::string(k.str())] = n.value<std::string>().value_or("");
  }
  for (auto key : kPhraseKeys) {
    if (!w.phrases.count(key)) r.fail(r.line_of(*p), "missing 'phrases." + std::string(key) + "'");
  }
}

// One file's words. Fails: bad_request "file:line: what".
expected<time_words_ptr> read_words(const std::string& file, const std::string& lang, const toml::table& root) {
  reader r{{file, std::nullopt}};
  r.only(root, "", {"default_hour", "format", "numbers", "clock", "days", "date", "relative", "dayparts", "repeat",
                    "reminder", "commands", "phrases"});
  auto w = std::make_shared<time_words>();
  w->lang = lang;
  w->file = file;
  w->default_hour = r.integer(&root, "default_hour", "", 0, 23, 9);
  if (!root.get("numbers")) r.fail(1, "missing [numbers]");
  w->numbers = r.valued(&root, "numbers", "", 0, 100);
  read_clock(r, root, *w);
  read_dates(r, root, *w);
  read_relative(r, root, *w);
  read_dayparts(r, root, *w);
  read_reminders(r, root, *w);
  read_texts(r, root, *w);
  if (r.err) return *r.err;
  return time_words_ptr(std::move(w));
}

// Parses and reads one file. Fails: bad_request "file:line: …" (TOML or
// words), unavailable (unreadable).
expected<time_words_ptr> load_file(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return error{errc::unavailable, file + ": cannot read"};
  std::stringstream ss;
  ss << in.rdbuf();
  toml::table root;
  try {
    root = toml::parse(ss.str(), file);
  } catch (const toml::parse_error& e) {
    return error{errc::bad_request,
                 file + ":" + std::to_string(e.source().begin.line) + ": TOML: " + std::string(e.description())};
  }
  return read_words(file, path.stem().string(), root);
}

// ---- grammar -------------------------------------------------------------------------

struct scan {
  const time_words& w;
  const tokens& t;
  hit at(const plist& l, std::size_t i) const { return match(l, t, i); }
};

struct number {
  std::size_t n = 0;
  int value = 0;
  bool word = false;
};

// Digits, a number word, or a ten and a unit ("twenty five"). n = 0: none.
number p_number(const scan& s, std::size_t i) {
  if (i >= s.t.size()) return {};
  if (s.t[i].num >= 0) return {1, s.t[i].num, false};
  const hit h = s.at(s.w.numbers, i);
  if (!h.n) return {};
  number r{h.n, h.value, true};
  if (h.value >= 20 && h.value % 10 == 0) {
    const hit u = s.at(s.w.numbers, i + h.n);
    if (u.n && u.value > 0 && u.value < 10) r = {h.n + u.n, h.value + u.value, true};
  }
  return r;
}

struct tod {
  int minutes = 0;    // of the day; !exact: a 12-hour time, in [0, 720)
  bool exact = true;
};

// "noon", "midnatt".
std::size_t p_named(const scan& s, std::size_t j, tod& r) {
  const hit h = s.at(s.w.named, j);
  if (h.n) r = {h.value, true};
  return j + h.n;
}

// "18:00", "9.30", "2:30" (12-hour in a language without h_mm_24h).
std::size_t p_clock(const scan& s, std::size_t j, tod& r) {
  if (j >= s.t.size() || s.t[j].clock < 0) return j;
  const token& c = s.t[j];
  const int h = c.clock / 60;
  const bool exact = s.w.h_mm_24h || c.zero_lead || h == 0 || h >= 12;
  r = exact ? tod{c.clock, true} : tod{c.clock % 720, false};
  return j + 1;
}

struct shift {
  std::size_t n = 0;  // tokens
  int minutes = 0;
};

// What moves the hour: "half past" (+30), "kvart på" (-15), "ten past",
// "20 minutes to". A number with a direction needs `at` before it, `half`
// after it, or to be a word going forward ("ten past three").
shift p_offset(const scan& s, std::size_t j, bool marked) {
  if (const hit o = s.at(s.w.offsets, j); o.n) return {o.n, o.value};
  const number m = p_number(s, j);
  if (!m.n || m.value < 1 || m.value > 59) return {};
  std::size_t k = j + m.n;
  if (const hit u = s.at(s.w.units, k); u.n && u.value == 1) k += u.n;
  const hit d = s.at(s.w.directions, k);
  if (!d.n || d.value == 0) return {};
  const bool ok = marked || s.at(s.w.half_before, k + d.n).n || (m.word && d.value > 0);
  return ok ? shift{k + d.n - j, m.value * d.value} : shift{};
}

// An hour in words or digits with what moves it (off: none, or p_offset's).
std::size_t p_hour(const scan& s, std::size_t j, bool marked, const shift& off, tod& r) {
  std::size_t k = j + off.n;
  const hit half = s.at(s.w.half_before, k);
  k += half.n;
  const number h = p_number(s, k);
  if (!h.n || h.value > 23 || (h.word && h.value > 12)) return j;
  k += h.n;
  const hit oc = s.at(s.w.oclock, k);
  k += oc.n;
  const bool ampm = s.at(s.w.am, k).n || s.at(s.w.pm, k).n;
  if (!marked && !off.n && !half.n && !oc.n && !ampm) return j;
  const int m = ((h.value * 60 + off.minutes - (half.n ? 30 : 0)) % 1440 + 1440) % 1440;
  const bool plain = !off.n && !half.n;
  if (h.value == 0 || h.value > 12 || (plain && h.value == 12)) r = {m, true};
  else r = {m % 720, false};
  return k;
}

// "at 9", "half past two", "halv tre", "kvart over to", "3pm", "nine
// o'clock"; "at 9 to call" is 9 when "9 to" has no hour after it.
std::size_t p_spoken(const scan& s, std::size_t j, bool marked, tod& r) {
  const shift off = p_offset(s, j, marked);
  const std::size_t k = p_hour(s, j, marked, off, r);
  return k > j || !off.n ? k : p_hour(s, j, marked, shift{}, r);
}

// "am" / "pm" / "in the evening" after a time makes it exact.
std::size_t p_ampm(const scan& s, std::size_t k, tod& r) {
  const bool afternoon = r.exact && r.minutes >= 13 * 60;  // "15:00 pm": as written
  if (const hit a = s.at(s.w.am, k); a.n) {
    if (!afternoon) r = {r.minutes % 720, true};
    return k + a.n;
  }
  if (const hit p = s.at(s.w.pm, k); p.n) {
    r = {r.minutes % 720 + 720, true};
    return k + p.n;
  }
  return k;
}

// A time of day. Returns i when there is none.
std::size_t p_tod(const scan& s, std::size_t i, std::optional<tod>& out) {
  const hit at = s.at(s.w.at, i);
  const std::size_t j = i + at.n;
  tod r;
  std::size_t k = p_named(s, j, r);
  if (k == j) k = p_clock(s, j, r);
  if (k == j) k = p_spoken(s, j, at.n > 0, r);
  if (k == j) return i;
  k = p_ampm(s, k, r);
  out = r;
  return k;
}

struct dmy {
  int d = 0, m = 0, y = 0;  // y = 0: no year said
};

struct day_said {
  std::optional<int> offset, weekday, part;  // part: index into time_words::dayparts
  std::optional<dmy> date;
  repeat_rule::kind every = repeat_rule::kind::none;
};

// A year: four digits, 1900–2999.
std::size_t p_year(const scan& s, std::size_t k, int& y) {
  if (k < s.t.size() && s.t[k].digits == 4 && s.t[k].num >= 1900 && s.t[k].num <= 2999) {
    y = s.t[k].num;
    return k + 1;
  }
  return k;
}

// d/m is a date (of year y, or of some leap year when y = 0).
bool valid_date(int d, int m, int y) {
  const auto ymd = date::year{y ? y : 2000} / date::month{unsigned(m)} / date::day{unsigned(d)};
  return d >= 1 && ymd.ok();
}

// "24 December", "24th of December", "24. desember", "1 January 2020".
std::size_t p_day_month(const scan& s, std::size_t i, dmy& out) {
  if (i >= s.t.size() || s.t[i].num < 1 || s.t[i].num > 31 || s.t[i].digits > 2) return i;
  std::size_t k = i + 1;
  k += s.at(s.w.ordinal, k).n;
  k += s.at(s.w.of, k).n;
  const hit m = s.at(s.w.months, k);
  if (!m.n) return i;
  out = {s.t[i].num, m.value, 0};
  return p_year(s, k + m.n, out.y);
}

// "December 24", "December 24th, 2026", "December the 24th".
std::size_t p_month_day(const scan& s, std::size_t i, dmy& out) {
  const hit m = s.at(s.w.months, i);
  if (!m.n) return i;
  std::size_t k = i + m.n;
  k += s.at(s.w.the, k).n;
  if (k >= s.t.size() || s.t[k].num < 1 || s.t[k].num > 31 || s.t[k].digits > 2) return i;
  out = {s.t[k].num, m.value, 0};
  k += 1;
  k += s.at(s.w.ordinal, k).n;
  return p_year(s, k, out.y);
}

std::size_t p_date(const scan& s, std::size_t i, dmy& out) {
  const std::size_t j = i + s.at(s.w.the, i).n;
  dmy d;
  std::size_t k = p_day_month(s, j, d);
  if (k == j) k = p_month_day(s, j, d);
  if (k == j || !valid_date(d.d, d.m, d.y)) return i;
  out = d;
  return k;
}

// "morning" after a day: "tomorrow morning", "fredag kveld".
std::size_t p_after_part(const scan& s, std::size_t k, day_said& d) {
  const hit p = s.at(s.w.part_after, k);
  if (p.n) d.part = p.value;
  return k + p.n;
}

// "tomorrow", "i morgen tidlig".
std::size_t p_day_word(const scan& s, std::size_t i, day_said& d) {
  const hit h = s.at(s.w.days, i);
  if (!h.n) return i;
  d.offset = h.value;
  return p_after_part(s, i + h.n, d);
}

// "tonight", "i kveld".
std::size_t p_part_today(const scan& s, std::size_t i, day_said& d) {
  const hit h = s.at(s.w.part_today, i);
  if (!h.n) return i;
  d.offset = 0;
  d.part = h.value;
  return i + h.n;
}

// "every day", "every Monday (morning)", "hver kveld".
std::size_t p_every(const scan& s, std::size_t i, day_said& d) {
  if (const hit h = s.at(s.w.daily, i); h.n) {
    d.every = repeat_rule::kind::daily;
    return p_after_part(s, i + h.n, d);
  }
  if (const hit wd = s.at(s.w.weekly, i); wd.n) {  // "on Mondays"
    d.every = repeat_rule::kind::weekly;
    d.weekday = wd.value;
    return p_after_part(s, i + wd.n, d);
  }
  const hit e = s.at(s.w.every, i);
  if (!e.n) return i;
  const std::size_t k = i + e.n;
  if (const hit wd = s.at(s.w.weekdays, k); wd.n) {
    d.every = repeat_rule::kind::weekly;
    d.weekday = wd.value;
    return p_after_part(s, k + wd.n, d);
  }
  if (const hit p = s.at(s.w.part_after, k); p.n) {
    d.every = repeat_rule::kind::daily;
    d.part = p.value;
    return k + p.n;
  }
  return i;
}

// "on Friday", "fredag", "next Monday evening", "Friday 12 December".
std::size_t p_weekday(const scan& s, std::size_t i, day_said& d) {
  std::size_t k = i + s.at(s.w.on, i).n;
  const hit wd = s.at(s.w.weekdays, k);
  if (!wd.n) return i;
  d.weekday = wd.value;
  k += wd.n;
  dmy dt;
  if (const std::size_t k2 = p_date(s, k, dt); k2 > k) {
    d.date = dt;
    k = k2;
  }
  return p_after_part(s, k, d);
}

// "on 24 December", "den 24. desember".
std::size_t p_date_on(const scan& s, std::size_t i, day_said& d) {
  const std::size_t k = i + s.at(s.w.on, i).n;
  dmy dt;
  const std::size_t k2 = p_date(s, k, dt);
  if (k2 == k) return i;
  d.date = dt;
  return p_after_part(s, k2, d);
}

// A day, the longest of the forms. Returns i when there is none.
std::size_t p_day(const scan& s, std::size_t i, day_said& out) {
  using parser = std::size_t (*)(const scan&, std::size_t, day_said&);
  std::size_t best = i;
  for (parser p : {p_day_word, p_part_today, p_every, p_weekday, p_date_on}) {
    day_said d;
    if (const std::size_t k = p(s, i, d); k > best) {
      best = k;
      out = d;
    }
  }
  return best;
}

// "20 minutes", "an hour", "half an hour", "to timer". Returns k when none.
std::size_t p_amount(const scan& s, std::size_t k, std::int64_t& minutes) {
  if (const hit d = s.at(s.w.durations, k); d.n) {
    minutes = d.value;
    return k + d.n;
  }
  const number n = p_number(s, k);
  const hit a = s.at(s.w.amounts, k);
  const std::size_t len = std::max(n.n, a.n);
  if (!len) return k;
  const hit u = s.at(s.w.units, k + len);
  if (!u.n) return k;
  minutes = std::int64_t(n.n >= a.n ? n.value : a.value) * u.value;
  return k + len + u.n;
}

constexpr std::int64_t kMaxAhead = 3660LL * 1440;  // minutes: a relative time is at most ~10 years

// Amounts joined by `and`: "2 hours and 30 minutes". None past kMaxAhead.
std::size_t p_amounts(const scan& s, std::size_t k, std::int64_t& minutes) {
  std::int64_t total = 0;
  std::size_t end = p_amount(s, k, total);
  if (end == k) return k;
  for (;;) {
    const hit a = s.at(s.w.and_, end);
    std::int64_t more = 0;
    const std::size_t e2 = a.n ? p_amount(s, end + a.n, more) : end;
    if (e2 == end + a.n || total > kMaxAhead) break;
    total += more;
    end = e2;
  }
  if (total > kMaxAhead) return k;
  minutes = total;
  return end;
}

// "in 20 minutes", "om en time", "20 minutes from now".
std::size_t p_relative(const scan& s, std::size_t i, std::int64_t& minutes) {
  const hit in = s.at(s.w.in, i);
  std::int64_t m = 0;
  const std::size_t k = p_amounts(s, i + in.n, m);
  if (k == i + in.n) return i;
  const hit fn = s.at(s.w.from_now, k);
  if (!in.n && !fn.n) return i;
  minutes = m;
  return k + fn.n;
}

// Everything one expression said.
struct said {
  std::optional<std::int64_t> relative;  // minutes from now
  day_said day;
  bool has_day = false;
  std::optional<tod> time;
};

// A relative time ending at t[k]; whole days followed by a time of day are
// that day at that time ("in 2 days at 10", "om 2 dager kl 10").
std::size_t with_time_of_day(const scan& s, std::size_t k, std::int64_t minutes, said& out) {
  std::optional<tod> t;
  const std::size_t k2 = minutes > 0 && minutes % 1440 == 0 ? p_tod(s, k, t) : k;
  if (k2 == k) {
    out.relative = minutes;
    return k;
  }
  out.day.offset = static_cast<int>(std::min<std::int64_t>(minutes / 1440, 366));
  out.has_day = true;
  out.time = t;
  return k2;
}

// The expression at t[i]: a relative time, or a day and a time of day in
// either order. Returns i when there is none.
std::size_t p_expr(const scan& s, std::size_t i, said& out) {
  said r;
  std::int64_t m = 0;
  if (const std::size_t k = p_relative(s, i, m); k > i) return with_time_of_day(s, k, m, out);
  std::size_t k = i;
  for (bool more = true; more;) {
    more = false;
    std::size_t n = k;
    if (!r.has_day && (n = p_day(s, k, r.day)) > k) r.has_day = more = true;
    else if (!r.time && (n = p_tod(s, k, r.time)) > k) more = true;
    k = n;
  }
  if (k > i) out = r;
  return k;
}

// ---- calendar arithmetic ---------------------------------------------------------------

long offset_at(const zone& z, std::int64_t ms) {
  long off = 0;
  (void)detail::zone_fields(z, ms, &off);
  return off;
}

date::sys_days day_of(const local_time& lt) {
  return date::sys_days{date::year{lt.year} / date::month{unsigned(lt.month)} / date::day{unsigned(lt.day)}};
}

int weekday_of(date::sys_days d) { return static_cast<int>(date::weekday{d}.c_encoding()); }

// Unix ms of the local wall time `minutes` after midnight of day d in z. A
// time the clock skips (spring forward) moves on by the skip (02:30 → 03:30);
// one it passes twice (fall back) is the first of the two.
std::int64_t local_ms(const zone& z, date::sys_days d, int minutes) {
  constexpr std::int64_t half_day = 12 * 3600 * 1000LL;
  const std::int64_t wall = (std::int64_t(d.time_since_epoch().count()) * 1440 + minutes) * 60000;
  const long before = offset_at(z, wall - half_day), after = offset_at(z, wall + half_day);
  for (const long off : {std::max(before, after), std::min(before, after)}) {
    const std::int64_t t = wall - off * 1000LL;
    if (offset_at(z, t) == off) return t;
  }
  return wall - before * 1000LL;
}

struct resolved {
  std::int64_t due = 0;
  bool past = false;
  repeat_rule repeat;
  resolved(std::int64_t d, bool p = false, repeat_rule r = {}) : due(d), past(p), repeat(r) {}
};

// The time of day on a named day: as said; a 12-hour time by its part of
// the day, else 7:00–11:59 morning and 12:00–6:59 afternoon; no time: the
// part of the day's hour, else default_hour.
int named_minutes(const time_words& w, const said& x) {
  const daypart* p = x.day.part ? &w.dayparts[static_cast<std::size_t>(*x.day.part)] : nullptr;
  if (!x.time) return (p ? p->hour : w.default_hour) * 60;
  if (x.time->exact) return x.time->minutes;
  const int v = x.time->minutes;
  if (p) return p->pm ? v + 720 : v;
  return v / 60 >= 7 ? v : v + 720;
}

// A time of day alone: the next occurrence (of either reading of a 12-hour time).
resolved next_time(const tod& td, std::int64_t now, const zone& z, date::sys_days today) {
  const int readings[2] = {td.minutes, td.minutes + 720};
  const int count = td.exact ? 1 : 2;
  for (const auto d : {today, today + date::days{1}}) {
    for (int i = 0; i < count; ++i) {
      if (const std::int64_t t = local_ms(z, d, readings[i]); t > now) return {t};
    }
  }
  return {local_ms(z, today + date::days{2}, td.minutes)};  // not reached
}

// "today", "tomorrow", "yesterday", "tonight": past only for a day behind
// today or a time said for today that has passed.
resolved on_offset(const time_words& w, const said& x, std::int64_t now, const zone& z, date::sys_days today) {
  const int off = *x.day.offset;
  const auto d = today + date::days{off};
  if (off == 0 && !x.time) {  // "today", "tonight": its hour, else the next full hour
    const std::int64_t t = local_ms(z, d, named_minutes(w, x));
    return {t > now ? t : (now / 3600000 + 1) * 3600000};
  }
  if (off == 0 && !x.time->exact && !x.day.part) {  // "today at 9": whichever is ahead
    for (const int m : {x.time->minutes, x.time->minutes + 720}) {
      if (const std::int64_t t = local_ms(z, d, m); t > now) return {t};
    }
  }
  const std::int64_t t = local_ms(z, d, named_minutes(w, x));
  return {t, t <= now};
}

// "on Friday": the next such day, today when the time is still ahead.
resolved on_weekday(const time_words& w, const said& x, std::int64_t now, const zone& z, date::sys_days today) {
  const int k = (*x.day.weekday - weekday_of(today) + 7) % 7;
  const int m = named_minutes(w, x);
  const std::int64_t t = local_ms(z, today + date::days{k}, m);
  return {t > now ? t : local_ms(z, today + date::days{k + 7}, m)};
}

// "24 December": this year's, or past; without a year and more than 183 days
// behind, next year's (the next year that has the date). Nothing when the
// date does not exist in the year said.
std::optional<resolved> on_date(const time_words& w, const said& x, std::int64_t now, const zone& z,
                                const local_time& lt) {
  const dmy& dt = *x.day.date;
  const int m = named_minutes(w, x);
  auto at_year = [&](int y) -> std::optional<std::int64_t> {
    const auto ymd = date::year{y} / date::month{unsigned(dt.m)} / date::day{unsigned(dt.d)};
    if (!ymd.ok()) return std::nullopt;
    return local_ms(z, date::sys_days{ymd}, m);
  };
  const auto t = at_year(dt.y ? dt.y : lt.year);
  if (t && *t > now) return resolved{*t};
  if (t && (dt.y || now - *t <= 183LL * 86400000)) return resolved{*t, true};
  if (dt.y) return std::nullopt;
  for (int y = lt.year + 1; y <= lt.year + 8; ++y) {
    if (const auto n = at_year(y)) return resolved{*n};
  }
  return std::nullopt;
}

// What an expression names, at now in z. Nothing for a date that does not exist.
std::optional<resolved> resolve(const time_words& w, const said& x, std::int64_t now, const zone& z) {
  if (x.relative) return resolved{now + *x.relative * 60000};
  const local_time lt = detail::zone_fields(z, now);
  const date::sys_days today = day_of(lt);
  if (x.day.every != repeat_rule::kind::none) {
    const int m = named_minutes(w, x);
    const repeat_rule r{x.day.every, x.day.weekday.value_or(0), m / 60, m % 60};
    return resolved{repeat_next(r, now, z), false, r};
  }
  if (x.day.date) return on_date(w, x, now, z, lt);
  if (x.day.weekday) return on_weekday(w, x, now, z, today);
  if (x.day.offset) return on_offset(w, x, now, z, today);
  if (x.time) return next_time(*x.time, now, z, today);
  return std::nullopt;
}

// The first expression in t that names a time (an expression naming no
// date that exists, "31 February", is passed over).
std::optional<when_parsed> find_expr(const time_words& w, const tokens& t, std::int64_t now, const zone& z) {
  const scan s{w, t};
  for (std::size_t i = 0; i < t.size(); ++i) {
    said x;
    const std::size_t e = p_expr(s, i, x);
    if (e == i) continue;
    const auto r = resolve(w, x, now, z);
    if (!r) continue;
    when_parsed p;
    p.due_ms = r->due;
    p.repeat = r->repeat;
    p.past = r->past;
    p.begin = t[i].b;
    p.end = t[e - 1].e;
    return p;
  }
  return std::nullopt;
}

// {name} fields of f from vars; unknown names stay.
std::string fill(std::string_view f, const std::vector<std::pair<std::string, std::string>>& vars) {
  std::string out;
  std::size_t i = 0;
  while (i < f.size()) {
    const std::size_t open = f.find('{', i), close = open == f.npos ? f.npos : f.find('}', open);
    if (close == f.npos) break;
    out.append(f.substr(i, open - i));
    const std::string_view name = f.substr(open + 1, close - open - 1);
    const auto v = std::find_if(vars.begin(), vars.end(), [&](const auto& p) { return p.first == name; });
    if (v != vars.end()) out += v->second;
    else out.append(f.substr(open, close - open + 1));
    i = close + 1;
  }
  out.append(f.substr(std::min(i, f.size())));
  return out;
}

// ---- reminder requests ------------------------------------------------------------------

struct span {
  std::size_t b = 0, e = 0;  // bytes
};

// The first trigger not right after a negation ("don't remind me").
std::optional<span> find_trigger(const time_words& w, const tokens& t) {
  for (std::size_t i = 0; i < t.size(); ++i) {
    const hit h = match(w.triggers, t, i);
    if (h.n && !match_ending(w.not_after, t, 0, i)) return span{t[i].b, t[i + h.n - 1].e};
  }
  return std::nullopt;
}

// The words of piece without filler at its start (lead) and/or end (trail).
std::string_view strip_fillers(const time_words& w, std::string_view piece, bool lead, bool trail) {
  const tokens t = tokenize(piece);
  std::size_t a = 0, b = t.size();
  for (hit h; lead && a < b && (h = match(w.lead, t, a, b)).n;) a += h.n;
  for (std::size_t n; trail && a < b && (n = match_ending(w.trail, t, a, b));) b -= n;
  if (a >= b) return {};
  return piece.substr(t[a].b, t[b - 1].e - t[a].b);
}

// What to remind about: the text after the trigger without the time, and
// without filler where it starts and ends ("to call Anne | on Friday | about
// the insurance" keeps the "about").
std::string what_of(const time_words& w, std::string_view text, span tr, const when_parsed& when) {
  std::string_view a = text.substr(tr.e), b;
  if (when.begin >= tr.e) {
    a = text.substr(tr.e, when.begin - tr.e);
    b = text.substr(when.end);
  }
  a = strip_fillers(w, a, true, false);
  b = strip_fillers(w, b, false, true);
  if (b.empty()) a = strip_fillers(w, a, false, true);
  if (a.empty()) b = strip_fillers(w, b, true, false);
  std::string out(a);
  if (!out.empty() && !b.empty()) out += ' ';
  out += b;
  return out;
}

// The first time expression in text[from, to); spans are of the whole text.
std::optional<when_parsed> find_in(const time_words& w, std::string_view text, std::size_t from, std::size_t to,
                                   std::int64_t now, const zone& z) {
  auto p = find_expr(w, tokenize(text.substr(from, to - from)), now, z);
  if (p) {
    p->begin += from;
    p->end += from;
  }
  return p;
}

// A request in one language, with where its trigger starts.
std::optional<std::pair<std::size_t, reminder_ask>> ask_in(const time_words& w, std::string_view text,
                                                           std::int64_t now, const zone& z) {
  const auto tr = find_trigger(w, tokenize(text));
  if (!tr) return std::nullopt;
  auto when = find_in(w, text, tr->e, text.size(), now, z);
  if (!when) when = find_in(w, text, 0, tr->b, now, z);
  if (!when) return std::nullopt;
  return std::pair{tr->b, reminder_ask{w.lang, what_of(w, text, *tr, *when), *when}};
}

// ---- replies -----------------------------------------------------------------------------

// t[a, b) is exactly one entry of l.
bool exactly(const plist& l, const tokens& t, std::size_t a, std::size_t b) {
  return std::any_of(l.begin(), l.end(), [&](const entry& en) { return en.words.size() == b - a && matches(en.words, t, a, b); });
}

// What follows "snooze": nothing, an amount ("10 minutes", "for an hour"),
// or a time ("until 15:00", "til i morgen", "in 10 minutes").
std::optional<reminder_command> snooze_rest(const time_words& w, const tokens& t, std::size_t r, std::int64_t now,
                                            const zone& z) {
  reminder_command c{reminder_command::kind::snooze, w.lang, 0, std::nullopt};
  const scan s{w, t};
  std::int64_t m = 0;
  said x;
  if (r == t.size()) {
    c.snooze_minutes = w.snooze_minutes;
  } else if (p_amounts(s, r + match(w.for_, t, r).n, m) == t.size() && m > 0) {
    c.snooze_minutes = m;
  } else if (p_expr(s, r + match(w.until, t, r).n, x) != t.size()) {
    return std::nullopt;
  } else if (x.relative) {
    c.snooze_minutes = *x.relative;
  } else {
    const auto res = resolve(w, x, now, z);
    if (!res || res->past) return std::nullopt;
    c.snooze_until = res->due;
  }
  return c;
}

// A reply in one language: the whole text, give or take politeness.
std::optional<reminder_command> command_in(const time_words& w, std::string_view text, std::int64_t now,
                                           const zone& z) {
  tokens t = tokenize(text);
  if (t.empty() || t.size() > 16) return std::nullopt;
  std::size_t a = 0, b = t.size();
  for (hit h; a < b && (h = match(w.politeness, t, a, b)).n;) a += h.n;
  for (std::size_t n; a < b && (n = match_ending(w.politeness, t, a, b));) b -= n;
  if (a >= b) return std::nullopt;
  if (exactly(w.done, t, a, b)) return reminder_command{reminder_command::kind::done, w.lang, 0, std::nullopt};
  const hit s = match(w.snooze, t, a, b);
  if (!s.n) return std::nullopt;
  const tokens inner(t.begin() + static_cast<std::ptrdiff_t>(a), t.begin() + static_cast<std::ptrdiff_t>(b));
  return snooze_rest(w, inner, s.n, now, z);
}

}  // namespace when_detail

// ---- the API ---------------------------------------------------------------------------------

expected<std::vector<time_words_ptr>> time_words_load_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".toml" && it->is_regular_file(ec)) files.push_back(it->path());
  }
  if (ec) return error{errc::unavailable, "time words: cannot read " + dir.string() + ": " + ec.message()};
  if (files.empty()) return error{errc::unavailable, "time words: no <lang>.toml in " + dir.string()};
  std::sort(files.begin(), files.end());
  std::vector<time_words_ptr> out;
  for (const auto& f : files) {
    auto w = load_file(f);
    if (!w) return w.error();
    out.push_back(std::move(*w));
  }
  return out;
}

const std::string& time_words_lang(const time_words& w) { return w.lang; }

std::optional<when_parsed> when_find(const time_words& w, std::string_view text, std::int64_t now_ms,
                                     const zone& z) {
  return find_expr(w, tokenize(text), now_ms, z);
}

std::int64_t repeat_next(const repeat_rule& r, std::int64_t after_ms, const zone& z) {
  const date::sys_days d0 = day_of(detail::zone_fields(z, after_ms));
  const int m = std::clamp(r.hour, 0, 23) * 60 + std::clamp(r.minute, 0, 59);
  const int wd = ((r.weekday % 7) + 7) % 7;
  for (int k = 0; k < 9; ++k) {
    const auto d = d0 + date::days{k};
    if (r.every == repeat_rule::kind::weekly && weekday_of(d) != wd) continue;
    if (const std::int64_t t = local_ms(z, d, m); t > after_ms) return t;
  }
  return after_ms + 7 * 86400000LL;  // not reached: a weekday comes within 8 days
}

std::string when_format(const time_words& w, std::int64_t ms, const zone& z) {
  using namespace std::chrono;
  const local_time lt = detail::zone_fields(z, ms);
  const std::int64_t now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const bool this_year = detail::zone_fields(z, now).year == lt.year;
  char hm[16];
  std::snprintf(hm, sizeof hm, "%02d:%02d", lt.hour, lt.minute);
  return fill(this_year ? w.fmt_date : w.fmt_date_year,
              {{"weekday", w.weekday_names.at(static_cast<std::size_t>(lt.weekday))},
               {"day", std::to_string(lt.day)},
               {"month", w.month_names.at(static_cast<std::size_t>(lt.month - 1))},
               {"year", std::to_string(lt.year)},
               {"time", hm}});
}

std::string when_format_day(const time_words& w, std::int64_t ms, const zone& z, bool with_year, bool with_weekday) {
  const local_time lt = detail::zone_fields(z, ms);
  return fill(with_year ? w.fmt_day_year : with_weekday ? w.fmt_weekday_day : w.fmt_day,
              {{"weekday", w.weekday_names.at(static_cast<std::size_t>(lt.weekday))},
               {"day", std::to_string(lt.day)},
               {"month", w.month_names.at(static_cast<std::size_t>(lt.month - 1))},
               {"year", std::to_string(lt.year)}});
}

std::string time_words_phrase(const time_words& w, std::string_view key,
                              const std::vector<std::pair<std::string, std::string>>& vars) {
  const auto it = w.phrases.find(key);
  if (it == w.phrases.end()) return std::string(key);
  return fill(it->second, vars);
}

std::optional<reminder_ask> reminder_parse(const std::vector<time_words_ptr>& langs, std::string_view text,
                                           std::int64_t now_ms, const zone& z) {
  std::optional<std::pair<std::size_t, reminder_ask>> best;
  for (const auto& w : langs) {
    if (!w) continue;
    auto a = ask_in(*w, text, now_ms, z);
    if (a && (!best || a->first < best->first)) best = std::move(a);
  }
  if (!best) return std::nullopt;
  return std::move(best->second);
}

std::optional<reminder_command> reminder_command_parse(const std::vector<time_words_ptr>& langs,
                                                       std::string_view text, std::int64_t now_ms,
                                                       const zone& z) {
  for (const auto& w : langs) {
    if (!w) continue;
    if (auto c = command_in(*w, text, now_ms, z)) return c;
  }
  return std::nullopt;
}

}  // namespace aikid::synthesis
