// Every op of the memory engine, its errors, dedup + history, the
// export → delete_all → import round trip, re-embedding and migrations.
#define BOOST_TEST_MODULE memory_ops
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <iterator>
#include <thread>

#include <SQLiteCpp/Database.h>

#include "memory_test_util.hpp"

using namespace aikid;
using namespace aikid::memory;
using memtest::temp_dir;

namespace {

constexpr int kDim = 16;

store_options opts(const temp_dir& d) {
  store_options o;
  o.dir = d.path;
  o.dim = kDim;
  o.model_id = "test-model";
  return o;
}

std::unique_ptr<store> open_ok(const store_options& o) {
  auto s = store::open(o);
  BOOST_REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().message));
  return std::move(*s);
}

std::vector<float> axis(int i, float tilt = 0.f) {  // a unit vector near axis i
  std::vector<float> v(kDim, 0.f);
  v[i] = 1.f;
  v[(i + 1) % kDim] = tilt;
  return memtest::unit(v);
}

}  // namespace

BOOST_AUTO_TEST_CASE(add_get_update_remove_history) {
  temp_dir d("ops");
  auto s = open_ok(opts(d));
  auto a = s->add("alice", "likes tea", {{"topic", "food"}}, axis(0));
  BOOST_REQUIRE(a);
  BOOST_TEST(!a->deduplicated);
  auto g = s->get(a->id);
  BOOST_REQUIRE(g);
  BOOST_TEST(g->text == "likes tea");
  BOOST_TEST(g->user == "alice");
  BOOST_TEST(g->meta["topic"] == "food");
  BOOST_TEST(g->model == "test-model");
  BOOST_TEST(g->created_ms > 0);
  BOOST_TEST(s->size() == 1u);

  BOOST_REQUIRE(s->update(a->id, std::string("likes green tea"), std::nullopt, std::nullopt));
  g = s->get(a->id);
  BOOST_TEST(g->text == "likes green tea");
  BOOST_TEST(g->meta["topic"] == "food");  // meta untouched
  BOOST_TEST(g->model == "");              // text changed without a vector: stale
  BOOST_TEST(s->stale_ids(10) == std::vector<std::int64_t>{a->id});
  BOOST_REQUIRE(s->update_vector(a->id, axis(0, 0.1f), "test-model"));
  BOOST_TEST(s->stale_ids(10).empty());
  BOOST_REQUIRE(s->update(a->id, std::nullopt, nlohmann::json{{"topic", "drink"}}, axis(0, 0.2f)));
  BOOST_TEST(s->get(a->id)->meta["topic"] == "drink");

  BOOST_REQUIRE(s->remove(a->id));
  auto gone = s->get(a->id);
  BOOST_REQUIRE(!gone);
  BOOST_TEST(gone.error().code == errc::not_found);
  BOOST_TEST(s->remove(a->id).error().code == errc::not_found);
  BOOST_TEST(s->update(a->id, std::string("x"), std::nullopt, std::nullopt).error().code == errc::not_found);

  auto h = s->history(a->id);  // the events are kept after the delete, their texts are not
  BOOST_REQUIRE(h);
  BOOST_REQUIRE(h->size() == 4u);
  BOOST_TEST((*h)[0].event == "add");
  BOOST_TEST((*h)[1].event == "update");
  BOOST_TEST((*h)[2].event == "update");
  BOOST_TEST((*h)[3].event == "delete");
  for (const auto& e : *h) {
    BOOST_TEST(!e.old_text.has_value());
    BOOST_TEST(!e.new_text.has_value());
    BOOST_TEST(e.at_ms > 0);
  }
  BOOST_TEST(s->history(999).error().code == errc::not_found);
  BOOST_TEST(s->size() == 0u);
}

