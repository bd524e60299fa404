// libFuzzer target for the admin command parser and dispatcher
// (daemon/admin_commands.cpp): the input is what a client writes on the
// admin socket; it is cut into lines as ipc/admin.cpp does (\n, a trailing
// \r dropped, empty lines skipped, non-UTF-8 lines refused) and each line goes
// through admin_execute — the real tokenizer, `get`/`set` value parsing
// through the full config registry, `config`, `stats`, `health`, `metrics`,
// `reload config|templates|model`, `snapshot`/`export`/`import`, `debug stall`.
//
// The state a live daemon would give it is made up here: a CAF actor system
// with one stand-in actor behind every actor name (it answers stats, health,
// tunables, reload and admin requests at once and touches no file), a real
// ingress and publisher bound to ipc:// sockets in a scratch folder, the
// registry's defaults as the live configuration (daemon.debug on), reset
// before every input. Every reply must be a JSON object {"ok":true,…} or
// {"ok":false,"error":{code,message}} that is not `internal` (an exception
// escaped a command) — never a crash or a sanitizer report. A `set` that
// succeeded must hand the owner a value text that parses back to the same
// boolean/integer value.
//
// Build + run (from the repo root):
//   tests/fuzz/fuzz.sh admin /tmp/fuzz 600      (the compile line is in fuzz.sh)
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#include "actors/messages.hpp"
#include "daemon/admin_commands.hpp"
#include "tests/fuzz/fuzz_keys.hpp"

using namespace aikid;
using json = nlohmann::json;

// ---- what daemon.cpp and actors/spawn.cpp would provide (not linked) -------
namespace aikid {

const char* build_commit() { return "fuzz"; }  // generated at build time for the daemon

expected<config::values> daemon_load_config(const daemon_options& o) {
  return config::config_apply_overrides(config::config_load_defaults(), o.overrides);
}

wire::class_limits daemon_inflight_limits(const config::values& c) {
  // One key a class, named for it (ipc/ops.hpp; daemon/config_keys.cpp declares them).
  wire::class_limits out{};
  for (const auto& k : wire::op_classes)
    out[static_cast<std::size_t>(k.cls)] = static_cast<int>(c.get_int("ipc.max_inflight_" + std::string(k.name)));
  return out;
}

std::vector<std::pair<std::string, caf::actor>> actor_set::all() const {
  return {{"embedder", embedder}, {"inference", inference}, {"synthesis", synthesis},
          {"memory", memory},     {"perception", perception}, {"proactive", proactive}};
}

caf::actor actor_set::owner_of(const std::string& section) const {
  for (const char* s : {"perception", "memory", "embedding", "synthesis", "inference", "proactive"})
    if (section == s) return memory;  // all names are the same stand-in
  return {};
}

}  // namespace aikid

namespace {

std::mutex tun_mu;
tunables_msg last_tunables;  // what the stand-in was last asked to apply

// (spawned with an argument: CAF 0.17 dereferences an empty argument tuple
// when there is none, which _GLIBCXX_ASSERTIONS reports)
caf::behavior stand_in(caf::event_based_actor*, int) {
  return {
      [](stats_atom) { return std::string(R"({"work":{"count":1,"p50_ms":0.5,"p99_ms":2.0}})"); },
      [](health_atom) { return std::string(R"({"up":true})"); },
      [](reload_atom) { return std::string(R"({"ok":true,"templates":12})"); },
      [](reload_atom, const std::string& path) { return json{{"ok", true}, {"model", path}}.dump(); },
      [](admin_atom, const std::string& cmd, const std::string&) {
        return json{{"ok", true}, {"cmd", cmd}}.dump();
      },
      [](tunables_msg& m) {
        std::lock_guard<std::mutex> g(tun_mu);
        last_tunables = m;
        return std::string{};
      },
      [](stall_atom, std::int32_t) {},
  };
}

class fuzz_caf_config : public caf::actor_system_config {
 public:
  fuzz_caf_config() {
    add_message_types<caf::id_block::aikid>();
    set("scheduler.max-threads", 1);
  }
};

struct world {
  fuzz_caf_config ccfg;
  caf::actor_system sys{ccfg};
  actor_set actors;
  config::values base;
  config::values cfg;
  std::mutex cfg_mu;
  daemon_options opts;
  zmq::context_t zctx;
  std::unique_ptr<ipc::ingress> ingress;
  std::unique_ptr<ipc::publisher> publisher;
  std::unique_ptr<admin_context> ctx;

