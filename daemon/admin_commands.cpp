// The admin commands. Runs on the admin socket's thread; asks actors with
// bounded waits, so a stuck actor makes a reply say so instead of hanging it.
#include "daemon/admin_commands.hpp"

#include <caf/scoped_actor.hpp>
#include <spdlog/spdlog.h>

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "actors/messages.hpp"
#include "common/json.hpp"

namespace aikid {

namespace {

using json = nlohmann::json;
constexpr auto ask_timeout = std::chrono::seconds(2);
constexpr auto model_load_timeout = std::chrono::seconds(120);

json fail(const std::string& code, const std::string& message) {
  return {{"ok", false}, {"error", {{"code", code}, {"message", message}}}};
}
json fail(const error& e) { return fail(std::string(errc_name(e.code)), e.message); }

std::vector<std::string> split_words(const std::string& line) {
  std::istringstream is(line);
  std::vector<std::string> w;
  std::string x;
  while (is >> x) w.push_back(x);
  return w;
}

// The whole word as an integer in [lo, hi]; nullopt for anything else.
std::optional<std::int64_t> whole_int(const std::string& word, std::int64_t lo, std::int64_t hi) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
  if (ec != std::errc{} || end != word.data() + word.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

// Asks one actor, waiting at most `timeout`; returns its string reply, or
// errc::unavailable when it does not answer in time or is gone.
expected<std::string> ask_within(admin_context& ctx, caf::timespan timeout, const caf::actor& a, auto... msg) {
  caf::scoped_actor self{ctx.sys};
  expected<std::string> out{errc::unavailable,
                            "no answer within " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
                                " s (busy or stuck)"};
  self->request(a, timeout, msg...)
      .receive([&](const std::string& s) { out = s; }, [&](caf::error& e) {
        out = error{errc::unavailable, ctx.sys.render(e)};
      });
  return out;
}

expected<std::string> ask(admin_context& ctx, const caf::actor& a, auto... msg) {
  return ask_within(ctx, ask_timeout, a, msg...);
}

// Asks the inference actor to load `path` (empty: the file in service, read
// anew) beside the model in service; it swaps between generations. Fails with
// bad_request for a relative path, with the loader's error (the model in
// service stays) or unavailable when no answer comes within 120 s.
expected<json> reload_model(admin_context& ctx, const std::string& path) {
  if (!path.empty() && !std::filesystem::path(path).is_absolute())
    return error{errc::bad_request, "inference.model: \"" + path + "\" must be an absolute path"};
  auto r = ask_within(ctx, model_load_timeout, ctx.actors.inference, reload_atom_v, path);
  if (!r) return r.error();
  json out = json::parse(*r, nullptr, false);
  if (!out.value("ok", false)) {
    const auto& e = out["error"];
    return error{errc_from_name(e.value("code", "internal")), e.value("message", "reload model failed")};
  }
  spdlog::info("admin: reload model: {}", out.dump());
  return out;
}

json value_json(const config::value& v) {
  return std::visit([](const auto& x) { return json(x); }, v);
}

// Applies one already-validated key to whoever owns it.
expected<void> apply_key(admin_context& ctx, const std::string& key, const config::value& v) {
  std::string section = key.substr(0, key.find('.'));
  if (section == "log") {
    if (key == "log.level") spdlog::set_level(spdlog::level::from_str(std::get<std::string>(v)));
    if (key == "log.content") log_set_content(std::get<bool>(v));
    return {};
  }
  if (section == "ipc") {
    config::values next = ctx.cfg;
    next.set(key, v);
    const wire::class_limits lim = daemon_inflight_limits(next);
    ctx.ingress->set_limits(static_cast<std::size_t>(next.get_int("ipc.max_message_bytes")), lim);
    return {};
  }
  if (key == "inference.model") {  // a new file: load it, swap between generations
    auto r = reload_model(ctx, std::get<std::string>(v));
    if (!r) return r.error();
    return {};
  }
  auto owner = ctx.actors.owner_of(section);
  if (!owner) return error{errc::internal, key + ": no part of aikid owns section " + section};
  // The owner parses the text again: a string goes quoted, so the one pair of
  // quotes the parser strips is this one and a value with quotes of its own survives.
  const std::string text = std::holds_alternative<std::string>(v) ? "\"" + std::get<std::string>(v) + "\""
                                                                  : config::config_value_text(v);
  auto r = ask(ctx, owner, tunables_msg{{key}, {text}});
  if (!r) return error{r.error().code, key + ": " + r.error().message};
  return {};
}

json cmd_set(admin_context& ctx, const std::vector<std::string>& w, const std::string& line) {
  if (w.size() < 3) return fail("bad_request", "usage: set KEY VALUE");
  // The value is the rest of the line (strings may contain spaces).
  auto pos = line.find(w[1]) + w[1].size();
  std::string text = line.substr(line.find_first_not_of(" \t", pos));
  const auto& s = config::schema::get();
  auto v = config::config_parse_value(s, w[1], text);
  if (!v) return fail(v.error());
  if (!s.find(w[1])->live) return fail("bad_request", w[1] + ": needs restart (not a live key)");
  std::lock_guard<std::mutex> g(ctx.cfg_mu);
  if (auto ok = apply_key(ctx, w[1], *v); !ok) return fail(ok.error());
  ctx.cfg.set(w[1], *v);
  ctx.live_sets[w[1]] = *v;
  spdlog::info("admin: set {} = {}", w[1], config::config_value_text(*v));
  return {{"ok", true}, {"key", w[1]}, {"value", value_json(*v)}};
}

json cmd_stats(admin_context& ctx) {
  json actors = json::object();
  for (const auto& [name, a] : ctx.actors.all()) {
    auto r = ask(ctx, a, stats_atom_v);
    actors[name] = r ? json::parse(*r, nullptr, false) : json{{"error", r.error().message}};
  }
  return {{"ok", true},
          {"uptime_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count()},
          {"boot_id", ctx.boot_id},
          {"allocator", allocator_name()},
          {"ingress", ctx.ingress->stats()},
          {"publisher", ctx.publisher->stats()},
          {"actors", actors}};
}

json cmd_health(admin_context& ctx) {
  json h = admin_health(ctx, std::chrono::duration_cast<std::chrono::milliseconds>(ask_timeout));
  h["ok"] = true;
  return h;
}

// export-user / import-user: one user's whole data in pages of records,
// through this socket to and from the client's own file (aikictl
// export-user / import-user; format in docs/admin.md). The argument is the
// rest of the line, a JSON object. Fails: bad_request naming the field (a
// wrong format or version included), or the actors' errors.
constexpr const char* k_user_format = "aikid.user";
constexpr int k_user_version = 1;
constexpr auto user_io_timeout = std::chrono::seconds(60);

expected<json> user_arg(const std::string& line, const std::string& cmd) {
  const auto at = line.find(cmd) + cmd.size();
  const std::string text = line.substr(at);
  if (auto deep = json_depth_check(text, json_default_max_depth, "ipc.max_json_depth"); !deep) return deep.error();
  json a = json::parse(text, nullptr, false);
  if (!a.is_object()) return error{errc::bad_request, "usage: " + cmd + " {\"user\": USER, …} (a JSON object)"};
  if (!a.contains("user") || !a["user"].is_string()) return error{errc::bad_request, "user: missing or not a string"};
  return a;
}

// Asks an actor with admin_atom (cmd, arg) and parses its reply; its error as ours.
expected<json> ask_json(admin_context& ctx, const caf::actor& a, const std::string& cmd, const json& arg) {
  auto r = ask_within(ctx, user_io_timeout, a, admin_atom_v, cmd, json_dump(arg));
  if (!r) return r.error();
  json j = json::parse(*r, nullptr, false);
  if (!j.is_object()) return error{errc::internal, cmd + ": unreadable reply"};
  if (!j.value("ok", false)) {
    const json e = j.value("error", json::object());
    return error{errc_from_name(e.value("code", "internal")), e.value("message", cmd + " failed")};
  }
  return j;
}

json cmd_export_user(admin_context& ctx, const std::string& line) {
  auto a = user_arg(line, "export-user");
  if (!a) return fail(a.error());
  const auto after = a->value("after", json(0));
  const auto limit = a->value("limit", json(200));
  if (!after.is_number_integer() || after.get<std::int64_t>() < 0)
    return fail("bad_request", "after: must be a non-negative integer (the last page's next)");
  if (!limit.is_number_integer() || limit.get<std::int64_t>() < 1 || limit.get<std::int64_t>() > 10000)
    return fail("bad_request", "limit: must be an integer in [1, 10000]");
  const std::string user = (*a)["user"];
  json records = json::array();
  if (after.get<std::int64_t>() == 0) {  // the first page: everything but the memories, then their first page
    auto syn = ask_json(ctx, ctx.actors.synthesis, "export_user", {{"user", user}});
    if (!syn) return fail(syn.error());
    records = std::move((*syn)["records"]);
  }
  auto mem = ask_json(ctx, ctx.actors.memory, "export_user", {{"user", user}, {"after", after}, {"limit", limit}});
  if (!mem) return fail(mem.error());
  for (auto& r : (*mem)["records"]) records.push_back(std::move(r));
  return {{"ok", true}, {"format", k_user_format}, {"version", k_user_version}, {"user", user},
          {"records", std::move(records)}, {"next", (*mem)["next"]}};
}

json cmd_import_user(admin_context& ctx, const std::string& line) {
  auto a = user_arg(line, "import-user");
  if (!a) return fail(a.error());
  if (a->value("format", std::string()) != k_user_format)
    return fail("bad_request", std::string("format: must be \"") + k_user_format + "\"");
  if (!a->contains("version") || !(*a)["version"].is_number_integer() || (*a)["version"] != k_user_version)
    return fail("bad_request", "version: " + a->value("version", json()).dump() + " is not one this aikid reads (" +
                                   std::to_string(k_user_version) + ")");
  const json& recs = a->value("records", json());
  if (!recs.is_array()) return fail("bad_request", "records: must be an array");
  json mems = json::array(), rest = json::array();
  for (const auto& r : recs) (r.is_object() && r.value("type", std::string()) == "memory" ? mems : rest).push_back(r);
  const std::string user = (*a)["user"];
  json out = {{"ok", true}, {"memories", 0}, {"graph", 0}, {"turns", 0}, {"reminders", 0}, {"settings", 0}};
  if (!rest.empty()) {
    auto syn = ask_json(ctx, ctx.actors.synthesis, "import_user", {{"user", user}, {"records", std::move(rest)}});
    if (!syn) return fail(syn.error());
    for (const char* k : {"graph", "turns", "reminders", "settings"}) out[k] = (*syn)[k];
  }
  if (!mems.empty()) {
    auto mem = ask_json(ctx, ctx.actors.memory, "import_user", {{"user", user}, {"records", std::move(mems)}});
    if (!mem) return fail(mem.error());
    out["memories"] = (*mem)["memories"];
  }
  return out;
}

json cmd_help() {
  return {{"ok", true},
          {"commands",
           {"help", "get KEY", "set KEY VALUE", "config", "stats", "health", "metrics",
            "reload config|templates|model", "snapshot", "export FILE", "import FILE", "export-user JSON", "import-user JSON", "debug stall ACTOR MS", "debug crash ACTOR", "debug clock UNIX_MS|real"}}};
}

}  // namespace

json admin_health(admin_context& ctx, std::chrono::milliseconds timeout) {
  json actors = json::object();
  bool all_up = true;
  for (const auto& [name, a] : ctx.actors.all()) {
    auto r = ask_within(ctx, timeout, a, health_atom_v);
    json h = r ? json::parse(*r, nullptr, false) : json{{"up", false}, {"reason", r.error().message}, {"alive", false}};
    if (h.is_discarded()) h = json{{"up", false}, {"reason", "unreadable health reply"}};
    if (!h.value("up", false)) all_up = false;
    actors[name] = h;
  }
  return {{"status", all_up ? "ok" : "degraded"}, {"actors", actors}};
}

expected<json> admin_reload_config(admin_context& ctx) {
  auto fresh = daemon_load_config(ctx.opts);
  if (!fresh) return fresh.error();
  std::lock_guard<std::mutex> g(ctx.cfg_mu);
  // Keys the daemon filled in from the environment stay as they are.
  for (const char* k : {"daemon.runtime_dir", "daemon.data_dir", "ipc.requests", "ipc.thoughts", "admin.socket"})
    if (fresh->get_string(k).empty()) fresh->set(k, ctx.cfg.at(k));
  auto changed = config::config_diff(ctx.cfg, *fresh);
  const auto& s = config::schema::get();
  for (const auto& k : changed)
    if (!s.find(k)->live) return error{errc::bad_request, k + ": needs restart (not a live key); nothing was applied"};
  json reverted = json::array();
  for (const auto& k : changed) {
    if (auto ok = apply_key(ctx, k, fresh->at(k)); !ok) return ok.error();
    // A value `set` at run time that the file's value replaces: say so, or
    // the operator's change vanishes without a word.
    if (auto it = ctx.live_sets.find(k); it != ctx.live_sets.end() && it->second == ctx.cfg.at(k)) {
      spdlog::warn("reload config: {} = {} was set at run time; put back to the file's {}", k,
                   config::config_value_text(it->second), config::config_value_text(fresh->at(k)));
      reverted.push_back({{"key", k}, {"from", value_json(it->second)}, {"to", value_json(fresh->at(k))}});
    }
    ctx.cfg.set(k, fresh->at(k));
  }
  ctx.live_sets.clear();  // the running values are the file's now
  return json{{"changed", changed}, {"reverted", reverted}};
}

namespace {

// A label value as the exposition format quotes it: \\, \" and \n escaped.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// A sample value: the shortest text that reads back as the same double.
std::string num(const json& v) {
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number()) return fmt::format("{}", v.get<double>());
  return "NaN";
}
std::string num(double d) { return fmt::format("{}", d); }

void family(std::ostringstream& os, const char* name, const char* type, const char* help) {
  os << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
}

// One summary's samples from a stats object {count, sum_ms, p50_ms, p99_ms},
// in seconds; `labels` is `k="v",…` without braces.
void summary_samples(std::ostringstream& os, const char* name, const std::string& labels, const json& l) {
  const std::string sep = labels.empty() ? "" : ",";
  os << name << "{" << labels << sep << "quantile=\"0.5\"} " << num(l.value("p50_ms", 0.0) / 1000) << "\n";
  os << name << "{" << labels << sep << "quantile=\"0.99\"} " << num(l.value("p99_ms", 0.0) / 1000) << "\n";
  os << name << "_sum{" << labels << "} " << num(l.value("sum_ms", 0.0) / 1000) << "\n";
  os << name << "_count{" << labels << "} " << num(l.value("count", json(0))) << "\n";
}

// The process_* metrics every Prometheus client library exports, from /proc.
void process_metrics(std::ostringstream& os) {
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::ifstream stat_in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_in)), std::istreambuf_iterator<char>());
  // The fields after the command's closing parenthesis (the name may hold spaces): state is field 3.
  std::vector<std::string> f;
  if (auto rp = stat.rfind(')'); rp != std::string::npos) {
    std::istringstream is(stat.substr(rp + 2));
    for (std::string x; is >> x;) f.push_back(x);
  }
  auto field = [&](std::size_t n) -> double {  // field n of proc(5), counted from 1
    return n >= 3 && n - 3 < f.size() ? std::strtod(f[n - 3].c_str(), nullptr) : 0.0;
  };
  double btime = 0;
  std::ifstream sys_stat("/proc/stat");
  for (std::string line; std::getline(sys_stat, line);)
    if (line.rfind("btime ", 0) == 0) btime = std::strtod(line.c_str() + 6, nullptr);
  std::size_t fds = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++fds;
  struct rlimit rl {};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  family(os, "process_cpu_seconds_total", "counter", "user and system CPU time spent, in seconds");
  os << "process_cpu_seconds_total " << num((field(14) + field(15)) / tick) << "\n";
  family(os, "process_resident_memory_bytes", "gauge", "resident memory size, in bytes");
  os << "process_resident_memory_bytes " << num(field(24) * static_cast<double>(::sysconf(_SC_PAGESIZE))) << "\n";
  family(os, "process_virtual_memory_bytes", "gauge", "virtual memory size, in bytes");
  os << "process_virtual_memory_bytes " << num(field(23)) << "\n";
  family(os, "process_open_fds", "gauge", "open file descriptors");
  os << "process_open_fds " << (fds > 0 ? fds - 1 : 0) << "\n";  // less the one the listing held
  family(os, "process_max_fds", "gauge", "the limit of open file descriptors");
  os << "process_max_fds " << num(rl.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(rl.rlim_cur)) << "\n";
  family(os, "process_start_time_seconds", "gauge", "start time of the process since the unix epoch, in seconds");
  os << "process_start_time_seconds " << num(btime + field(22) / tick) << "\n";
}

}  // namespace

