// The registry of every key: the daemon's own sections and each actor's.
#include "actors/actors.hpp"
#include "daemon/daemon.hpp"
#include "common/json.hpp"

namespace aikid {

// ipc.max_inflight_<class>: one live key a class of ops, its default and the
// ops it covers from the table of ops (ipc/ops.hpp).
static std::vector<config::key_spec> inflight_keys() {
  std::vector<config::key_spec> out;
  for (const auto& c : wire::op_classes)
    out.push_back(config::key_int("ipc.max_inflight_" + std::string(c.name), c.default_limit, 1, 100000,
                                  "requests in flight: " + wire::op_class_summary(c.cls))
                      .is_live());
  return out;
}

std::vector<config::key_spec> daemon_config_keys() {
  using namespace config;
  std::vector<key_spec> keys = {
      key_path("daemon.data_dir", "",
               "data folder (memories, knowledge graph); empty: $STATE_DIRECTORY, else $XDG_DATA_HOME/aikid"),
      key_path("daemon.runtime_dir", "",
               "folder of the sockets; empty: $RUNTIME_DIRECTORY, else $XDG_RUNTIME_DIR/aikid, else /run/user/UID/aikid if /run/user/UID exists, else /tmp/aikid-UID"),
      key_int("daemon.shutdown_grace_ms", 5000, 0, 600000, "how long SIGTERM waits for requests in flight"),
      key_int("daemon.heartbeat_ms", 5000, 100, 600000,
              "actor heartbeat interval when systemd sets no watchdog (else half of WatchdogSec)"),
      key_int("daemon.heartbeat_timeout_ms", 0, 0, 600000,
              "how long a heartbeat waits for an actor's answer before it calls the actor down (0: the heartbeat "
              "interval; under systemd at most half of WatchdogSec)"),
      key_int("daemon.status_interval_ms", 10000, 0, 3600000,
              "publish the whole state on the status topic this often (0: only when an actor goes up or down)"),
      key_int("daemon.threads", 2, 1, 64, "CAF scheduler threads for the non-detached actors"),
      key_int("daemon.scheduler_poll_sleep_us", 0, 0, 10000,
              "sleep between an idle CAF worker's polls before it waits for work (CAF's default: 50; 0: poll back to back, lower latency)"),
      key_bool("daemon.debug", false, "enable debug admin commands (debug stall ACTOR MS, debug crash ACTOR, debug clock UNIX_MS|real)"),
      key_string("ipc.requests", "", "request endpoint (ROUTER); empty: ipc://RUNTIME/requests.sock"),
      key_string("ipc.thoughts", "", "thought endpoint (PUB); empty: ipc://RUNTIME/thoughts.sock"),
      key_path("ipc.curve_secret_key_file", "",
               "CURVE secret key (Z85, made by aikid --curve-keygen DIR) for tcp:// endpoints; required for a "
               "non-loopback one; empty: tcp:// is loopback only"),
      key_int("ipc.max_message_bytes", 1 << 20, 256, 64 << 20, "largest request frame").is_live(),
      key_int("ipc.max_json_depth", json_default_max_depth, 2, 512,
              "deepest nesting of arrays and objects in a request frame, an import line or a stored meta read back (deeper: bad_request)"),
  };
  for (auto& k : inflight_keys()) keys.push_back(std::move(k));
  for (auto& k : std::vector<key_spec>{
      key_int("ipc.sndhwm", 10000, 1, 10000000, "thoughts queued per subscriber before it loses some"),
      key_path("admin.socket", "", "admin Unix socket; empty: RUNTIME/admin.sock"),
      key_string("admin.group", "aikid", "group whose members may use the admin socket"),
      key_string("admin.metrics_http", "", "serve /metrics on this loopback HOST:PORT (empty: off)"),
      key_string("http.listen", "",
                 "HOST:PORT of the OpenAI-compatible API (docs/openai-api.md); empty: off. Needs http.keys_file; a "
                 "non-loopback HOST also needs http.tls_cert and http.tls_key"),
      key_path("http.keys_file", "",
               "bearer keys of the API's clients, one a line ('KEY [CLIENT-NAME]'), mode 0640 or stricter, group the "
               "clients' group; required when http.listen is set"),
      key_path("http.tls_cert", "", "TLS certificate (PEM) of the API; required for a non-loopback http.listen"),
      key_path("http.tls_key", "", "TLS private key (PEM) of http.tls_cert"),
      key_int("http.max_body_bytes", 1 << 20, 256, 64 << 20, "largest request body of the API (larger: 413)"),
      key_int("http.deadline_ms", 120000, 100, 86400000,
              "each API request's deadline (the wire's deadline_ms): past it the generation stops and the client "
              "gets 504"),
      key_int("http.threads", 16, 1, 1024, "API connections served at once (each waits on one thread)"),
      key_string("log.level", "info", "log level").one_of({"trace", "debug", "info", "warn", "error", "off"}).is_live(),
      key_bool("log.content", false, "log the user's text (off: redacted)").is_live(),
  })
    keys.push_back(std::move(k));
  return keys;
}

const config::schema& config::schema::get() {
  static const schema s = [] {
    std::vector<key_spec> all = daemon_config_keys();
    for (auto* part : {&perception_config_keys, &memory_config_keys, &embedding_config_keys,
                       &synthesis_config_keys, &inference_config_keys, &proactive_config_keys}) {
      auto keys = (*part)();
      all.insert(all.end(), keys.begin(), keys.end());
    }
    return schema(std::move(all));
  }();
  return s;
}

}  // namespace aikid
