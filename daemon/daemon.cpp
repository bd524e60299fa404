// The daemon: binds the sockets, spawns the actors, serves, reloads on
// SIGHUP, and stops cleanly on SIGTERM/SIGINT (exit 0), or when an actor has
// ended on its own (exit 1). Signals are blocked in every thread and taken
// synchronously here with sigwaitinfo.
#include "daemon/daemon.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "actors/actors.hpp"
#include "actors/messages.hpp"
#include "daemon/admin_commands.hpp"
#include "daemon/heartbeat.hpp"
#include "ipc/ipc.hpp"

namespace aikid {

namespace {

using clock = std::chrono::steady_clock;
using json = nlohmann::json;

std::string env_or(const char* name, const std::string& def) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : def;
}

// systemd's *_DIRECTORY variables may list several folders; the first is ours.
std::string first_of_list(const std::string& s) { return s.substr(0, s.find(':')); }

// The same order as the bridge's endpoints.runtime_dir(), so both sides
// agree without configuration.
std::string default_runtime_dir() {
  if (auto r = env_or("RUNTIME_DIRECTORY", ""); !r.empty()) return first_of_list(r);
  if (auto x = env_or("XDG_RUNTIME_DIR", ""); !x.empty()) return x + "/aikid";
  std::string run_user = "/run/user/" + std::to_string(::getuid());
  if (std::filesystem::is_directory(run_user)) return run_user + "/aikid";
  return "/tmp/aikid-" + std::to_string(::getuid());
}

std::string default_data_dir() {
  if (auto s = env_or("STATE_DIRECTORY", ""); !s.empty()) return first_of_list(s);
  if (auto x = env_or("XDG_DATA_HOME", ""); !x.empty()) return x + "/aikid";
  return env_or("HOME", "/tmp") + "/.local/share/aikid";
}

std::string new_boot_id() {
  std::random_device rd;
  std::uniform_int_distribution<std::uint64_t> d;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(d(rd)),
                static_cast<unsigned long long>(d(rd)));
  return buf;
}

// Fills the empty path defaults from the environment.
void resolve_dirs(config::values& cfg) {
  if (cfg.get_string("daemon.runtime_dir").empty()) cfg.set("daemon.runtime_dir", default_runtime_dir());
  if (cfg.get_string("daemon.data_dir").empty()) cfg.set("daemon.data_dir", default_data_dir());
  auto rt = cfg.get_string("daemon.runtime_dir");
  if (cfg.get_string("ipc.requests").empty()) cfg.set("ipc.requests", "ipc://" + rt + "/requests.sock");
  if (cfg.get_string("ipc.thoughts").empty()) cfg.set("ipc.thoughts", "ipc://" + rt + "/thoughts.sock");
  if (cfg.get_string("admin.socket").empty()) cfg.set("admin.socket", rt + "/admin.sock");
}

std::string user_name(uid_t uid) {
  const struct passwd* pw = ::getpwuid(uid);
  return "uid " + std::to_string(uid) + (pw ? " (" + std::string(pw->pw_name) + ")" : std::string{});
}

// Makes the folder (and its parents) if missing; refuses one that another
// user owns (they could read what is stored there or replace our sockets),
// and a mode that cannot be set.
expected<void> make_dir(const std::string& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return error{errc::unavailable, path + ": cannot create: " + ec.message()};
  struct stat st {};
  // A symbolic link another user owns could be pointed elsewhere later.
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode) && st.st_uid != ::geteuid() && st.st_uid != 0)
    return error{errc::unavailable, path + ": a symbolic link owned by " + user_name(st.st_uid) +
                                        ": refusing to use it (chown it, or pick another folder)"};
  if (::stat(path.c_str(), &st) != 0)
    return error{errc::unavailable, path + ": cannot stat: " + std::strerror(errno)};
  if (!S_ISDIR(st.st_mode)) return error{errc::unavailable, path + ": not a folder"};
  const uid_t me = ::geteuid();
  if (st.st_uid != me)
    return error{errc::unavailable, path + ": owned by " + user_name(st.st_uid) + ", not by aikid's " + user_name(me) +
                                        ": refusing to use it (chown it, or pick another folder)"};
  if (::chmod(path.c_str(), mode) != 0)
    return error{errc::unavailable, path + ": cannot chmod " + fmt::format("{:o}", mode) + ": " + std::strerror(errno)};
  return {};
}