std::string admin_metrics_text(admin_context& ctx) {
  auto st = cmd_stats(ctx);
  std::ostringstream os;
  family(os, "aikid_build_info", "gauge", "the running build: version and commit (always 1)");
  os << "aikid_build_info{version=\"" << label(AIKID_VERSION) << "\",commit=\"" << label(build_commit()) << "\"} 1\n";
  family(os, "aikid_up", "gauge", "1 while the daemon serves");
  os << "aikid_up 1\n";
  family(os, "aikid_uptime_seconds", "gauge", "seconds since the daemon started serving");
  os << "aikid_uptime_seconds " << num(st["uptime_s"]) << "\n";
  const auto& ing = st["ingress"];
  family(os, "aikid_requests_total", "counter", "requests received, by op");
  for (auto& [op, n] : ing["requests"].items()) os << "aikid_requests_total{op=\"" << label(op) << "\"} " << num(n) << "\n";
  family(os, "aikid_errors_total", "counter", "error replies, by code");
  for (auto& [code, n] : ing["errors"].items()) os << "aikid_errors_total{code=\"" << label(code) << "\"} " << num(n) << "\n";
  family(os, "aikid_in_flight", "gauge", "requests admitted and not yet answered");
  os << "aikid_in_flight " << num(ing["in_flight"]) << "\n";
  family(os, "aikid_request_duration_seconds", "summary",
         "request latency by op class, admission to reply (quantiles over the last 1024)");
  for (auto& [cls, l] : ing["latency"].items())
    summary_samples(os, "aikid_request_duration_seconds", "class=\"" + label(cls) + "\"", l);
  family(os, "aikid_thoughts_total", "counter", "thoughts published, by topic");
  for (auto& [topic, n] : st["publisher"]["sent"].items())
    os << "aikid_thoughts_total{topic=\"" << label(topic) << "\"} " << num(n) << "\n";
  family(os, "aikid_stage_duration_seconds", "summary",
         "time an actor's stage takes (quantiles over the last 1024)");
  for (auto& [actor, a] : st["actors"].items()) {
    if (!a.is_object()) continue;
    for (auto& [stage, v] : a.items()) {
      if (!v.is_object() || !v.contains("p50_ms")) continue;
      summary_samples(os, "aikid_stage_duration_seconds", "actor=\"" + label(actor) + "\",stage=\"" + label(stage) + "\"", v);
    }
  }
  process_metrics(os);
  return os.str();
}