BOOST_AUTO_TEST_CASE(bad_requests_name_the_field) {
  temp_dir d("bad");
  auto s = open_ok(opts(d));
  auto e = s->add("u", "t", {}, std::vector<float>(kDim + 1, 1.f));
  BOOST_REQUIRE(!e);
  BOOST_TEST(e.error().code == errc::bad_request);
  BOOST_TEST(e.error().message.find("vector") != std::string::npos);
  std::vector<float> nan(kDim, 1.f);
  nan[3] = std::nanf("");
  BOOST_TEST(s->add("u", "t", {}, nan).error().code == errc::bad_request);
  BOOST_TEST(s->add("u", "t", {}, std::vector<float>(kDim, 0.f)).error().code == errc::bad_request);
  BOOST_TEST(s->add("u", "t", nlohmann::json::array({1}), axis(1)).error().code == errc::bad_request);

  query q;
  q.vector = axis(1);
  q.filter = {{"colour", {{"any", {1}}}}};
  auto r = s->search(q);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().code == errc::bad_request);
  BOOST_TEST(r.error().message.find("colour") != std::string::npos);
  q.filter = {{"tags", nlohmann::json::array({"a"})}};
  BOOST_TEST(s->search(q).error().message.find("tags") != std::string::npos);
  q.filter = {{"colour", {{"in", "red"}}}};
  BOOST_TEST(s->search(q).error().message.find("colour") != std::string::npos);
  q.filter = "x";
  BOOST_TEST(s->search(q).error().code == errc::bad_request);
  q.filter = nullptr;
  q.top_k = 0;
  BOOST_TEST(s->search(q).error().message.find("top_k") != std::string::npos);
  q.top_k = 5;
  q.vector.resize(kDim - 1);
  BOOST_TEST(s->search(q).error().code == errc::bad_request);
  BOOST_TEST(s->list(std::nullopt, {}, -1, 0).error().message.find("limit") != std::string::npos);
  BOOST_TEST(s->list(std::nullopt, {}, 10, -1).error().message.find("offset") != std::string::npos);

  store_options bad = opts(d);
  bad.dim = 0;
  BOOST_TEST(store::open(bad).error().code == errc::bad_request);
}

BOOST_AUTO_TEST_CASE(search_list_filters_time) {
  temp_dir d("search");
  auto s = open_ok(opts(d));
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 8; ++i) {
    nlohmann::json meta = {{"n", i}, {"parity", i % 2 ? "odd" : "even"}, {"tags", {"t" + std::to_string(i % 3)}}};
    auto a = s->add(i < 5 ? "alice" : "bob", "memory " + std::to_string(i), meta, axis(i));
    BOOST_REQUIRE(a);
    ids.push_back(a->id);
  }
  query q;
  q.vector = axis(2);
  q.top_k = 3;
  auto r = s->search(q);
  BOOST_REQUIRE(r);
  BOOST_REQUIRE(r->size() == 3u);
  BOOST_TEST((*r)[0].rec.id == ids[2]);
  BOOST_TEST((*r)[0].score == 1.0f, boost::test_tools::tolerance(1e-5f));
  q.user = "bob";
  r = s->search(q);
  BOOST_REQUIRE(r);
  for (const auto& h : *r) BOOST_TEST(h.rec.user == "bob");
  q.user.reset();
  q.filter = {{"parity", "odd"}};
  q.top_k = 10;
  r = s->search(q);
  BOOST_TEST(r->size() == 4u);
  q.filter = {{"n", {{"in", {1, 2.0, 7}}}}, {"parity", "odd"}};  // 2.0 == 2, AND parity
  r = s->search(q);
  BOOST_REQUIRE(r->size() == 2u);
  q.filter = {{"tags", "t1"}};  // array meta: element match
  r = s->search(q);
  BOOST_TEST(r->size() == 3u);  // 1, 4, 7
  q.filter = {{"missing", 1}};
  BOOST_TEST(s->search(q)->empty());
  q.filter = nullptr;
  q.since_ms = s->get(ids[0])->created_ms;
  q.until_ms = q.since_ms;
  r = s->search(q);
  for (const auto& h : *r) BOOST_TEST(h.rec.created_ms == *q.since_ms);
  q.since_ms = *q.until_ms + 1'000'000;
  q.until_ms.reset();
  BOOST_TEST(s->search(q)->empty());

  auto l = s->list(std::string("alice"), {}, 2, 1);
  BOOST_REQUIRE(l);
  BOOST_TEST(l->second == 5);
  BOOST_REQUIRE(l->first.size() == 2u);
  BOOST_TEST(l->first[0].id == ids[1]);
  BOOST_TEST(l->first[1].id == ids[2]);
  l = s->list(std::nullopt, {{"parity", "even"}}, 100, 0);
  BOOST_TEST(l->second == 4);
  BOOST_TEST(s->list(std::nullopt, {}, 0, 0)->second == 8);

  auto n = s->delete_all("alice");
  BOOST_REQUIRE(n);
  BOOST_TEST(*n == 5);
  BOOST_TEST(s->size() == 3u);
  BOOST_TEST(*s->delete_all("nobody") == 0);
  BOOST_TEST(s->history(ids[0])->back().event == "delete");
  q = query{};
  q.vector = axis(0);
  q.top_k = 10;
  auto bobs = s->search(q);
  BOOST_REQUIRE(bobs);
  for (const auto& h : *bobs) BOOST_TEST(h.rec.user == "bob");

  auto st = s->stats();
  BOOST_TEST(st["memories"] == 3);
  BOOST_TEST(st["index"]["kind"] == "flat");
  s->set_ef_search(128);
  BOOST_TEST(s->stats()["ef_search"] == 128);
}

