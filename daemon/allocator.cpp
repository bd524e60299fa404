// Which malloc serves this process, for `stats` and the start-up log: the
// daemon links jemalloc (cmake/Deps.cmake says why); a sanitizer build runs on
// the sanitizer's allocator; anything else is glibc's.
#include <dlfcn.h>
#include <gnu/libc-version.h>

#include <string>

#include "daemon/daemon.hpp"

namespace aikid {

namespace {

std::string allocator_find() {
  if (dlsym(RTLD_DEFAULT, "__asan_init")) return "asan";
  if (dlsym(RTLD_DEFAULT, "__tsan_init")) return "tsan";
  using mallctl_fn = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
  if (auto* mallctl = reinterpret_cast<mallctl_fn>(dlsym(RTLD_DEFAULT, "mallctl"))) {
    const char* version = nullptr;
    std::size_t len = sizeof version;
    if (mallctl("version", &version, &len, nullptr, 0) == 0 && version) return std::string("jemalloc ") + version;
    return "jemalloc";
  }
  return std::string("glibc ") + gnu_get_libc_version();
}

}  // namespace

std::string allocator_name() {
  static const std::string name = allocator_find();  // fixed for the life of the process
  return name;
}

}  // namespace aikid