json admin_execute(admin_context& ctx, const std::string& line) {
  try {
    auto w = split_words(line);
    if (w.empty()) return fail("bad_request", "empty command; try help");
    const std::string& c = w[0];
    if (c == "help") return cmd_help();
    if (c == "get") {
      if (w.size() != 2) return fail("bad_request", "usage: get KEY");
      const auto* spec = config::schema::get().find(w[1]);
      if (!spec) return fail("bad_request", w[1] + ": unknown key");
      std::lock_guard<std::mutex> g(ctx.cfg_mu);
      return {{"ok", true}, {"key", w[1]}, {"value", value_json(ctx.cfg.at(w[1]))}, {"live", spec->live}, {"help", spec->help}};
    }
    if (c == "set") return cmd_set(ctx, w, line);
    if (c == "config") {
      std::lock_guard<std::mutex> g(ctx.cfg_mu);
      json all = json::object();
      for (const auto& [k, v] : ctx.cfg.all()) all[k] = value_json(v);
      return {{"ok", true}, {"source", ctx.cfg.source.string()}, {"config", all}};
    }
    if (c == "stats") return cmd_stats(ctx);
    if (c == "health") return cmd_health(ctx);
    if (c == "metrics") return {{"ok", true}, {"text", admin_metrics_text(ctx)}};
    if (c == "reload") {
      if (w.size() != 2) return fail("bad_request", "usage: reload config|templates|model");
      if (w[1] == "config") {
        auto r = admin_reload_config(ctx);
        if (!r) return fail(r.error());
        json out = *r;
        out["ok"] = true;
        return out;
      }
      if (w[1] == "model") {
        auto r = reload_model(ctx, "");
        return r ? *r : fail(r.error());
      }
      if (w[1] == "templates") {
        auto r = ask(ctx, ctx.actors.synthesis, reload_atom_v);
        return r ? json::parse(*r, nullptr, false) : fail(r.error());
      }
      return fail("bad_request", "reload: expected config, templates or model");
    }
    if (c == "export-user") return cmd_export_user(ctx, line);
    if (c == "import-user") return cmd_import_user(ctx, line);
    if (c == "snapshot" || c == "export" || c == "import") {
      if (c != "snapshot" && w.size() != 2) return fail("bad_request", "usage: " + c + " FILE");
      auto r = ask(ctx, ctx.actors.memory, admin_atom_v, c, w.size() > 1 ? w[1] : std::string{});
      return r ? json::parse(*r, nullptr, false) : fail(r.error());
    }
    if (c == "debug") {
      if (!ctx.cfg.get_bool("daemon.debug")) return fail("bad_request", "debug commands are off (daemon.debug = false)");
      if (w.size() == 3 && w[1] == "clock") {  // the proactive clock (reminders, reflections)
        std::int64_t t = 0;
        if (w[2] != "real") {
          auto v = whole_int(w[2], 1, std::numeric_limits<std::int64_t>::max());
          if (!v) return fail("bad_request", "UNIX_MS: \"" + w[2] + "\" is not a positive unix time in ms (or real)");
          t = *v;
        }
        auto r = ask(ctx, ctx.actors.proactive, clock_atom_v, t);
        return r ? json::parse(*r, nullptr, false) : fail(r.error());
      }
      if (w.size() == 3 && w[1] == "crash") {  // ends an actor as an escaped exception would
        for (const auto& [name, a] : ctx.actors.all())
          if (name == w[2]) {
            caf::anon_send_exit(a, caf::exit_reason::kill);
            return {{"ok", true}, {"crashed", name}};
          }
        return fail("not_found", "no actor named " + w[2]);
      }
      if (w.size() != 4 || w[1] != "stall")
        return fail("bad_request", "usage: debug stall ACTOR MS | debug crash ACTOR | debug clock UNIX_MS|real");
      auto v = whole_int(w[3], 0, 600000);
      if (!v) return fail("bad_request", "MS: \"" + w[3] + "\" is not a number of milliseconds in [0, 600000]");
      const auto ms = static_cast<std::int32_t>(*v);
      for (const auto& [name, a] : ctx.actors.all())
        if (name == w[2]) {
          caf::anon_send(a, stall_atom_v, ms);
          return {{"ok", true}, {"stalled", name}, {"ms", ms}};
        }
      return fail("not_found", "no actor named " + w[2]);
    }
    return fail("unknown_op", "unknown command \"" + c + "\"; try help");
  } catch (const std::exception& e) {
    return fail("internal", std::string("admin: ") + e.what());
  }
}

}  // namespace aikid