BOOST_AUTO_TEST_CASE(dedup_updates_the_twin) {
  temp_dir d("dedup");
  auto s = open_ok(opts(d));
  auto a = s->add("alice", "likes tea", {{"a", 1}}, axis(3));
  BOOST_REQUIRE(a);
  // cosine ~0.995 to the first: same user → dedup; other user → new memory
  auto b = s->add("alice", "really likes tea", {{"b", 2}}, axis(3, 0.1f));
  BOOST_REQUIRE(b);
  BOOST_TEST(b->deduplicated);
  BOOST_TEST(b->id == a->id);
  auto c = s->add("bob", "likes tea", {}, axis(3, 0.1f));
  BOOST_TEST(!c->deduplicated);
  auto g = s->get(a->id);
  BOOST_TEST(g->text == "really likes tea");
  BOOST_TEST(g->meta["a"] == 1);  // merged
  BOOST_TEST(g->meta["b"] == 2);
  auto h = s->history(a->id);
  BOOST_REQUIRE(h->size() == 2u);
  BOOST_TEST((*h)[1].event == "dedup");
  BOOST_TEST(*(*h)[1].old_text == "likes tea");
  BOOST_TEST(*(*h)[1].new_text == "really likes tea");
  query q;
  q.vector = axis(3);
  q.user = "alice";
  BOOST_TEST(s->search(q)->size() == 1u);  // no twin left behind

  s->set_dedup_threshold(0.999);  // cos ~0.98 is now distinct
  auto e = s->add("alice", "tea again", {}, axis(3, 0.2f));
  BOOST_TEST(!e->deduplicated);
  s->set_dedup_threshold(2.0);  // off
  auto f = s->add("alice", "tea again", {}, axis(3, 0.2f));
  BOOST_TEST(!f->deduplicated);
  // dedup inside one batch
  s->set_dedup_threshold(0.95);
  std::vector<new_memory> batch = {{"carol", "x", {}, axis(5), {}}, {"carol", "x2", {}, axis(5, 0.05f), {}}};
  auto br = s->add_batch(batch);
  BOOST_REQUIRE(br);
  BOOST_TEST(!(*br)[0].deduplicated);
  BOOST_TEST((*br)[1].deduplicated);
  BOOST_TEST((*br)[1].id == (*br)[0].id);
}

