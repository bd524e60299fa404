// aikid: the thinking core of AIKI. See docs/ and ../shared/design/ARCHITECTURE.md.
#include <CLI/CLI.hpp>

#include <sys/stat.h>
#include <zmq.h>

#include <fstream>
#include <iostream>

#include "daemon/daemon.hpp"
#include "ipc/protocol.hpp"

int main(int argc, char** argv) {
  CLI::App app{"aikid — AIKI's thinking core"};
  aikid::daemon_options opts;
  std::string config_file;
  bool check = false, print_default = false, print_doc = false, print_ops = false, version = false;
  app.add_option("-c,--config", config_file, "TOML configuration file (default: the embedded defaults)");
  app.add_option("--set", opts.overrides, "override a key: section.key=value (repeatable)");
  app.add_flag("--check-config", check, "load and validate the configuration, then exit");
  app.add_flag("--print-default-config", print_default, "print the default configuration and exit");
  app.add_flag("--print-config-doc", print_doc,
               "print every key as Markdown (docs/configuration.md is this) and exit");
  app.add_flag("--print-ops", print_ops,
               "print the table of wire ops (class, serving actor, request and reply fields) as JSON and exit");
  app.add_flag("--version", version, "print the version and exit");
  std::string keygen_dir;
  app.add_option("--curve-keygen", keygen_dir,
                 "write a CURVE key pair for non-loopback TCP endpoints to DIR/curve.key (secret, 0600) and "
                 "DIR/curve.pub (clients need it), then exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (version) {
    std::cout << "aikid " << AIKID_VERSION << "\n";
    return 0;
  }
  if (!keygen_dir.empty()) {  // a CURVE key pair: ipc.curve_secret_key_file names the secret one
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
      std::cerr << "--curve-keygen: this libzmq has no CURVE support\n";
      return 1;
    }
    const std::string key_path = keygen_dir + "/curve.key", pub_path = keygen_dir + "/curve.pub";
    ::umask(077);
    std::ofstream k(key_path), p(pub_path);
    k << sec << "\n";
    p << pub << "\n";
    if (!k.good() || !p.good()) {
      std::cerr << "--curve-keygen: cannot write " << key_path << " or " << pub_path << "\n";
      return 1;
    }
    ::chmod(pub_path.c_str(), 0644);
    std::cout << "secret key: " << key_path << " (set ipc.curve_secret_key_file to it)\npublic key: " << pub << "\n";
    return 0;
  }
  if (print_default) {
    std::cout << aikid::config::config_render_toml();
    return 0;
  }
  if (print_ops) {  // ipc/ops.hpp; tests/python/test_ops_table.py checks the bridge and docs against it
    std::cout << aikid::wire::ops_json().dump(2) << "\n";
    return 0;
  }
  if (print_doc) {
    std::cout << aikid::config::config_render_markdown();
    return 0;
  }
  if (!config_file.empty()) opts.config_file = config_file;
  auto cfg = aikid::daemon_load_config(opts);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 2;
  }
  if (check) {
    std::cout << "configuration ok: " << cfg->source.string() << "\n";
    return 0;
  }
  return aikid::daemon_run(opts, std::move(*cfg));
}