class caf_config : public caf::actor_system_config {
 public:
  caf_config(int threads, int poll_sleep_us) {
    add_message_types<caf::id_block::aikid>();
    set("scheduler.max-threads", threads);
    // An idle CAF worker polls its queue (100 times, then 500 times with
    // this sleep between) before it sleeps on a condition variable that an
    // enqueue wakes. CAF's 50 µs sleep (~100 µs with timer slack) was paid
    // by every request that found its worker in that phase:
    // daemon.scheduler_poll_sleep_us = 0 polls those 500 times back to back.
    set("work-stealing.moderate-sleep-duration", caf::timespan(std::int64_t{poll_sleep_us} * 1000));
  }
};

// A start that fails on the configuration (a bad endpoint, address or key
// file: bad_request) exits 2, which the unit's RestartPreventExitStatus=2
// does not restart; anything else (in use, cannot bind) exits 1.
int exit_status(const error& e) { return e.code == errc::bad_request ? 2 : 1; }

}  // namespace

wire::class_limits daemon_inflight_limits(const config::values& c) {
  // One key a class, named for it (ipc/ops.hpp; daemon/config_keys.cpp declares them).
  wire::class_limits out{};
  for (const auto& k : wire::op_classes)
    out[static_cast<std::size_t>(k.cls)] = static_cast<int>(c.get_int("ipc.max_inflight_" + std::string(k.name)));
  return out;
}

expected<config::values> daemon_load_config(const daemon_options& o) {
  if (o.config_file) return config::config_load_file(*o.config_file, o.overrides);
  return config::config_apply_overrides(config::config_load_defaults(), o.overrides);
}

