// ipc/: everything that touches a socket.
//
// Table of contents
//   endpoint_*       endpoint checks: in use? loopback? ipc path of an endpoint
//   ingress          ROUTER socket on its own I/O thread: requests in, replies out,
//                    admission control (busy), deadlines, max message size
//   publisher        PUB socket on its own I/O thread: topic-framed thoughts with
//                    boot_id and per-topic seq; never blocks
//   admin_server     the admin Unix stream socket: one text command a line, one
//                    JSON reply a line; peers checked with SO_PEERCRED
//   metrics_http     Prometheus text over HTTP on a loopback port (cpp-httplib)
//   openai_http      the OpenAI-compatible API (cpp-httplib, TLS off loopback):
//                    bearer keys, chat/completions/embeddings/models turned into
//                    the wire's generate/embed/model.info requests
// The wire format itself is in ipc/protocol.hpp; queues from actors to the
// I/O threads in ipc/outbox.hpp.
#pragma once

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "common/sinks.hpp"
#include "ipc/protocol.hpp"

namespace aikid::ipc {

// --- endpoints ---------------------------------------------------------------

/// For "ipc://PATH": fails (errc::unavailable) if a live process accepts
/// connections on PATH ("already in use by another process"); a stale socket
/// file is fine; an abstract "ipc://@NAME" is refused (errc::bad_request: it
/// has no file, so no mode or group keeps other users out). For
/// "tcp://HOST:PORT": fails (errc::bad_request) if HOST is not a loopback
/// address (127/8, localhost, [::1]) and `curve` is false (CURVE is required
/// for anything else). Other transports: errc::bad_request.
expected<void> endpoint_check(const std::string& endpoint, bool curve = false);

/// The filesystem path of an ipc:// endpoint, "" for other transports.
std::string endpoint_ipc_path(const std::string& endpoint);

/// Checks the endpoint (endpoint_check), makes a socket of `type` with
/// linger 0 and the options `configure` sets, binds it, and gives an ipc://
/// socket file `file_mode`. A tcp:// endpoint with a `curve_secret_key` (Z85,
/// 40 characters) is a CURVE server: only clients that know its public key
/// can talk to it, encrypted. Fails (errc::unavailable, or endpoint_check's
/// error) naming the endpoint and the cause.
expected<zmq::socket_t> endpoint_bind(zmq::context_t& ctx, zmq::socket_type type, const std::string& endpoint,
                                      int file_mode, const std::string& curve_secret_key,
                                      const std::function<void(zmq::socket_t&)>& configure);

/// Reads a CURVE secret key file (one Z85 key of 40 characters, as written by
/// `aikid --curve-keygen`). Fails (errc::bad_request) naming the file when it
/// cannot be read, holds anything else, or is readable by group or others.
expected<std::string> curve_key_read(const std::string& path);

// --- ingress -------------------------------------------------------------------

struct ingress_options {
  std::string endpoint;
  std::size_t max_message_bytes = 1 << 20;
  /// In-flight limit per wire::op_class (indexed by the enum's value).
  wire::class_limits max_inflight = wire::op_class_default_limits();
  int file_mode = 0660;  // for ipc:// endpoints
  nlohmann::json ping_fields = nlohmann::json::object();  // merged into every pong (version, boot_id)
  std::string curve_secret_key;  // Z85; "" = no CURVE (tcp:// then loopback only)
  int max_json_depth = json_default_max_depth;  // deeper frames: bad_request (common/json.hpp)
};

/// Called on the ingress I/O thread with each admitted request. It must not
/// block (it sends a message to an actor). The request's reply comes back
/// through reply_ok/reply_error with the same ticket.
using dispatch_fn = std::function<void(std::uint64_t ticket, wire::request&& req)>;
/// Called on the I/O thread when an admitted request passes its deadline (the
/// client has already been answered `deadline`).
using expire_fn = std::function<void(std::uint64_t ticket, const std::string& request_id)>;

class ingress final : public reply_sink {
 public:
  /// Binds and starts the I/O thread. Fails (errc::unavailable) when the
  /// endpoint is in use or cannot be bound, naming the endpoint and the cause.
  static expected<std::unique_ptr<ingress>> start(zmq::context_t& ctx, ingress_options opts, dispatch_fn dispatch,
                                                  expire_fn expire);
  ~ingress() override;

  void reply_ok(std::uint64_t ticket, nlohmann::json fields) override;
  void reply_error(std::uint64_t ticket, error e) override;

  /// From now on new requests are answered `unavailable` ("shutting down").
  void stop_accepting();
  /// Requests admitted and not yet answered.
  int in_flight() const;
  /// Live limits: max message size and per-class in-flight limits.
  void set_limits(std::size_t max_message_bytes, wire::class_limits max_inflight);
  /// Counters and latencies, collected on the I/O thread (a snapshot).
  nlohmann::json stats() const;
  /// Stops the I/O thread and closes the socket.
  void stop();

  struct impl;

