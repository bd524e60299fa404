// synthesis — the engine behind the synthesis actor: what aikid knows (a
// knowledge graph), what it recognises in a text (entity linking), how it
// answers without the model (mustache templates), and what it hands to the
// model when no template fits (a prompt within the context budget).
//
// Table of contents
//   1. knowledge graph   kg_open, kg_add, kg_replace, kg_write, kg_query, kg_facts, kg_history, kg_delete_*,
//                        kg_delete_user, kg_entities, kg_find, kg_due, kg_due_take (scoped by user)
//   2. entity linker     linker_build, linker_find
//   3. time zone         zone_open, zone_now
//   4. templates         templates_load_dir, templates_load_sources, templates_match,
//                        template_render (+ the documented rendering context)
//   5. prompt builder    prompt_build
//   6. turns             turns_new, turns_attach, turns_add, turns_recent, turns_set_max, turns_forget
//   7. compose           synthesis_compose: link → match → render, or build the prompt
//   8. reminders said in words
//                        time_words_load_dir, when_find, repeat_next, when_format,
//                        time_words_phrase, reminder_parse, reminder_command_parse
//   9. stored reminders  reminder_add, reminder_list, reminder_due_take, …; user_setting_*
//  10. understanding     understanding_load_dir, understand, understand_say, understanding_relation,
//                        understand_skip_reason (the learning path's guard)
//
// Threading: every object here is owned by one thread (the synthesis actor).
// A template_set is immutable once built and may be shared (shared_ptr) —
// a reload builds a new set and the caller swaps it in only when it is valid.
//
// Errors: every function that can fail returns aikid::expected<T>; no
// exception leaves this API. Each comment says which codes come back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/json.hpp"

