// Stored reminders and per-user settings (synthesis.hpp section 9): a due
// time fires once (also across a reopen), a missed one late, a repeating one
// moves to its next local occurrence; snooze, done and delete find a
// reminder only under its own user; settings survive a reopen.
#define BOOST_TEST_MODULE synthesis_reminders
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <unistd.h>

#include "actors/synthesis/synthesis.hpp"

namespace syn = aikid::synthesis;
using aikid::errc;

namespace {

std::filesystem::path fresh_dir(const std::string& tag) {
  auto d = std::filesystem::temp_directory_path() / ("syn_rem_" + tag + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// 2026-12-09 10:00 Europe/Oslo (UTC+1), a Wednesday
constexpr std::int64_t kNow = 1796806800000;
constexpr std::int64_t kMin = 60'000;

syn::reminder one(const std::string& user, const std::string& what, std::int64_t due) {
  syn::reminder r;
  r.user = user;
  r.what = what;
  r.lang = "nb";
  r.said = "minn meg på " + what;
  r.due_ms = due;
  r.created_ms = kNow;
  return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_due_time_fires_once_also_across_a_reopen_and_late_when_missed) {
  auto dir = fresh_dir("once");
  const auto path = dir / "kg.sqlite";
  auto oslo = *syn::zone_open("Europe/Oslo");
  auto zone_of = [&](const std::string&) -> const syn::zone& { return *oslo; };
  std::int64_t id = 0, late_id = 0;
  {
    auto g = *syn::kg_open(path);
    auto a = syn::reminder_add(*g, one("kari", "ringe mamma", kNow + 60 * kMin));
    BOOST_REQUIRE(a);
    id = a->id;
    late_id = syn::reminder_add(*g, one("kari", "medisinen", kNow + 120 * kMin))->id;
    BOOST_TEST(syn::reminder_due_take(*g, kNow + 60 * kMin - 1, zone_of)->empty());  // a millisecond early
    auto due = syn::reminder_due_take(*g, kNow + 60 * kMin, zone_of);
    BOOST_REQUIRE(due);
    BOOST_REQUIRE(due->size() == 1u);
    BOOST_TEST(due->front().r.id == id);
    BOOST_TEST(due->front().r.what == "ringe mamma");
    BOOST_TEST(!due->front().late);
    BOOST_TEST(syn::reminder_due_take(*g, kNow + 61 * kMin, zone_of)->empty());  // once
  }
  auto g = *syn::kg_open(path);  // as after a restart: the firing was durable
  auto due = syn::reminder_due_take(*g, kNow + 300 * kMin, zone_of);
  BOOST_REQUIRE(due);
  BOOST_REQUIRE(due->size() == 1u);  // only the one missed while "down"
  BOOST_TEST(due->front().r.id == late_id);
  BOOST_TEST(due->front().late);
  auto all = syn::reminder_list(*g, "kari", true);
  BOOST_REQUIRE(all);
  BOOST_TEST(all->size() == 2u);
  BOOST_TEST(all->at(0).state == "fired");
  BOOST_TEST(*all->at(0).fired_ms == kNow + 60 * kMin);
  BOOST_TEST(syn::reminder_list(*g, "kari")->empty());  // none pending
  BOOST_TEST(syn::reminder_last_fired(*g, "kari")->id == late_id);
  g.reset();
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_weekly_reminder_keeps_its_local_time_across_daylight_saving) {
  auto dir = fresh_dir("weekly");
  auto g = *syn::kg_open(dir / "kg.sqlite");
  auto oslo = *syn::zone_open("Europe/Oslo");
  auto zone_of = [&](const std::string&) -> const syn::zone& { return *oslo; };
  // Monday 23 March 2026 09:00 CET; the clocks go forward on the 29th
  const std::int64_t mon = 1774252800000;
  auto r = one("ola", "søpla", mon);
  r.repeat.every = syn::repeat_rule::kind::weekly;
  r.repeat.weekday = 1;
  r.repeat.hour = 9;
  BOOST_REQUIRE(syn::reminder_add(*g, r));
  auto fired = syn::reminder_due_take(*g, mon + 1000, zone_of);
  BOOST_REQUIRE(fired->size() == 1u);
  auto next = syn::reminder_list(*g, "ola");
  BOOST_REQUIRE(next->size() == 1u);
  BOOST_TEST(next->at(0).state == "pending");
  const auto lt = syn::zone_local(*oslo, next->at(0).due_ms);
  BOOST_TEST(lt.day == 30);
  BOOST_TEST(lt.hour == 9);  // 09:00 CEST: 7 days less one hour later
  BOOST_TEST(next->at(0).due_ms - mon == 7 * 24 * 3600'000LL - 3600'000LL);
  // done stops it
  BOOST_TEST(syn::reminder_done(*g, next->at(0).id, "ola")->state == "done");
  BOOST_TEST(syn::reminder_due_take(*g, next->at(0).due_ms + 1, zone_of)->empty());
  g.reset();
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(changes_find_a_reminder_only_under_its_own_user) {
  auto dir = fresh_dir("users");
  auto g = *syn::kg_open(dir / "kg.sqlite");
  auto id = syn::reminder_add(*g, one("kari", "tannlegen", kNow + kMin))->id;
  for (const char* other : {"ola", ""}) {
    BOOST_TEST((syn::reminder_snooze(*g, id, other, kNow + 10 * kMin).error().code == errc::not_found));
    BOOST_TEST((syn::reminder_done(*g, id, other).error().code == errc::not_found));
    BOOST_TEST((syn::reminder_delete(*g, id, other).error().code == errc::not_found));
  }
  auto sn = syn::reminder_snooze(*g, id, "kari", kNow + 10 * kMin);
  BOOST_REQUIRE(sn);
  BOOST_TEST(sn->due_ms == kNow + 10 * kMin);
  BOOST_TEST((syn::reminder_add(*g, one("", "x", kNow)).error().code == errc::bad_request));
  BOOST_TEST((syn::reminder_add(*g, one("kari", "", kNow)).error().code == errc::bad_request));
  BOOST_TEST((syn::reminder_add(*g, one("kari", "caf\xc3(", kNow)).error().code == errc::bad_request));
  BOOST_TEST((syn::reminder_last_fired(*g, "kari").error().code == errc::not_found));
  BOOST_REQUIRE(syn::reminder_delete(*g, id, "kari"));
  BOOST_TEST(syn::reminder_list(*g, "kari", true)->empty());
  g.reset();
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(settings_are_per_user_and_survive_a_reopen) {
  auto dir = fresh_dir("settings");
  const auto path = dir / "kg.sqlite";
  {
    auto g = *syn::kg_open(path);
    BOOST_REQUIRE(syn::user_setting_set(*g, "ann", "timezone", "America/New_York"));
    BOOST_REQUIRE(syn::user_setting_set(*g, "bo", "timezone", "Asia/Tokyo"));
    BOOST_REQUIRE(syn::user_setting_set(*g, "bo", "timezone", ""));  // cleared
    BOOST_TEST((syn::user_setting_set(*g, "", "timezone", "UTC").error().code == errc::bad_request));
  }
  auto g = *syn::kg_open(path);
  BOOST_TEST(*syn::user_setting_get(*g, "ann", "timezone") == "America/New_York");
  BOOST_TEST(syn::user_setting_get(*g, "bo", "timezone")->empty());
  auto with = syn::user_settings_with(*g, "timezone");
  BOOST_REQUIRE(with);
  BOOST_REQUIRE(with->size() == 1u);
  BOOST_TEST(with->at(0).first == "ann");
  // the machine's zone: "" opens (UTC where the machine names none)
  auto machine = syn::zone_open("");
  BOOST_REQUIRE(machine);
  BOOST_TEST(!syn::zone_name(**machine).empty());
  g.reset();
  std::filesystem::remove_all(dir);
}