  world() {
    spdlog::set_default_logger(spdlog::null_logger_mt("fuzz"));
    auto a = sys.spawn(stand_in, 0);
    actors = {a, a, a, a, a, a};
    opts.overrides = {"daemon.debug=true"};
    auto c = daemon_load_config(opts);
    if (!c) std::abort();
    const auto dir = std::filesystem::temp_directory_path() / ("aikid_admin_fuzz." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    c->set("ipc.requests", "ipc://" + (dir / "requests.sock").string());
    c->set("ipc.thoughts", "ipc://" + (dir / "thoughts.sock").string());
    base = *c;
    cfg = base;
    auto ing = ipc::ingress::start(
        zctx,
        {cfg.get_string("ipc.requests"), static_cast<std::size_t>(cfg.get_int("ipc.max_message_bytes")),
         daemon_inflight_limits(cfg), 0660, json{{"version", "fuzz"}}},
        [](std::uint64_t, wire::request&&) {}, nullptr);
    if (!ing) std::abort();
    ingress = std::move(*ing);
    auto pub = ipc::publisher::start(zctx, {cfg.get_string("ipc.thoughts"), 100, "fuzz"});
    if (!pub) std::abort();
    publisher = std::move(*pub);
    ctx.reset(new admin_context{sys, actors, cfg, cfg_mu, opts, ingress.get(), publisher.get(), "fuzz",
                                std::chrono::steady_clock::now()});
  }
};

world& the_world() {
  static world* w = new world;  // never destroyed: threads keep running until exit
  return *w;
}

void check_reply(const json& r, const std::string& line) {
  if (!r.is_object()) std::abort();
  auto ok = r.find("ok");
  if (ok == r.end() || !ok->is_boolean()) std::abort();
  if (!ok->get<bool>()) {
    const auto& e = r.at("error");
    const auto code = e.at("code").get<std::string>();
    if (code == "internal" || code.empty() || e.at("message").get<std::string>().empty()) {
      fprintf(stderr, "admin_fuzz: %s -> %s\n", line.c_str(), r.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
      std::abort();
    }
  }
  (void)r.dump(-1, ' ', false, json::error_handler_t::replace);  // as the socket writes it
}

// A successful `set KEY VALUE` of a boolean or integer key must reach the
// owner as text that parses back to the same value.
void check_set(world& w, const json& r) {
  if (!r.value("ok", false) || !r.contains("key") || !r.contains("value")) return;
  const auto key = r["key"].get<std::string>();
  const auto* spec = config::schema::get().find(key);
  if (!spec || !spec->live || spec->type == config::kind::real || spec->type == config::kind::string ||
      spec->type == config::kind::path || key.rfind("log.", 0) == 0 || key.rfind("ipc.", 0) == 0)
    return;
  std::lock_guard<std::mutex> g(tun_mu);
  auto again = config::config_parse_value(config::schema::get(), key, last_tunables.values.at(0));
  if (!again || w.cfg.at(key) != *again) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  world& w = the_world();
  {
    std::lock_guard<std::mutex> g(w.cfg_mu);
    w.cfg = w.base;
  }
  std::string buf(reinterpret_cast<const char*>(data), size);
  buf += '\n';
  std::size_t nl, lines = 0;
  while ((nl = buf.find('\n')) != std::string::npos && lines < 8) {
    std::string line = buf.substr(0, nl);
    buf.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    ++lines;
    if (!wire::utf8_valid(line)) continue;  // ipc/admin.cpp answers bad_request itself
    const json r = admin_execute(*w.ctx, line);
    check_reply(r, line);
    check_set(w, r);
  }
  return 0;
}