namespace aikid::synthesis {

// ============================================================================
// 1. Knowledge graph — SQLite (WAL, synchronous=FULL) is the truth, an
//    in-memory copy serves reads. Ids are int64. Names are matched
//    case-insensitively (Unicode case folding, NFC).
//    Scoped by user: every entity belongs to one user's graph or to the
//    shared graph (user ""); names are unique per (user, name). Writes create
//    and find entities in the writer's own scope only, so a relation never
//    joins two scopes. A user reads their own graph and the shared one, never
//    another user's. `user` is any valid UTF-8 (a bad byte: bad_request
//    "user: not valid UTF-8 (byte N)"); "" is the shared graph.
//    kg_replace supersedes relations instead of deleting them: superseded
//    ones are history (kg_history), never in kg_query, kg_facts or kg_due.
// ============================================================================

/// One triple as it arrives on the wire: [subject, relation, object, attrs?].
/// Special forms:
///   relation "alias"             — object becomes an alias of subject (no relation is stored)
///   attrs.subject_type / object_type — set the entity's type (removed from attrs)
///   attrs.due                    — ISO-8601 ("2024-05-01", "2024-05-01T10:00",
///                                  "…T10:00:00Z", "…+02:00") or unix ms (integer);
///                                  naive times are read in kg_options::naive_tz.
struct triple {
  std::string subject;
  std::string relation;
  std::string object;
  nlohmann::json attrs = nlohmann::json::object();
};

struct entity {
  std::int64_t id = 0;
  std::string name;
  std::string type;  // "" when unknown
  std::vector<std::string> aliases;
  std::string user;  // its scope: "" = the shared graph
};

/// A relation as a reader sees it. depth: 1 for a relation touching the
/// queried entity, 2 for one touching its neighbours, …
struct fact {
  std::int64_t id = 0;
  std::int64_t subject_id = 0;
  std::string subject;
  std::string relation;
  std::int64_t object_id = 0;
  std::string object;
  nlohmann::json attrs = nlohmann::json::object();
  std::optional<std::int64_t> due_ms;  // attrs.due as unix ms, when present
  int depth = 1;
  std::string user;                           // the scope of its subject (and object): "" = shared
  std::optional<std::int64_t> superseded_ms;  // when kg_replace superseded it; nullopt = current
  std::string said;  // the fact as a sentence when understanding says it (compose_env::say); "" otherwise
};

struct kg_options {
  std::string naive_tz = "UTC";  // IANA zone for due times without an offset
  // Told "knowledge graph: created PATH at schema N" for a new file, or
  // "… migrated PATH from schema M to N" for an older one (empty: silent).
  std::function<void(const std::string&)> log;
};

struct kg;  // opaque
struct kg_closer { void operator()(kg*) const noexcept; };
using kg_ptr = std::unique_ptr<kg, kg_closer>;

/// Opens (creating if absent) the graph at `path` and loads it into memory;
/// migrates an older schema in place, in one transaction (v4: entities of
/// earlier versions become the shared graph's, ids kept).
/// Fails: unavailable (cannot open/create, corrupt file, schema newer than
/// this build, unknown naive_tz, a failed migration — then nothing is
/// changed), internal (an SQLite error while loading).
expected<kg_ptr> kg_open(const std::filesystem::path& path, const kg_options& opts = {});

/// Adds triples to `user`'s graph in one transaction; returns how many
/// relations were new (a current triple has its attrs replaced and is not
/// counted). Entities are created in that scope on first mention (a shared
/// entity of the same name is not used). Returns only after the commit is
/// durable. Fails: bad_request ("triples[3].relation: empty", a bad
/// attrs.due, invalid UTF-8 in a triple or in `user`) — nothing is written;
/// internal (SQLite error) — nothing is applied.
expected<std::int64_t> kg_add(kg& g, std::span<const triple> triples, std::string_view user = "");

/// For a single-valued relation ("lives in"): the current relations
/// (t.subject, t.relation, *) of `user`'s graph with another object are
/// superseded (kept as history, stamped with the time) and t is added (a
/// current t keeps its row and gets t's attrs); returns how many were
/// superseded. One transaction, durable on return. A superseded triple can be
/// added again (it becomes current in a new row; the old row stays history).
/// Fails: bad_request (as kg_add, "triple.…"; relation "alias"), internal.
expected<std::int64_t> kg_replace(kg& g, const triple& t, std::string_view user);

/// `add` as kg_add and `replace` as kg_replace, in one transaction (one sync):
/// what one sentence says. Returns the relations new. Fails as kg_add and
/// kg_replace; nothing is applied then.
expected<std::int64_t> kg_write(kg& g, std::span<const triple> add, std::span<const triple> replace,
                                std::string_view user);

/// The current facts around `entity` (name or alias) to `depth` (1–3),
/// breadth first, each relation once, ordered by depth then id. The walk
/// starts from the entity of that name in `user`'s graph and the one in the
/// shared graph (either may be missing) and never enters another user's.
/// Fails: bad_request (depth outside 1–3, `user` not UTF-8), not_found (no
/// such entity in either scope).
expected<std::vector<fact>> kg_query(const kg& g, std::string_view entity, int depth = 1,
                                     std::string_view user = "");

/// The current facts whose subject is `subject` (name or alias, in `user`'s
/// own graph; "" = the shared one) and whose relation is `relation` ("" =
/// any), oldest first. Fails: bad_request (`user` not UTF-8), not_found (no
/// such subject in that scope).
expected<std::vector<fact>> kg_facts(const kg& g, std::string_view subject, std::string_view relation,
                                     std::string_view user);

/// As kg_facts, with the superseded ones (superseded_ms set), oldest first.
/// Fails: as kg_facts.
expected<std::vector<fact>> kg_history(const kg& g, std::string_view subject, std::string_view relation,
                                       std::string_view user);

/// Deletes an entity of `user`'s graph (by name or alias) with its aliases
/// and every relation touching it, history included; returns the number of
/// rows removed (relations + 1). Fails: not_found (not in that scope),
/// bad_request (`user` not UTF-8), internal (SQLite; nothing is changed).
expected<std::int64_t> kg_delete_entity(kg& g, std::string_view entity, std::string_view user = "");

/// Deletes one current triple of `user`'s graph (subject, relation, object by
/// name/alias); returns 1. Fails: not_found (an entity or the relation is
/// unknown in that scope), bad_request (`user` not UTF-8), internal.
expected<std::int64_t> kg_delete_triple(kg& g, const triple& t, std::string_view user = "");

/// Deletes every entity, alias and relation (history included) of `user`'s
/// graph, in one transaction; returns entities + relations removed (0 for a
/// user without a graph). The shared graph is not touched.
/// Fails: bad_request (user "" — the shared graph is no user's; not UTF-8),
/// internal (SQLite; nothing is changed).
expected<std::int64_t> kg_delete_user(kg& g, std::string_view user);

/// Forgets what `user`'s graph learned in [since, until] (unix ms, each
/// bound optional; neither: kg_delete_user): the relations (current and
/// superseded) whose subject is the user's and that were made in the range,
/// then the user's entities made in the range that no relation touches any
/// more; one transaction. Returns entities + relations removed. Fails as
/// kg_delete_user.
expected<std::int64_t> kg_forget(kg& g, std::string_view user, std::optional<std::int64_t> since,
                                 std::optional<std::int64_t> until);

/// `user`'s graph as export records, by names (never ids): {"type":"entity",
/// name, entity_type, aliases[], created} for each entity, then
/// {"type":"relation", subject, relation, object, attrs, due, fired,
/// superseded, created} for each relation (superseded ones included), in the
/// order they were made. Fails: bad_request (user "", not UTF-8),
/// unavailable (SQLite).
expected<nlohmann::json> kg_export_user(kg& g, std::string_view user);
/// Brings kg_export_user's records into `user`'s graph in one transaction:
/// an entity is found by name (or made, with its created time), its type and
/// aliases added; a relation is added with its times unless the user has it
/// as a current triple already (so importing twice adds nothing). Returns
/// the entities and relations added. Every record is checked before anything
/// is written. Fails: bad_request naming records[i] and the field (or
/// too_large: a name over 1024 bytes), internal (SQLite; nothing written).
expected<std::int64_t> kg_import_user(kg& g, std::string_view user, const nlohmann::json& records);

/// Copies the database's WAL into it and truncates the WAL file (after a
/// forget: with secure_delete on, no forgotten bytes stay in either file).
/// Fails: unavailable (a reader held the WAL; it is truncated later).
expected<void> kg_checkpoint(kg& g);

/// Entities `user` sees (their own and the shared ones) whose name starts
/// with `prefix` (case-insensitive), by name (the user's before a shared one
/// of the same name), at most `limit` (1–10000).
/// Fails: bad_request (limit out of range, `user` not UTF-8).
expected<std::vector<entity>> kg_entities(const kg& g, std::string_view prefix = {},
                                          std::size_t limit = 100, std::string_view user = "");

/// One entity by name or alias: `user`'s own, else the shared one.
/// Fails: not_found, bad_request (`user` not UTF-8).
expected<entity> kg_find(const kg& g, std::string_view name, std::string_view user = "");

/// Current relations of `user`'s graph and of the shared one whose attrs.due
/// lies in [from_ms, to_ms), by due time ("what is due today"). Never fails.
std::vector<fact> kg_due(const kg& g, std::int64_t from_ms, std::int64_t to_ms, std::string_view user = "");

/// Takes the reminders that are due, of every user: current relations whose
/// attrs.due is at or before `now_ms` and whose reminder for that due time has
/// not been taken before (at most `max`, earliest first; fact.user says whose).
/// They are marked taken in SQLite, synced, before they are returned, so each
/// due time is handed out once, also across a restart; a relation given a new
/// due time fires again. Fails with errc::internal on a SQLite error (then
/// nothing is marked).
expected<std::vector<fact>> kg_due_take(kg& g, std::int64_t now_ms, std::size_t max = 64);

struct kg_stats {
  std::size_t entities = 0;
  std::size_t relations = 0;     // current ones
  std::uint64_t generation = 0;  // bumps on every change; the linker rebuilds when it moves
  std::size_t superseded = 0;    // relations kept as history
};
kg_stats kg_stats_get(const kg& g);

// ============================================================================
// 2. Entity linker — every known name and alias in a text, one pass
//    (Aho–Corasick over case-folded codepoints), leftmost-longest, whole words
//    only (letters/digits of any script, æøå included). Text is expected in
//    NFC (perception normalises); runs of white space match one space.
// ============================================================================

struct link {
  std::size_t begin = 0, end = 0;  // byte offsets in the text given
  std::int64_t entity_id = 0;
  std::string name;                // the entity's canonical name
  std::string user;                // the entity's scope ("" = shared)
};

struct linker;
struct linker_closer { void operator()(linker*) const noexcept; };
using linker_ptr = std::unique_ptr<linker, linker_closer>;

/// Builds the automaton over every entity name and alias of `g` (every
/// scope: linker_find filters by user); remembers
/// g's generation (see linker_generation) so the owner knows when to rebuild.
/// Never fails (names were validated on the way in).
linker_ptr linker_build(const kg& g);
std::uint64_t linker_generation(const linker& l);

/// Matches in text order, non-overlapping, keeping only links to entities of
/// `user`'s graph and of the shared one. An alias shared by two entities (or
/// a name in both the user's and the shared graph) yields one link per entity
/// over the same span. Invalid UTF-8 bytes are read as U+FFFD (never match).
/// Never fails.
std::vector<link> linker_find(const linker& l, std::string_view text, std::string_view user = "");

// ============================================================================
// 3. Time zone — IANA zones via Howard Hinnant's date/tz (system tzdata).
// ============================================================================

struct zone;
using zone_ptr = std::shared_ptr<const zone>;

/// An IANA zone by name; "" is the machine's zone (/etc/localtime; UTC when
/// the machine names none). Fails: unavailable ("time zone 'Europe/Oslo':
/// tzdata not found in /usr/share/zoneinfo" or "unknown zone").
expected<zone_ptr> zone_open(std::string_view iana_name);
/// The zone's IANA name ("UTC" for UTC).
const std::string& zone_name(const zone& z);

/// Local calendar fields of unix-ms `t` in zone z.
struct local_time {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int weekday = 0;            // 0 = Sunday
  std::int64_t day_start_ms;  // local midnight of that day, as unix ms
  std::int64_t day_end_ms;    // next local midnight
  std::string iso;            // "2024-05-01T14:03:00+02:00"
  std::string zone_name;
};
local_time zone_local(const zone& z, std::int64_t unix_ms);

// ============================================================================
// 4. Templates — TOML files, one template per file:
//      name = "greeting.en"        unique in the set
//      intent = "greeting"
//      lang = "en"                 optional ("en", "no"); picks weekday/daypart words
//      mode = "answer" | "prompt"
//      examples = ["hi", …]        utterances matched by meaning   } at least
//      keywords = ["hello", …]     words/phrases matched in the text } one of them
//      body = "…"                  mode = "answer": the thought
//      system = "…"  user = "…"    mode = "prompt": the two chat messages
//    Bodies are mustache (mstch, escaping off). Rendering context:
//      text user lang topic               strings (topic: first linked entity's name)
//      now { date time datetime weekday month day year tz daypart }
//      entity { id name type aliases[.] has_facts facts[…] }   first linked entity
//      entities [ { same as entity } ]
//      facts [ { subject relation object text due due_time depth } ]  all linked facts
//      due [ { same as facts } ]           relations due today in the configured zone
//      memories [ { id text score } ]      recalled memories, best first
//      has_memories has_entities has_facts has_due has_turns   booleans
//      turns [ { role text is_user } ]     recent turns, oldest first
//      status { version uptime entities relations templates memories model }
//    A name outside this context is a load error. A value missing at render
//    time renders as empty (mustache rules), so sections guard optional parts.
// ============================================================================

enum class template_mode { answer, prompt };

struct template_def {
  std::string name, intent, lang;
  template_mode mode = template_mode::answer;
  std::vector<std::string> examples, keywords;
  std::string body;          // answer mode
  std::string system, user;  // prompt mode
  std::string file;          // where it was loaded from
};

/// Vectors for texts (one per text, same dimension). Supplied by the caller
/// (the embedder actor, or a fake in tests) so this engine does not depend on it.
using embed_fn =
    std::function<expected<std::vector<std::vector<float>>>(const std::vector<std::string>&)>;

struct template_set;  // immutable once built
using template_set_ptr = std::shared_ptr<const template_set>;

/// A template file's text with the name used in error messages.
struct template_source {
  std::string file;
  std::string text;
};

/// Loads every *.toml in `dir` (sorted by name) — all or nothing.
/// Fails: bad_request "file:line: reason" for the first bad file (TOML syntax,
/// unknown/missing/ill-typed key, mustache syntax, unknown variable, a
/// duplicate name); unavailable (dir unreadable, the embed function failed or
/// returned vectors of mismatched count/dimension).
expected<template_set_ptr> templates_load_dir(const std::filesystem::path& dir,
                                              const embed_fn& embed);
/// The same from texts in memory (benchmarks, tests). Same failures.
expected<template_set_ptr> templates_load_sources(std::span<const template_source> sources,
                                                  const embed_fn& embed);

std::size_t templates_count(const template_set& s);
const template_def& templates_get(const template_set& s, std::size_t index);
/// Index of the template named `name`, or -1.
int templates_find(const template_set& s, std::string_view name);

struct match_options {
  float threshold = 0.55f;      // live: a template matches when score ≥ threshold
  float keyword_boost = 0.25f;  // live: added when one of its keywords occurs in the text
  bool use_faiss_search = false;  // search with faiss::IndexFlatIP::search instead of
                                  // the vectorised scan of the same index's storage
  bool exact_scan = false;  // score every example in fp32 instead of the default two-pass
                            // search (an int8 copy first, then fp32 on the candidates
                            // that can still win) — the same template and score; the
                            // reference the default is tested against
};

/// score = best cosine over the template's examples (+ keyword_boost on a
/// keyword hit); a template with keywords only scores 1 on a hit, 0 otherwise.
struct template_match {
  int index = -1;  // -1: no template reached the threshold
  float score = 0, vector_score = 0;
  bool keyword = false;
};

/// Best template for (text, vector). An empty vector matches by keywords only.
/// Fails: bad_request (vector dimension differs from the set's).
expected<template_match> templates_match(const template_set& s, std::string_view text,
                                         std::span<const float> vector,
                                         const match_options& opt = {});

struct memory_hit {
  std::int64_t id = 0;
  std::string text;
  float score = 0;
  std::int64_t created_ms = 0;  // when it was said (unix ms); 0 = not known
};

struct turn {
  std::string role;  // "user" | "assistant"
  std::string text;
  std::int64_t ts_ms = 0;
};

struct status_info {
  std::string version, uptime, model;
  std::int64_t entities = 0, relations = 0, templates = 0, memories = 0;
};

struct linked_entity {
  entity ent;
  std::vector<fact> facts;
};

/// Everything a template may show. Spans/pointers are borrowed for the call.
struct render_input {
  std::string_view text, user;
  std::span<const linked_entity> entities;
  std::span<const memory_hit> memories;
  std::span<const turn> turns;
  std::span<const fact> due;
  const zone* tz = nullptr;  // null: now.* renders in UTC
  std::int64_t now_ms = 0;
  const status_info* status = nullptr;
};

struct rendered {
  template_mode mode = template_mode::answer;
  std::string text;          // answer
  std::string system, user;  // prompt
};

/// Renders template `index` of s. Fails: bad_request (index out of range),
/// internal (mstch threw; the message names the template).
expected<rendered> template_render(const template_set& s, std::size_t index,
                                   const render_input& in);

// ============================================================================
// 5. Prompt builder — no template matched: the chat messages for the model,
//    within its context budget counted by the caller's tokenizer.
//    Kept always: system prompt, the user's text, the latest turn.
//    Dropped first: the least relevant memories, then the older turns
//    (oldest first), then the facts (deepest/last first).
//    Written for a small model (SmolLM2-135M follows plain text, not dumps):
//    the system message is the system prompt, then "Facts:" and the facts as
//    plain sentences ("Kari lives in Bergen."), then "The user said before:"
//    and one memory a line (cut to kMemoryChars); no JSON, no bullets.
// ============================================================================

struct chat_message {
  std::string role;  // system | user | assistant
  std::string content;
};

using count_tokens_fn = std::function<int(std::string_view)>;

struct prompt_input {
  std::string_view system_prompt;
  std::string_view user_text;
  std::span<const memory_hit> memories;  // any order; ranked here by score
  std::span<const fact> facts;           // in relevance order
  std::span<const turn> turns;           // oldest first, without the current text
};

struct prompt_budget {
  int max_tokens = 2048;           // the prompt's share of the context
  int per_message_overhead = 4;    // chat-format tokens around each message
};

struct prompt_result {
  std::vector<chat_message> messages;
  int tokens = 0;                  // as counted by count_tokens (+ overheads)
  std::vector<std::int64_t> memory_ids;  // memories kept, best first
  std::size_t facts_kept = 0, turns_kept = 0;
};

/// Fails: too_large (system prompt + user text + latest turn alone exceed the
/// budget; the message gives the counts), bad_request (max_tokens ≤ 0 or no
/// count function).
expected<prompt_result> prompt_build(const prompt_input& in, const prompt_budget& budget,
                                     const count_tokens_fn& count_tokens);

// ============================================================================
// 6. Conversation turns — the last N per user, N live; kept in the graph's
//    database once attached (they survive a restart).
// ============================================================================

struct turns;
struct turns_closer { void operator()(turns*) const noexcept; };
using turns_ptr = std::unique_ptr<turns, turns_closer>;

turns_ptr turns_new(std::size_t max_per_user = 8);
/// Loads the last N turns of each user from g's database (table `turns`,
/// schema v5; rows past N are deleted first) and writes every later turn
/// there too. Returns how many were loaded. Fails: unavailable (SQLite; the
/// turns then stay in memory only). g must outlive t.
expected<std::size_t> turns_attach(turns& t, kg& g);
/// Adds a turn; once attached, also its row (one durable transaction that
/// deletes the user's rows past N). A failed write is counted
/// (turns_write_errors) and the turn is still served from memory.
void turns_add(turns& t, std::string_view user, std::string_view role, std::string_view text,
               std::int64_t ts_ms);
/// Oldest first; empty for an unknown user.
std::vector<turn> turns_recent(const turns& t, std::string_view user);
/// Trims every user's history to n at once (rows too). n = 0 keeps nothing.
void turns_set_max(turns& t, std::size_t n);
std::size_t turns_max(const turns& t);
/// Deletes the user's turns said in [since, until] (each bound optional:
/// none = every turn of the user); returns how many rows (attached) or
/// turns (memory only) went. Fails: unavailable (SQLite; memory untouched).
expected<std::int64_t> turns_forget(turns& t, std::string_view user, std::optional<std::int64_t> since,
                                    std::optional<std::int64_t> until);
/// Writes that failed since the start; the last one's message in *last.
std::uint64_t turns_write_errors(const turns& t, std::string* last = nullptr);

// ============================================================================
// 7. Compose — one percept to an answer or to messages for the model.
// ============================================================================

struct compose_settings {
  match_options match;
  int fact_depth = 1;                 // kg depth for linked entities (1–3)
  std::size_t max_linked_entities = 8;
  std::size_t max_facts_per_entity = 32;
  std::string system_prompt = "You are AIKI, a helpful personal assistant.";
  prompt_budget budget;
  std::size_t prompt_turns = 0;       // the most recent turns (each user or assistant line one) in the prompt
  float memory_min_score = 0.5f;      // least recall score of a memory put in the prompt
};

struct compose_env {
  const kg* graph = nullptr;
  const linker* links = nullptr;  // built from graph (caller rebuilds on generation change)
  const template_set* templates = nullptr;  // may be null: always the prompt
  const turns* conversation = nullptr;      // may be null
  const zone* tz = nullptr;
  count_tokens_fn count_tokens;
  // A fact as a sentence of the user's ("Your physiotherapy session is on Wednesday 9 December
  // at 11:15."), or "" (understanding's facts; may be empty): fills fact::said for templates
  // (facts[].text, due[].text) and the prompt.
  std::function<std::string(const fact&)> say;
};

struct compose_request {
  std::string_view text, user;
  std::span<const float> vector;        // the percept's embedding (may be empty)
  std::span<const memory_hit> memories;
  std::int64_t now_ms = 0;
  const status_info* status = nullptr;
};

struct composition {
  bool answered = false;                 // true: `text` is the thought
  std::string text;
  std::vector<chat_message> messages;    // !answered: for inference
  std::string source;                    // "template:<name>" | "llm"
  std::vector<std::int64_t> memory_ids;  // memories used
  std::vector<link> links;
  template_match match;
};

/// Fails: bad_request (vector dimension), too_large (prompt budget), internal.
expected<composition> synthesis_compose(const compose_env& env, const compose_request& req,
                                        const compose_settings& settings);

// ============================================================================
// 8. Reminders said in words — time expressions ("tomorrow at 10", "halv tre",
//    "hver mandag kl. 9"), reminder requests ("minn meg på å ringe mamma i
//    morgen klokka 10") and replies to a reminder ("utsett 10 minutter",
//    "done"). The words are data: config/time/<lang>.toml (one file a
//    language; docs/reminders.md says how to add a word or a language); the
//    grammar is in when.cpp. Text is matched case-insensitively, punctuation
//    ignored ("kl." = "kl"), and is expected in NFC.
//
//    Rules: a time names its next occurrence after now; a bare time already
//    past today means tomorrow; a weekday names the next such day (today
//    only if the time is still ahead). An hour said without am/pm ("at 9",
//    "kl. 9", "halv tre", and in English "2:30") is a 12-hour time: alone it
//    is the next of its two occurrences (09:00 or 21:00); with a day named
//    ("tomorrow at 9", "on Friday at 2") 7:00–11:59 is the morning and
//    12:00–6:59 the afternoon/evening, unless a part of the day says which
//    ("tonight at 9" = 21:00). A bare 12 is noon. "18:00", "09:00", "kl 14"
//    and Norwegian "kl. 9:30" are read as written. A day without a time
//    means the file's default_hour (or the part of the day's hour:
//    "tonight" 20:00, "tomorrow morning" 08:00); "today"/"tonight" alone
//    when that hour has passed means the next full hour. Only an explicit
//    date is ever `past`: a day and month already past (without a year:
//    within the last 183 days, older means next year's), "yesterday"/"i går",
//    or "today at <a time already past>".
// ============================================================================

struct time_words;                                   // one language's words and phrases
using time_words_ptr = std::shared_ptr<const time_words>;

/// Every <lang>.toml in dir (config/time/), sorted by name; the language is
/// the file name ("en", "nb"). All or nothing. Fails: bad_request
/// "file:line: what is wrong" for the first bad file (TOML syntax, an unknown
/// or ill-typed key, a list of the wrong length, a phrase with no words, a
/// missing phrase); unavailable when dir is missing or has no .toml file.
expected<std::vector<time_words_ptr>> time_words_load_dir(const std::filesystem::path& dir);
const std::string& time_words_lang(const time_words& w);            // "en", "nb"

struct repeat_rule {
  enum class kind { none, daily, weekly } every = kind::none;
  int weekday = 0;      // weekly: 0 = Sunday … 6 = Saturday (as local_time::weekday)
  int hour = 0, minute = 0;  // local time of day
};

struct when_parsed {
  std::int64_t due_ms = 0;   // the next occurrence after now (unix ms); for `past`, the (past) time named
  repeat_rule repeat;        // every Monday at 9 / hver mandag kl. 9 / every day at …
  std::size_t begin = 0, end = 0;  // byte span of the time expression in the text
  bool past = false;         // an explicit date (a day and month, or "yesterday"/"i går") already past: to refuse
};

/// The time expression in `text` (the longest match at the earliest
/// position), in zone z at now_ms. Nothing when none. Never fails.
std::optional<when_parsed> when_find(const time_words& w, std::string_view text, std::int64_t now_ms,
                                     const zone& z);

/// The next occurrence of r strictly after after_ms, at r's local hour:minute
/// in z (so 09:00 stays 09:00 local across DST changes). kind::none repeats
/// daily. A local time the clock skips (spring forward) moves on by the skip;
/// one it passes twice is the first. Never fails.
std::int64_t repeat_next(const repeat_rule& r, std::int64_t after_ms, const zone& z);

/// ms in words, for acknowledgements: en "Friday 12 December at 13:30", nb
/// "fredag 12. desember kl. 13:30" (the file's [format]; the year is added
/// when it is not the current year by the system clock). Never fails.
std::string when_format(const time_words& w, std::int64_t ms, const zone& z);

/// The day of ms in words, without the time: en "4 July" / "4 July 2015" /
/// "Wednesday 9 December", nb "4. juli" / "onsdag 9. desember" (the file's
/// optional [format] day / day_year / weekday_day). Never fails.
std::string when_format_day(const time_words& w, std::int64_t ms, const zone& z, bool with_year,
                            bool with_weekday = false);

/// A phrase of the data file with {name} fields filled from vars (unknown
/// names stay as they are; values are not scanned again). Keys every file
/// has (load fails without one): ack, ack_repeat, fire, fire_late, past,
/// snoozed, done, nothing_pending ({what}, {when}) and period_daily,
/// period_weekly (the {period} of ack_repeat: "day"/"week", "dag"/"uke").
/// A key the file lacks comes back as the key itself. Never fails.
std::string time_words_phrase(const time_words& w, std::string_view key,
                              const std::vector<std::pair<std::string, std::string>>& vars);

struct reminder_ask {
  std::string lang;     // the language of the trigger that matched
  std::string what;     // what to remind about, in the user's words, without the trigger, the time and filler
                        // ("å"/"to"/"om"/"about"): "ringe mamma", "water the plants", "tannlegen";
                        // "" when the text names nothing ("remind me tomorrow at 10")
  when_parsed when;
};

/// A reminder request: ONLY when the text asks for one — a trigger of
/// [reminder] triggers ("remind me", "minn meg på", "husk å minne meg på",
/// "husk at", …) not right after a negation ("don't remind me"), AND a time
/// expression (after the trigger, else before it). Nothing otherwise: a time
/// in a plain sentence is not a reminder, and a trigger without a time is
/// nothing either (the caller may ask when). When several languages match,
/// the earliest trigger wins. A `past` when comes back as it is (the caller
/// refuses it). Never fails. Try reminder_command_parse first: "remind me
/// again in 10 minutes" is a snooze.
std::optional<reminder_ask> reminder_parse(const std::vector<time_words_ptr>& langs, std::string_view text,
                                           std::int64_t now_ms, const zone& z);

struct reminder_command {
  enum class kind { snooze, done } what = kind::done;
  std::string lang;
  std::int64_t snooze_minutes = 0;            // "snooze 10 minutes", "utsett 10 minutter", "utsett en time";
                                              // "snooze" alone: the file's snooze_minutes; 0 with snooze_until
  std::optional<std::int64_t> snooze_until;   // "snooze until 15:00", "utsett til kl. 15" (unix ms, next occurrence)
};

/// A reply to a reminder said in words: "done", "ferdig", "gjort", "snooze",
/// "utsett 10 minutter", … ([commands] of the data). Only a short text (at
/// most 16 words) that is such a command, the whole text give or take
/// punctuation and politeness ("ok, done, thanks"); else nothing (also for a
/// snooze to a past date). Never fails.
std::optional<reminder_command> reminder_command_parse(const std::vector<time_words_ptr>& langs,
                                                       std::string_view text, std::int64_t now_ms,
                                                       const zone& z);

// ============================================================================
// 9. Stored reminders and per-user settings — tables of the knowledge graph's
//    database (same WAL file, synchronous=FULL: a reminder is on disk before
//    it is acknowledged, and a firing is marked before it is handed out, so
//    each due time fires once, also across a restart).
// ============================================================================

struct reminder {
  std::int64_t id = 0;
  std::string user, what, lang;   // lang: the language it was asked in ("en", "nb")
  std::string said;               // the user's words
  std::int64_t due_ms = 0;        // the next (or, once fired, the last) due time
  repeat_rule repeat;             // kind::none: fires once
  std::string state = "pending";  // pending | fired | done
  std::int64_t created_ms = 0;
  std::optional<std::int64_t> fired_ms;  // when it last fired (the clock's time then)
};

/// Stores a new reminder (id assigned). Fails: bad_request (empty user or
/// what, bad UTF-8), unavailable (the database).
expected<reminder> reminder_add(kg& g, reminder r);
/// Stores a reminder as it was exported (state, created, fired kept; a new
/// id) and returns it; when one with the same user, what, due and created
/// exists, nothing is stored and nullopt is returned (importing twice adds
/// nothing). Fails: bad_request (empty user or what, a state not
/// pending|fired|done, bad UTF-8), unavailable.
expected<std::optional<reminder>> reminder_import(kg& g, reminder r);
/// A user's reminders, soonest first; `all` adds fired and done ones.
/// Fails: unavailable.
expected<std::vector<reminder>> reminder_list(kg& g, std::string_view user, bool all = false);
/// One reminder of `user`. Fails: not_found (no such id for this user), unavailable.
expected<reminder> reminder_get(kg& g, std::int64_t id, std::string_view user);
/// The user's reminder that fired last (for "done" / "snooze" said in words).
/// Fails: not_found, unavailable.
expected<reminder> reminder_last_fired(kg& g, std::string_view user);
/// Moves a reminder to `due_ms` and makes it pending again. Fails as reminder_get.
expected<reminder> reminder_snooze(kg& g, std::int64_t id, std::string_view user, std::int64_t due_ms);
/// Marks it done (a repeating one stops repeating). Fails as reminder_get.
expected<reminder> reminder_done(kg& g, std::int64_t id, std::string_view user);
/// Deletes it. Fails as reminder_get.
expected<void> reminder_delete(kg& g, std::int64_t id, std::string_view user);
/// Deletes every reminder and setting of `user`; returns how many reminders.
/// With since and/or until (unix ms), only the reminders made in that range
/// (the settings stay).
expected<std::int64_t> reminder_delete_user(kg& g, std::string_view user,
                                            std::optional<std::int64_t> since = std::nullopt,
                                            std::optional<std::int64_t> until = std::nullopt);

/// A reminder whose due time has come, as handed out once.
struct reminder_firing {
  reminder r;            // as it was when it fired (due_ms: the time that came)
  bool late = false;     // more than a minute past its due time (the daemon was down, or the clock jumped)
};
/// Every pending reminder due at or before now_ms, marked fired (a repeating
/// one moves to its next occurrence after now_ms, in the zone `zone_of`
/// gives for its user) in one durable transaction before it is returned.
/// Fails: unavailable (nothing is marked then).
expected<std::vector<reminder_firing>> reminder_due_take(kg& g, std::int64_t now_ms,
                                                         const std::function<const zone&(const std::string&)>& zone_of);

/// A per-user setting ("timezone"); "" when unset. Fails: unavailable.
expected<std::string> user_setting_get(kg& g, std::string_view user, std::string_view key);
/// Every (user, value) of one setting key (at start: the users' own zones). Fails: unavailable.
expected<std::vector<std::pair<std::string, std::string>>> user_settings_with(kg& g, std::string_view key);
/// Sets it ("" clears it). Fails: bad_request (empty user), unavailable.
expected<void> user_setting_set(kg& g, std::string_view user, std::string_view key, std::string_view value);

// ============================================================================
// 10. Understanding — what a person says about their own life becomes facts
//     in their part of the graph, and questions about it are answered from
//     the graph in the asker's language, without the model. The words, the
//     sentence patterns and the phrases are data: config/understand/
//     (relations.toml: the language-neutral relations; <lang>.toml: one per
//     language); docs/understanding.md says how a sentence becomes a fact.
// ============================================================================

struct understanding;  // immutable once loaded
using understanding_ptr = std::shared_ptr<const understanding>;

/// relations.toml and every other *.toml in dir (a language each, named by
/// its `lang`). All or nothing. Fails: bad_request "file:line: what" (TOML
/// syntax, an unknown key, a bad pattern, a relation or role not in
/// relations.toml, a missing phrase); unavailable (no folder, no
/// relations.toml, no language file).
expected<understanding_ptr> understanding_load_dir(const std::filesystem::path& dir);

/// The relation id for the model's relation words ("lives in" → "lives_in",
/// "has sister" → "sister"), or "" when the vocabulary has none. Never fails.
std::string understanding_relation(const understanding& u, std::string_view model_relation);
/// "" when the model may extract facts from `text` (the learning path), else
/// why not: "question" (ends with '?', or begins with a question word of a
/// language), "negation", "hypothetical" or "reported" (a word of those lists
/// in any language, contractions read long: "I don't", "Jeg bor ikke",
/// "If my sister lived…", "Kari says…"). The small model turns these into
/// false facts. Never fails.
std::string understand_skip_reason(const understanding& u, std::string_view text);
/// Whether a relation (or role) id holds one value at a time (relations.toml `single`).
bool understanding_single(const understanding& u, std::string_view relation);

/// What understanding remembers of each user's conversation: the last person
/// named (for he/she/han/hun) and the last dated fact (for "no, Thursday").
struct understand_state;
struct understand_state_closer { void operator()(understand_state*) const noexcept; };
using understand_state_ptr = std::unique_ptr<understand_state, understand_state_closer>;
understand_state_ptr understand_state_new();

struct understand_input {
  std::string_view user, text;
  std::span<const memory_hit> memories;              // recalled for this text, best first
  const std::vector<time_words_ptr>* words = nullptr;  // time words by language (section 8)
  const zone* tz = nullptr;                          // the user's zone (null: UTC)
  std::int64_t now_ms = 0;
};

struct understood {
  std::string text;    // what AIKI says
  std::string lang;    // the language it is said in ("en", "nb")
  std::string source;  // "understood" (facts taken), "facts" (answered from the graph),
                       // "memory" (from a recalled memory), "unknown" (not known yet), "forgot",
                       // "noted" (a statement that only looks like a fact: acknowledged, nothing stored)
  std::vector<triple> facts;  // taken (understood), answered from (facts) or forgotten (forgot)
};

/// A statement of fact is stored (in the user's scope; a single-valued
/// relation replaces the old value, kept as history) and acknowledged; a
/// question about the user's life is answered from the graph, else from a
/// recalled memory, else "I don't know that yet"; "forget that …" deletes.
/// Nothing when the text is none of these (the caller composes as usual):
/// greetings, open questions ("what is the capital of Norway?"), sentences
/// that only look like facts (questions, negations, hypotheticals, reported
/// speech, quotes). Fails: unavailable/internal (the graph's database; then
/// nothing of this text is stored).
expected<std::optional<understood>> understand(kg& g, const understanding& u, understand_state& s,
                                               const understand_input& in);

/// A fact of the graph said as a sentence in `lang` ("Your brother Jonas
/// lives in Stavanger."), for agendas and reminders; "" when the relation is
/// not one understanding says. Never fails.
std::string understand_say(const kg& g, const understanding& u, std::string_view lang, const fact& f,
                           std::string_view user, const std::vector<time_words_ptr>* words, const zone* tz);

}  // namespace aikid::synthesis