int daemon_run(const daemon_options& opts, config::values cfg) {
  // Signals are taken synchronously by this thread; block them everywhere
  // before any other thread exists.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  log_setup(cfg.get_string("log.level"));
  log_set_content(cfg.get_bool("log.content"));
  resolve_dirs(cfg);
  const std::string boot_id = new_boot_id();
  spdlog::info("aikid {} starting (boot {}), config {}, allocator {}", AIKID_VERSION, boot_id, cfg.source.string(),
               allocator_name());

  for (auto [dir, mode] : {std::pair{cfg.get_string("daemon.runtime_dir"), 0750}, {cfg.get_string("daemon.data_dir"), 0750}}) {
    if (auto ok = make_dir(dir, static_cast<mode_t>(mode)); !ok) {
      spdlog::error("{}", ok.error().message);
      return exit_status(ok.error());
    }
  }

  std::string curve_key;  // tcp:// endpoints are CURVE servers when a key is configured
  if (auto path = cfg.get_string("ipc.curve_secret_key_file"); !path.empty()) {
    auto k = ipc::curve_key_read(path);
    if (!k) {
      spdlog::error("ipc.curve_secret_key_file: {}", k.error().message);
      return 2;
    }
    curve_key = std::move(*k);
  }

  zmq::context_t zctx{1};
  // Publisher first: actors publish into it from the start.
  auto pub = ipc::publisher::start(
      zctx, {cfg.get_string("ipc.thoughts"), static_cast<int>(cfg.get_int("ipc.sndhwm")), boot_id, 0660, curve_key});
  if (!pub) {
    spdlog::error("{}", pub.error().message);
    return exit_status(pub.error());
  }
  std::shared_ptr<ipc::publisher> publisher = std::move(*pub);
  // Check the request and admin endpoints before loading models, so a second
  // daemon fails fast.
  for (const auto& ep : {cfg.get_string("ipc.requests"), "ipc://" + cfg.get_string("admin.socket")}) {
    if (auto ok = ipc::endpoint_check(ep, !curve_key.empty()); !ok) {
      spdlog::error("{}", ok.error().message);
      return exit_status(ok.error());
    }
  }

  // The OpenAI-compatible API's settings are checked before the models load.
  ipc::openai_http_options http_opts;
  http_opts.listen = cfg.get_string("http.listen");
  http_opts.keys_file = cfg.get_string("http.keys_file");
  http_opts.tls_cert = cfg.get_string("http.tls_cert");
  http_opts.tls_key = cfg.get_string("http.tls_key");
  http_opts.max_body_bytes = static_cast<std::size_t>(cfg.get_int("http.max_body_bytes"));
  http_opts.deadline_ms = cfg.get_int("http.deadline_ms");
  http_opts.threads = static_cast<int>(cfg.get_int("http.threads"));
  http_opts.max_json_depth = static_cast<int>(cfg.get_int("ipc.max_json_depth"));
  if (!http_opts.listen.empty())
    if (auto ok = ipc::openai_http_check(http_opts); !ok) {
      spdlog::error("{}", ok.error().message);
      return 2;
    }

  caf_config ccfg(static_cast<int>(cfg.get_int("daemon.threads")), static_cast<int>(cfg.get_int("daemon.scheduler_poll_sleep_us")));
  caf::actor_system sys{ccfg};

  // Replies reach ingress through this forwarder: ingress starts after the
  // actors (it must not admit requests before they exist).
  struct reply_forwarder final : reply_sink {
    std::atomic<ipc::ingress*> target{nullptr};
    void reply_ok(std::uint64_t t, json f) override {
      if (auto* i = target.load()) i->reply_ok(t, std::move(f));
    }
    void reply_error(std::uint64_t t, error e) override {
      if (auto* i = target.load()) i->reply_error(t, std::move(e));
    }
  };
  auto replies = std::make_shared<reply_forwarder>();
  // The OpenAI-compatible API (ipc/openai_http.cpp) sends the same wire
  // requests as ingress on tickets of its own: their replies go to it, and so
  // do the streamed tokens of its requests (not published).
  struct http_router final : reply_sink, thought_sink {
    std::shared_ptr<reply_forwarder> wire;
    std::shared_ptr<ipc::publisher> pub;
    std::atomic<ipc::openai_http*> http{nullptr};
    void reply_ok(std::uint64_t t, json f) override {
      if (!ipc::openai_http_ticket(t)) return wire->reply_ok(t, std::move(f));
      if (auto* h = http.load()) h->reply_ok(t, std::move(f));
    }
    void reply_error(std::uint64_t t, error e) override {
      if (!ipc::openai_http_ticket(t)) return wire->reply_error(t, std::move(e));
      if (auto* h = http.load()) h->reply_error(t, std::move(e));
    }
    void publish(std::string topic, json body) override {
      if (topic == "thought.token")
        if (auto* h = http.load(); h && h->take_token(body)) return;
      pub->publish(std::move(topic), std::move(body));
    }
  };
  auto router = std::make_shared<http_router>();
  router->wire = replies;
  router->pub = publisher;

  actor_env env;
  env.replies = router;
  env.thoughts = router;
  env.cfg = cfg;
  env.debug = cfg.get_bool("daemon.debug");

  notify("STATUS=loading the embedding model");
  actor_set actors = spawn_actors(sys, env);
  // An actor that ends on its own (an exception escaped it, or `debug crash`)
  // cannot come back, and the daemon would serve on without it: stop, and exit
  // 1 so that the service manager restarts aikid (Restart=on-failure) instead
  // of waiting for the watchdog.
  auto actor_died = std::make_shared<std::atomic<bool>>(false);
  for (const auto& [name, a] : actors.all())
    a->attach_functor([name = name, actor_died](const caf::error& reason) {
      if (!reason || reason == caf::exit_reason::user_shutdown) return;
      spdlog::critical("actor {} ended: {}; stopping (exit 1) so that aikid is restarted", name, caf::to_string(reason));
      if (!actor_died->exchange(true)) kill(getpid(), SIGTERM);
    });
  for (const auto& [name, a] : actors.all()) {
    caf::scoped_actor self{sys};
    self->request(a, std::chrono::seconds(120), health_atom_v)
        .receive(
            [&, n = name](const std::string& h) {
              auto j = json::parse(h, nullptr, false);
              if (j.value("up", false)) spdlog::info("{}: up", n);
              else spdlog::warn("{}: down: {}", n, j.value("reason", std::string{"?"}));
            },
            [&, n = name](caf::error& e) { spdlog::error("{}: no answer at start: {}", n, sys.render(e)); });
  }

  std::mutex cfg_mu;  // guards cfg (admin thread and this thread)
  admin_context actx{sys, actors, cfg, cfg_mu, opts, nullptr, publisher.get(), boot_id, clock::now()};  // ingress: below

  // Watchdog: WATCHDOG=1 only while every actor answers its heartbeat.
  std::uint64_t wd_usec = 0;
  bool systemd_wd = sd_watchdog_enabled(0, &wd_usec) > 0;
  auto beat = systemd_wd ? std::chrono::milliseconds(wd_usec / 2000)
                         : std::chrono::milliseconds(cfg.get_int("daemon.heartbeat_ms"));
  // How long a beat waits for each actor's answer (daemon.heartbeat_timeout_ms,
  // 0: the beat): a short beat need not call a merely slow actor down. Under
  // systemd at most the beat, so that WATCHDOG=1 still comes within WatchdogSec.
  auto health_timeout = cfg.get_int("daemon.heartbeat_timeout_ms") > 0
                            ? std::chrono::milliseconds(cfg.get_int("daemon.heartbeat_timeout_ms"))
                            : beat;
  if (systemd_wd) health_timeout = std::min(health_timeout, beat);
  // The status topic: the whole state at start, every daemon.status_interval_ms
  // and at stop; an actor going down or up as soon as a beat sees it.
  const auto status_every = std::chrono::milliseconds(cfg.get_int("daemon.status_interval_ms"));
  auto publish_state = [&](const std::string& state, json health) {
    json body{{"status", state}, {"message", state == "stopping" ? "stopping: finishing requests in flight" : ""},
              {"version", AIKID_VERSION},
              {"uptime_s", std::chrono::duration<double>(clock::now() - actx.started).count()}};
    if (health.is_object()) body["actors"] = std::move(health["actors"]);
    publisher->publish("status", std::move(body));
  };
  // The start status goes out before ingress answers a first request: a
  // client that has had an answer and subscribes then never sees it (with
  // daemon.status_interval_ms = 0 it hears only changes from then on).
  json health0 = admin_health(actx, health_timeout);
  std::map<std::string, bool> actor_up;
  for (const auto& [name, h] : health0["actors"].items()) actor_up[name] = h.value("up", false);
  const std::string state0 = health0.value("status", "degraded") == "ok" ? "ready" : "degraded";
  publish_state(state0, std::move(health0));
  auto status_sent = [&] {  // the publisher's I/O thread has handed it to the PUB socket
    const json st = publisher->stats();
    return st["sent"].value("status", std::uint64_t{0}) + st["failed"].value("status", std::uint64_t{0});
  };
  for (const auto until = clock::now() + std::chrono::seconds(10); status_sent() == 0 && clock::now() < until;)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));

  auto dispatch = [&sys, &actors](std::uint64_t ticket, wire::request&& req) {
        auto target = actors.server_of(req.info->server);  // the op's row (ipc/ops.hpp)
        request_msg m;
        m.ticket = ticket;
        m.op = req.op;
        m.id = req.id;
        m.body = std::move(req.text);  // as sent: a schema's properties keep their order
        m.parsed = std::make_shared<const json>(std::move(req.body));
        if (req.deadline_ms)
          m.deadline_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              (clock::now() + std::chrono::milliseconds(*req.deadline_ms)).time_since_epoch())
                              .count();
        caf::anon_send(target, std::move(m));
  };
  auto ing = ipc::ingress::start(
      zctx,
      {cfg.get_string("ipc.requests"), static_cast<std::size_t>(cfg.get_int("ipc.max_message_bytes")),
       daemon_inflight_limits(cfg), 0660, json{{"version", AIKID_VERSION}, {"boot_id", boot_id}}, curve_key,
       static_cast<int>(cfg.get_int("ipc.max_json_depth"))},
      dispatch, nullptr);
  if (!ing) {
    spdlog::error("{}", ing.error().message);
    return exit_status(ing.error());
  }
  std::shared_ptr<ipc::ingress> ingress = std::move(*ing);
  replies->target = ingress.get();
  actx.ingress = ingress.get();

  auto adm = ipc::admin_server::start({cfg.get_string("admin.socket"), cfg.get_string("admin.group")},
                                      [&actx](const std::string& line) { return admin_execute(actx, line); });
  if (!adm) {
    spdlog::error("{}", adm.error().message);
    return exit_status(adm.error());
  }
  std::unique_ptr<ipc::metrics_http> metrics;
  if (auto listen = cfg.get_string("admin.metrics_http"); !listen.empty()) {
    auto m = ipc::metrics_http::start(listen, [&actx] { return admin_metrics_text(actx); });
    if (!m) {
      spdlog::error("{}", m.error().message);
      return exit_status(m.error());
    }
    metrics = std::move(*m);
  }

  std::unique_ptr<ipc::openai_http> http;
  if (!http_opts.listen.empty()) {
    auto limits = [&actx] {
      std::lock_guard<std::mutex> g(actx.cfg_mu);
      return daemon_inflight_limits(actx.cfg);
    };
    // The models by name: the generation model's file name (and its own
    // name), the embedder's id; asked of the actors (openai_http caches it).
    auto models = [&sys, &actors, &actx] {
      json out = json::array();
      std::string path;
      {
        std::lock_guard<std::mutex> g(actx.cfg_mu);
        path = actx.cfg.get_string("inference.model");
      }
      for (auto [a, kind] : {std::pair{actors.inference, "chat"}, std::pair{actors.embedder, "embedding"}}) {
        caf::scoped_actor self{sys};
        self->request(a, std::chrono::seconds(5), health_atom_v)
            .receive(
                [&, kind = kind](const std::string& h) {
                  auto j = json::parse(h, nullptr, false);
                  if (!j.is_object() || !j.value("up", false) || !j.contains("model")) return;
                  std::string name = j.value("model", "");
                  if (std::string(kind) == "chat")
                    out.push_back({{"id", std::filesystem::path(path).stem().string()}, {"kind", kind}, {"aliases", json::array({name})}});
                  else
                    out.push_back({{"id", name}, {"kind", kind},  // also without its ":<sha256 prefix>"
                                   {"aliases", json::array({name.substr(0, name.find(':'))})}});
                },
                [](caf::error&) {});
      }
      return out;
    };
    auto h = ipc::openai_http::start(http_opts, dispatch, limits, models);
    if (!h) {
      spdlog::error("{}", h.error().message);
      return 2;
    }
    http = std::move(*h);
    router->http = http.get();
  }

  // The heartbeat thread (daemon/heartbeat.cpp): one health ask per actor
  // and beat; admin_health marks an actor that does not answer "alive": false.
  heartbeat watchdog({beat, status_every, systemd_wd},
                     {[&] { return admin_health(actx, health_timeout); }, publish_state, publisher.get(), notify},
                     std::move(actor_up));

  notify("READY=1");
  notify("STATUS=ready: requests on " + cfg.get_string("ipc.requests"));
  spdlog::info("ready: requests {}, thoughts {}, admin {}", cfg.get_string("ipc.requests"),
               cfg.get_string("ipc.thoughts"), cfg.get_string("admin.socket"));

  // Serve until SIGTERM/SIGINT; SIGHUP reloads.
  for (;;) {
    int sig = sigwaitinfo(&sigs, nullptr);
    if (sig == SIGHUP) {
      notify("RELOADING=1");
      auto r = admin_reload_config(actx);
      if (r) spdlog::info("SIGHUP: {}", r->dump());
      else spdlog::error("SIGHUP: reload refused: {}", r.error().message);
      notify("READY=1");
      continue;
    }
    if (sig == SIGTERM || sig == SIGINT) break;
  }

  notify("STOPPING=1");
  notify("STATUS=stopping: finishing requests in flight");
  publish_state("stopping", json());
  spdlog::info("stopping: no new requests; cancelling generations");
  ingress->stop_accepting();
  if (http) http->stop_accepting();
  caf::anon_send(actors.inference, cancel_atom_v);
  auto grace = std::chrono::milliseconds(cfg.get_int("daemon.shutdown_grace_ms"));
  auto until = clock::now() + grace;
  auto busy = [&] { return ingress->in_flight() > 0 || (http && http->in_flight() > 0); };
  while (busy() && clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (ingress->in_flight() > 0) spdlog::warn("{} requests still in flight after the grace period", ingress->in_flight());
  watchdog.stop();
  if (metrics) metrics->stop();
  if (http) http->stop();
  router->http = nullptr;
  (*adm)->stop();
  ingress->stop();
  replies->target = nullptr;
  for (const auto& [name, a] : actors.all()) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  actors = {};
  publisher->stop();
  if (actor_died->load()) {
    spdlog::error("stopped after an actor ended (exit 1)");
    return 1;
  }
  spdlog::info("stopped");
  return 0;
}

}  // namespace aikid