 private:
  explicit ingress(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

// --- publisher -----------------------------------------------------------------

struct publisher_options {
  std::string endpoint;
  int sndhwm = 10000;   // per subscriber; past it that subscriber loses messages
  std::string boot_id;
  int file_mode = 0660;
  std::string curve_secret_key;  // Z85; "" = no CURVE (tcp:// then loopback only)
};

class publisher final : public thought_sink {
 public:
  /// Binds and starts the I/O thread; errc::unavailable when the endpoint is
  /// in use or cannot be bound.
  static expected<std::unique_ptr<publisher>> start(zmq::context_t& ctx, publisher_options opts);
  ~publisher() override;
  void publish(std::string topic, nlohmann::json body) override;
  nlohmann::json stats() const;
  void stop();

  struct impl;

 private:
  explicit publisher(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

// --- admin socket ----------------------------------------------------------------

struct admin_options {
  std::string path;
  std::string group = "aikid";  // members (and root, and our own uid) may connect
  int file_mode = 0660;
  std::size_t max_line = 64 * 1024;
};

/// Handles one command line; returns one JSON object (the reply line). Runs
/// on the admin thread; may block briefly (it asks actors, with timeouts).
using admin_handler = std::function<nlohmann::json(const std::string& line)>;

class admin_server {
 public:
  /// Binds the socket (mode 0660, group `group` if it exists) and starts its
  /// thread. Fails (errc::unavailable) if the path is in use by a live process
  /// or cannot be bound.
  static expected<std::unique_ptr<admin_server>> start(admin_options opts, admin_handler handler);
  ~admin_server();
  void stop();

  struct impl;

 private:
  explicit admin_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

/// May a peer with these credentials use the admin socket? Our own uid, root,
/// or a member (primary or supplementary) of `group`.
bool admin_peer_allowed(unsigned uid, unsigned gid, int pid, const std::string& group);

// --- metrics over HTTP ---------------------------------------------------------------

class metrics_http {
 public:
  /// Serves GET /metrics on a loopback "HOST:PORT" with the text `render`
  /// returns. Fails (errc::bad_request) for a non-loopback host, errc::unavailable
  /// if the port cannot be bound.
  static expected<std::unique_ptr<metrics_http>> start(const std::string& listen,
                                                       std::function<std::string()> render);
  ~metrics_http();
  void stop();

  struct impl;

 private:
  explicit metrics_http(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

// --- the OpenAI-compatible HTTP API ---------------------------------------------------

struct openai_http_options {
  std::string listen;     // HOST:PORT
  std::string keys_file;  // bearer keys, one a line (openai_keys_read)
  std::string tls_cert, tls_key;  // PEM files; required unless HOST is loopback
  std::size_t max_body_bytes = 1 << 20;
  std::int64_t deadline_ms = 120000;  // each request's deadline (the wire's deadline_ms)
  int threads = 16;                   // connections served at once
  int max_json_depth = json_default_max_depth;
};

/// One bearer key: the secret and the client identity it stands for (logs, limits).
struct openai_key {
  std::string key;
  std::string client;
};

/// Reads a keys file: one key a line, optionally followed by whitespace and
/// a client name (default "key-LINE"); blank lines and '#' comments are
/// skipped. Fails (errc::bad_request) naming the file when it cannot be read,
/// is writable by its group or accessible by others (mode 0640 at most),
/// holds no key, a key shorter than 16 characters, or a key twice.
expected<std::vector<openai_key>> openai_keys_read(const std::string& path);

/// What start() checks before it binds: HOST:PORT, the keys file, TLS given
/// as a pair, and TLS for a non-loopback host. The daemon calls it before it
/// loads the models, so a bad setting fails fast.
expected<void> openai_http_check(const openai_http_options& opts);

/// The models the API serves, as the daemon knows them now:
/// [{"id", "kind": "chat"|"embedding", "aliases": [...]}].
using models_fn = std::function<nlohmann::json()>;
/// The in-flight limits per wire::op_class in force now (ipc.max_inflight_*).
using limits_fn = std::function<wire::class_limits()>;

class openai_http final : public reply_sink {
 public:
  /// Reads the keys, binds HOST:PORT (TLS when a certificate is given; a
  /// non-loopback host without one is refused) and starts serving. Requests
  /// go to the actors through `dispatch` as wire requests (generate, embed,
  /// cancel) on tickets for which openai_http_ticket() is true. Fails
  /// (errc::bad_request / unavailable) naming the key and the cause.
  static expected<std::unique_ptr<openai_http>> start(openai_http_options opts, dispatch_fn dispatch,
                                                      limits_fn limits, models_fn models);
  ~openai_http() override;

  void reply_ok(std::uint64_t ticket, nlohmann::json fields) override;
  void reply_error(std::uint64_t ticket, error e) override;
  /// A thought.token body: true when it belongs to one of this server's
  /// streaming requests (then it is streamed to that client, not published).
  bool take_token(const nlohmann::json& body);

  /// From now on new requests are answered 503.
  void stop_accepting();
  int in_flight() const;
  nlohmann::json stats() const;
  void stop();

  struct impl;

 private:
  explicit openai_http(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

/// Tickets of requests made by openai_http (the daemon routes their replies to it).
constexpr std::uint64_t openai_http_ticket_bit = std::uint64_t{1} << 62;
inline bool openai_http_ticket(std::uint64_t t) { return (t & openai_http_ticket_bit) != 0; }

}  // namespace aikid::ipc