// A batch whose earlier items rewrite a later item's best few memories: the
// later item must still find its twin further down (dedup searches the first
// few, then deeper when all of those were touched).
BOOST_AUTO_TEST_CASE(dedup_looks_past_memories_the_batch_rewrote) {
  temp_dir d("dedup_deep");
  auto s = open_ok(opts(d));
  s->set_dedup_threshold(2.0);  // off while m1..m5 (close to each other) go in
  // m1..m5 at cosine 0.99, 0.98, 0.97, 0.96, 0.95 to axis 0, each leaning
  // towards its own axis i
  auto lean = [](int i, double cos_to_0) {
    std::vector<float> v(kDim, 0.f);
    v[0] = static_cast<float>(cos_to_0);
    v[i] = static_cast<float>(std::sqrt(1 - cos_to_0 * cos_to_0));
    return v;
  };
  std::vector<std::int64_t> m;
  for (int i = 1; i <= 5; ++i) {
    std::vector<new_memory> one = {{"dora", "m" + std::to_string(i), {}, lean(i, 1.0 - 0.01 * i), {}}};
    auto r = s->add_batch(one);
    BOOST_REQUIRE(r);
    BOOST_REQUIRE(!(*r)[0].deduplicated);
    m.push_back((*r)[0].id);
  }
  s->set_dedup_threshold(0.9);
  // items 1..4: 30 degrees from axis 0 towards axis i (cosine >= 0.928 to
  // m_i, <= 0.857 to the others, 0.866 to axis 0): each rewrites its m_i away
  // from axis 0. Item 5, axis 0 itself: its best four (m1..m4) are all
  // rewritten to 0.866 < 0.9, so only m5 (0.95) can take it.
  std::vector<new_memory> batch;
  for (int i = 1; i <= 4; ++i) batch.push_back({"dora", "w" + std::to_string(i), {}, lean(i, std::cos(M_PI / 6)), {}});
  batch.push_back({"dora", "x", {}, lean(1, 1.0), {}});
  auto br = s->add_batch(batch);
  BOOST_REQUIRE(br);
  BOOST_REQUIRE(br->size() == 5u);
  for (int i = 0; i < 5; ++i) {
    BOOST_TEST((*br)[i].deduplicated);
    BOOST_TEST((*br)[i].id == m[i]);
  }
  BOOST_TEST(s->size() == 5u);
  BOOST_TEST(s->get(m[4])->text == "x");
}

BOOST_AUTO_TEST_CASE(export_delete_all_import_round_trip) {
  temp_dir d("jsonl");
  std::mt19937 g(7);
  auto s = open_ok(opts(d));
  s->set_dedup_threshold(2.0);
  for (int i = 0; i < 30; ++i) {
    auto a = s->add(i % 2 ? "alice" : "bob", "m" + std::to_string(i), {{"i", i}, {"s", "é\"\n"}},
                    memtest::random_vec(g, kDim));
    BOOST_REQUIRE(a);
    if (i % 5 == 0) BOOST_REQUIRE(s->update(a->id, "m" + std::to_string(i) + "'", std::nullopt, std::nullopt));
    if (i % 7 == 0) BOOST_REQUIRE(s->remove(a->id));
  }
  auto before = s->list(std::nullopt, {}, 1000, 0);
  std::map<std::int64_t, std::vector<history_event>> hist_before;
  for (std::int64_t id = 1; id <= 30; ++id) hist_before[id] = *s->history(id);
  query q;
  q.vector = memtest::random_vec(g, kDim);
  q.top_k = 5;
  auto search_before = *s->search(q);

  const auto file = d.path / "export.jsonl";
  auto n = s->export_jsonl(file);
  BOOST_REQUIRE(n);
  BOOST_TEST(*n == before->first.size());
  BOOST_TEST(*s->delete_all("alice") + *s->delete_all("bob") == static_cast<std::int64_t>(*n));
  BOOST_TEST(s->size() == 0u);
  auto m = s->import_jsonl(file);
  BOOST_REQUIRE_MESSAGE(m, (m ? "" : m.error().message));
  BOOST_TEST(*m == *n);

  auto after = s->list(std::nullopt, {}, 1000, 0);
  BOOST_REQUIRE(after->first.size() == before->first.size());
  for (std::size_t i = 0; i < after->first.size(); ++i) {
    const auto &x = before->first[i], &y = after->first[i];
    BOOST_TEST(x.id == y.id);
    BOOST_TEST(x.user == y.user);
    BOOST_TEST(x.text == y.text);
    BOOST_TEST(x.meta == y.meta);
    BOOST_TEST(x.created_ms == y.created_ms);
    BOOST_TEST(x.updated_ms == y.updated_ms);
    BOOST_TEST(x.model == y.model);
  }
  for (std::int64_t id = 1; id <= 30; ++id) {
    auto h = *s->history(id);
    BOOST_REQUIRE(h.size() == hist_before[id].size());
    for (std::size_t i = 0; i < h.size(); ++i) {
      BOOST_TEST(h[i].event == hist_before[id][i].event);
      BOOST_TEST(memtest::opt(h[i].old_text) == memtest::opt(hist_before[id][i].old_text));
      BOOST_TEST(memtest::opt(h[i].new_text) == memtest::opt(hist_before[id][i].new_text));
      BOOST_TEST(h[i].at_ms == hist_before[id][i].at_ms);
    }
  }
  auto search_after = *s->search(q);
  BOOST_REQUIRE(search_after.size() == search_before.size());
  for (std::size_t i = 0; i < search_after.size(); ++i) {
    BOOST_TEST(search_after[i].rec.id == search_before[i].rec.id);
    BOOST_TEST(search_after[i].score == search_before[i].score, boost::test_tools::tolerance(1e-6f));
  }
  // a new add does not reuse an imported id
  auto fresh = s->add("x", "y", {}, memtest::random_vec(g, kDim));
  BOOST_TEST(fresh->id > 30);

  // a broken file changes nothing and names the line
  {
    std::ofstream bad(d.path / "bad.jsonl");
    bad << R"({"type":"header","format":"aikid.memory","version":1,"dim":16})" << "\n"
        << R"({"type":"memory","id":500,"user":"u","text":"t","created_ms":1,"updated_ms":1,"model":"m","vector":[1]})"
        << "\n";
  }
  const auto size_before = s->size();
  auto bad = s->import_jsonl(d.path / "bad.jsonl");
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().code == errc::bad_request);
  BOOST_TEST(bad.error().message.find(":2: vector") != std::string::npos);
  BOOST_TEST(s->size() == size_before);
}

