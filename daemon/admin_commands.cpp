// The admin commands. Runs on the admin socket's thread; asks actors with
// bounded waits, so a stuck actor makes a reply say so instead of hanging it.
#include "daemon/admin_commands.hpp"

#include <caf/scoped_actor.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <filesystem>
#include <limits>
#include <optional>
#include <sstream>

#include "actors/messages.hpp"

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
    std::array<int, 6> lim = daemon_inflight_limits(next);
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

json cmd_help() {
  return {{"ok", true},
          {"commands",
           {"help", "get KEY", "set KEY VALUE", "config", "stats", "health", "metrics",
            "reload config|templates|model", "snapshot", "export FILE", "import FILE", "debug stall ACTOR MS", "debug crash ACTOR", "debug clock UNIX_MS|real"}}};
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
  for (const auto& k : changed) {
    if (auto ok = apply_key(ctx, k, fresh->at(k)); !ok) return ok.error();
    ctx.cfg.set(k, fresh->at(k));
  }
  return json{{"changed", changed}};
}

std::string admin_metrics_text(admin_context& ctx) {
  auto st = cmd_stats(ctx);
  std::ostringstream os;
  os << "# HELP aikid_up 1 while the daemon serves\n# TYPE aikid_up gauge\naikid_up 1\n";
  os << "# TYPE aikid_uptime_seconds gauge\naikid_uptime_seconds " << st["uptime_s"].get<double>() << "\n";
  const auto& ing = st["ingress"];
  os << "# TYPE aikid_requests_total counter\n";
  for (auto& [op, n] : ing["requests"].items()) os << "aikid_requests_total{op=\"" << op << "\"} " << n << "\n";
  os << "# TYPE aikid_errors_total counter\n";
  for (auto& [code, n] : ing["errors"].items()) os << "aikid_errors_total{code=\"" << code << "\"} " << n << "\n";
  os << "# TYPE aikid_in_flight gauge\naikid_in_flight " << ing["in_flight"] << "\n";
  os << "# TYPE aikid_request_latency_ms summary\n";
  for (auto& [cls, l] : ing["latency"].items()) {
    os << "aikid_request_latency_ms{class=\"" << cls << "\",quantile=\"0.5\"} " << l["p50_ms"] << "\n";
    os << "aikid_request_latency_ms{class=\"" << cls << "\",quantile=\"0.99\"} " << l["p99_ms"] << "\n";
    os << "aikid_request_latency_ms_count{class=\"" << cls << "\"} " << l["count"] << "\n";
  }
  os << "# TYPE aikid_thoughts_total counter\n";
  for (auto& [topic, n] : st["publisher"]["sent"].items()) os << "aikid_thoughts_total{topic=\"" << topic << "\"} " << n << "\n";
  os << "# TYPE aikid_stage_latency_ms summary\n";
  for (auto& [actor, a] : st["actors"].items()) {
    if (!a.is_object()) continue;
    for (auto& [stage, v] : a.items()) {
      if (!v.is_object() || !v.contains("p50_ms")) continue;
      os << "aikid_stage_latency_ms{actor=\"" << actor << "\",stage=\"" << stage << "\",quantile=\"0.5\"} " << v["p50_ms"] << "\n";
      os << "aikid_stage_latency_ms{actor=\"" << actor << "\",stage=\"" << stage << "\",quantile=\"0.99\"} " << v["p99_ms"] << "\n";
      os << "aikid_stage_latency_ms_count{actor=\"" << actor << "\",stage=\"" << stage << "\"} " << v["count"] << "\n";
    }
  }
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