BOOST_AUTO_TEST_CASE(reopen_keeps_everything) {
  temp_dir d("reopen");
  std::int64_t id;
  {
    auto s = open_ok(opts(d));
    id = s->add("alice", "persisted", {{"k", "v"}}, axis(4))->id;
  }
  auto s = open_ok(opts(d));
  BOOST_TEST(s->get(id)->text == "persisted");
  query q;
  q.vector = axis(4);
  BOOST_TEST(s->search(q)->at(0).rec.id == id);
  auto next = s->add("alice", "second", {}, axis(6));
  BOOST_TEST(next->id == id + 1);
  // another dimension does not open, and says why
  store_options o = opts(d);
  s.reset();
  o.dim = 32;
  auto bad = store::open(o);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().code == errc::unavailable);
  BOOST_TEST(bad.error().message.find("dimension") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(migrates_schema_v1) {
  temp_dir d("migrate");
  {  // a first-release database, written by hand
    SQLite::Database db((d.path / "memory.db").string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(R"(
      CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE memories(id INTEGER PRIMARY KEY, user TEXT NOT NULL, text TEXT NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}', created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
        vector BLOB NOT NULL);
      CREATE TABLE history(seq INTEGER PRIMARY KEY AUTOINCREMENT, memory_id INTEGER NOT NULL,
        event TEXT NOT NULL, old TEXT, new TEXT, at_ms INTEGER NOT NULL);
      INSERT INTO meta VALUES('schema_version', '1'), ('dim', '16');)");
    auto v = axis(2);
    SQLite::Statement ins(db, "INSERT INTO memories VALUES(7, 'alice', 'old memory', '{\"a\":1}', 5, 6, ?)");
    ins.bind(1, v.data(), static_cast<int>(v.size() * sizeof(float)));
    ins.exec();
    db.exec("INSERT INTO history(memory_id, event, old, new, at_ms) VALUES(7, 'add', NULL, 'old memory', 5)");
  }
  std::vector<std::string> logs;
  auto o = opts(d);
  o.log = [&](std::string_view l) { logs.emplace_back(l); };
  auto s = open_ok(o);
  auto g = s->get(7);
  BOOST_REQUIRE(g);
  BOOST_TEST(g->text == "old memory");
  BOOST_TEST(g->model == "");  // unknown model: stale, re-embed
  BOOST_TEST(s->stale_ids(5) == std::vector<std::int64_t>{7});
  BOOST_TEST(s->history(7)->size() == 1u);
  bool migrated = false;
  for (const auto& l : logs) migrated |= l.find("migrated") != std::string::npos;
  BOOST_TEST(migrated);
  query q;
  q.vector = axis(2);
  BOOST_TEST(s->search(q)->at(0).rec.id == 7);
  BOOST_TEST(s->add("alice", "new", {}, axis(9))->id == 8);
}

// What is stored can always be read back. Text that reaches the store is
// checked for UTF-8 (add, update; import's JSON parser checks its own); a
// row that holds bad bytes anyway (an older version, a hand-edited database)
// is served with U+FFFD per bad part, a stored meta nested past the limit as
// {}, and the database is left as it was. A row of `\xff\xfe` used to be
// served as is and end the memory actor at the next recall (json dump threw).
BOOST_AUTO_TEST_CASE(stored_text_that_is_not_utf8_is_served_repaired_and_never_written) {
  temp_dir d("utf8");
  std::int64_t id;
  {
    auto s = open_ok(opts(d));
    id = s->add("alice", "fine", {}, axis(1))->id;
    auto bad = s->add("alice", "caf\xc3(", {}, axis(2));
    BOOST_REQUIRE(!bad);
    BOOST_TEST((bad.error().code == errc::bad_request));
    BOOST_TEST(bad.error().message == "text: not valid UTF-8 (byte 3)");
    auto bad_user = s->add("\xff", "ok", {}, axis(2));
    BOOST_REQUIRE(!bad_user);
    BOOST_TEST(bad_user.error().message == "user: not valid UTF-8 (byte 0)");
    auto upd = s->update(id, std::string("\xed\xa0\x80"), std::nullopt, std::nullopt);
    BOOST_REQUIRE(!upd);
    BOOST_TEST(upd.error().message == "text: not valid UTF-8 (byte 0)");
    BOOST_TEST(s->get(id)->text == "fine");
    BOOST_TEST(s->size() == 1u);
  }
  std::string deep_meta;
  for (int i = 0; i < 100; ++i) deep_meta += "{\"a\":";
  deep_meta += "1" + std::string(100, '}');
  {  // what an older version could have stored
    SQLite::Database db((d.path / "memory.db").string(), SQLite::OPEN_READWRITE);
    SQLite::Statement t(db, "UPDATE memories SET text = ?, user = ? WHERE id = ?");
    t.bind(1, std::string("A\xff\xfe" "B"));
    t.bind(2, std::string("ali\xc3"));
    t.bind(3, id);
    t.exec();
    SQLite::Statement m(db, "UPDATE memories SET meta = ? WHERE id = ?");
    m.bind(1, deep_meta);
    m.bind(2, id);
    m.exec();
    SQLite::Statement h(db, "UPDATE history SET new = ? WHERE memory_id = ?");
    h.bind(1, std::string("\xf0\x9f\x98"));
    h.bind(2, id);
    h.exec();
  }
  std::vector<std::string> logs;
  auto o = opts(d);
  o.log = [&](std::string_view l) { logs.emplace_back(l); };
  auto s = open_ok(o);
  auto g = s->get(id);
  BOOST_REQUIRE(g);
  BOOST_TEST(g->text == "A\xEF\xBF\xBD\xEF\xBF\xBD" "B");  // one U+FFFD per bad byte, as Python replaces
  BOOST_TEST(g->user == "ali\xEF\xBF\xBD");
  BOOST_TEST(g->meta == nlohmann::json::object());
  BOOST_TEST(s->stats()["repaired_rows"].get<std::uint64_t>() >= 2u);
  bool logged = false;
  for (const auto& l : logs) logged |= l.find("served repaired") != std::string::npos;
  BOOST_TEST(logged);
  // searched, listed, dumped: the JSON text of each is valid
  query q;
  q.vector = axis(1);
  q.user = std::string("ali\xEF\xBF\xBD");
  auto hits = s->search(q);
  BOOST_REQUIRE(hits);
  BOOST_REQUIRE(hits->size() == 1u);
  BOOST_TEST(nlohmann::json(hits->at(0).rec.text).dump() == "\"A\xEF\xBF\xBD\xEF\xBF\xBD" "B\"");
  auto h = s->history(id);
  BOOST_REQUIRE(h);
  BOOST_TEST(*h->at(0).new_text == "\xEF\xBF\xBD");  // a character cut off: one U+FFFD
  const auto out = d.path / "export.jsonl";
  auto n = s->export_jsonl(out);
  BOOST_REQUIRE_MESSAGE(n.has_value(), (n ? "" : n.error().message));
  std::ifstream in(out);
  std::string line;
  while (std::getline(in, line)) BOOST_TEST(!nlohmann::json::parse(line, nullptr, false).is_discarded());
  // nothing was written back: the bytes on disk are as they were
  s.reset();
  SQLite::Database db((d.path / "memory.db").string(), SQLite::OPEN_READONLY);
  SQLite::Statement r(db, "SELECT text, meta FROM memories WHERE id = ?");
  r.bind(1, id);
  BOOST_REQUIRE(r.executeStep());
  BOOST_TEST(r.getColumn(0).getString() == std::string("A\xff\xfe" "B"));
  BOOST_TEST(r.getColumn(1).getString() == deep_meta);
}

// An import line nested past the limit is refused with its line and path;
// nothing of the file is applied.
BOOST_AUTO_TEST_CASE(an_import_line_nested_too_deep_is_refused) {
  temp_dir d("deepimport");
  auto s = open_ok(opts(d));
  const auto file = d.path / "in.jsonl";
  {
    std::ofstream f(file);
    f << R"({"type":"header","format":"aikid.memory","version":1,"dim":16})" << "\n";
    f << R"({"type":"memory","id":1,"user":"u","text":"t","created_ms":1,"updated_ms":1,"model":"m","meta":)"
      << std::string(100000, '[') << std::string(100000, ']') << "}\n";
  }
  auto n = s->import_jsonl(file);
  BOOST_REQUIRE(!n);
  BOOST_TEST((n.error().code == errc::bad_request));
  BOOST_TEST(n.error().message.find("in.jsonl:2: meta[0][0][0][0][0]…: JSON nested deeper than 64 levels") !=
                 std::string::npos,
             n.error().message);
  BOOST_TEST(s->size() == 0u);
}

// A vector of subnormals is a direction like any other: its unit vector is
// finite (1/norm overflowed a float: the store held an infinite vector and
// searches answered a score of NaN, sent as null).
BOOST_AUTO_TEST_CASE(a_vector_of_subnormals_is_stored_finite) {
  temp_dir d("subnormal");
  auto s = open_ok(opts(d));
  std::vector<float> tiny(kDim, 1e-40f);
  auto a = s->add("u", "tiny", {}, tiny);
  BOOST_REQUIRE_MESSAGE(a.has_value(), (a ? "" : a.error().message));
  query q;
  q.vector = tiny;
  auto hits = s->search(q);
  BOOST_REQUIRE(hits);
  BOOST_REQUIRE(hits->size() == 1u);
  BOOST_TEST(std::isfinite(hits->at(0).score));
  BOOST_TEST(hits->at(0).score == 1.0f, boost::test_tools::tolerance(1e-5f));
}

// list's offset is 64-bit: 2^32 is past the end (it was cast to int: 0, the first page).
BOOST_AUTO_TEST_CASE(a_list_offset_past_the_end_is_an_empty_page) {
  temp_dir d("offset");
  auto s = open_ok(opts(d));
  for (int i = 0; i < 3; ++i) BOOST_REQUIRE(s->add("u", "m" + std::to_string(i), {}, axis(i)));
  auto page = s->list(std::nullopt, nullptr, 10, std::int64_t(1) << 32);
  BOOST_REQUIRE(page);
  BOOST_TEST(page->first.empty());
  BOOST_TEST(page->second == 3);
}

// Forgetting: after remove and delete_all the words are in none of the
// store's files (memory.db, -wal, -shm; the index snapshot once the worker
// has rewritten it), history keeps the events without their texts, and a
// time range picks which memories go.
static bool file_has(const std::filesystem::path& f, const std::string& needle) {
  std::ifstream in(f, std::ios::binary);
  if (!in) return false;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return bytes.find(needle) != std::string::npos;
}

static bool any_file_has(const std::filesystem::path& dir, const std::string& needle) {
  for (const char* f : {"memory.db", "memory.db-wal", "memory.db-shm"})
    if (file_has(dir / f, needle)) return true;
  return false;
}

BOOST_AUTO_TEST_CASE(forgotten_text_is_in_no_file) {
  temp_dir d("forget");
  auto s = open_ok(opts(d));
  auto a = s->add("kari", "my secret PIN is 4321", {{"topic", "pin"}}, axis(0));
  auto b = s->add("kari", "my bank is Sparebank Vest", {}, axis(1));
  auto c = s->add("ola", "ola keeps the word marzipan-77", {}, axis(2));
  BOOST_REQUIRE(a && b && c);
  BOOST_REQUIRE(s->update(b->id, std::string("my bank is DNB Oslo"), std::nullopt, axis(1, 0.1f)));
  BOOST_REQUIRE(any_file_has(d.path, "4321"));  // the check can see the text while it is there
  BOOST_REQUIRE(s->remove(a->id));
  BOOST_TEST(!any_file_has(d.path, "secret PIN is 4321"));
  auto h = s->history(a->id);
  BOOST_REQUIRE(h);
  BOOST_TEST(h->size() == 2u);
  BOOST_TEST(h->back().event == "delete");
  for (const auto& e : *h) BOOST_TEST((!e.old_text && !e.new_text));
  BOOST_REQUIRE(*s->delete_all("kari") == 1);
  BOOST_TEST(!any_file_has(d.path, "Sparebank Vest"));  // the text before the update, in history
  BOOST_TEST(!any_file_has(d.path, "DNB Oslo"));
  BOOST_TEST(any_file_has(d.path, "marzipan-77"));  // another user's memory stays
  BOOST_TEST(s->get(c->id)->text == "ola keeps the word marzipan-77");
  // the index snapshot is rewritten without the forgotten vectors (1 s after the last forget)
  s.reset();
  s = open_ok(opts(d));
  BOOST_TEST(s->size() == 1u);
  query q;
  q.vector = axis(0);
  q.top_k = 10;
  auto hits = s->search(q);
  BOOST_REQUIRE(hits);
  BOOST_REQUIRE(hits->size() == 1u);
  BOOST_TEST(hits->front().rec.id == c->id);
}

BOOST_AUTO_TEST_CASE(delete_all_and_list_take_a_time_range) {
  temp_dir d("forget_range");
  auto s = open_ok(opts(d));
  std::vector<std::int64_t> ids, at;
  for (int i = 0; i < 3; ++i) {
    auto r = s->add("kari", "said on day " + std::to_string(i), {}, axis(i));
    BOOST_REQUIRE(r);
    ids.push_back(r->id);
    at.push_back(s->get(r->id)->created_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
  }
  auto l = s->list(std::string("kari"), {}, 100, 0, at[1], at[1]);
  BOOST_REQUIRE(l);
  BOOST_TEST(l->second == 1);
  BOOST_TEST(l->first.at(0).id == ids[1]);
  BOOST_TEST(s->list(std::string("kari"), {}, 100, 0, at[1], std::nullopt)->second == 2);
  BOOST_TEST(s->list(std::string("kari"), {}, 100, 0, std::nullopt, at[1])->second == 2);
  BOOST_TEST(*s->delete_all("kari", {}, at[1], at[1]) == 1);
  BOOST_TEST(!any_file_has(d.path, "said on day 1"));
  BOOST_TEST(s->get(ids[0]).has_value());
  BOOST_TEST(s->get(ids[2]).has_value());
  BOOST_TEST(!s->get(ids[1]).has_value());
  BOOST_TEST(*s->delete_all("kari", {{"nope", 1}}) == 0);  // a filter no memory matches
  BOOST_TEST(s->delete_all("kari", {{"a", {{"bad", 1}}}}).error().code == errc::bad_request);
  BOOST_TEST(*s->delete_all("kari", {}, std::nullopt, at[0]) == 1);
  BOOST_TEST(s->size() == 1u);
}
