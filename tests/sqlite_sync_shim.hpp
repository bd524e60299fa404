// A SQLite VFS shim for durability tests: registered as the default VFS
// when the test starts (one per test executable), it forwards everything to
// the real default VFS and watches the syncs:
//   g_syncs, g_wal_syncs   every xSync / every xSync of a WAL file
//   g_wal_unsynced         a WAL write happened since the last WAL sync
//   g_sync_delay_us        each sync sleeps this long first (a slow disk)
//   g_sync_held            every sync waits while set (a disk that has not answered)
//   g_sync_fails           every sync fails (SQLITE_IOERR_FSYNC)
// Used by tests/memory/memory_durability_test.cpp and
// tests/synthesis/test_kg_crash.cpp. Link SQLite::SQLite3.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

namespace sync_shim {

inline sqlite3_vfs* g_real = nullptr;
inline sqlite3_vfs g_shim;
inline std::atomic<int> g_syncs{0}, g_wal_syncs{0};
inline std::atomic<bool> g_wal_unsynced{false};
inline std::atomic<int> g_sync_delay_us{0};
inline std::atomic<bool> g_sync_fails{false};
inline std::atomic<bool> g_sync_held{false};

struct shim_file {
  sqlite3_file base;
  sqlite3_file* real;
  bool wal;
};

inline sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<shim_file*>(f)->real; }
inline bool is_wal(sqlite3_file* f) { return reinterpret_cast<shim_file*>(f)->wal; }

inline int x_close(sqlite3_file* f) { return real_of(f)->pMethods ? real_of(f)->pMethods->xClose(real_of(f)) : SQLITE_OK; }
inline int x_read(sqlite3_file* f, void* b, int n, sqlite3_int64 o) { return real_of(f)->pMethods->xRead(real_of(f), b, n, o); }
inline int x_write(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  const int rc = real_of(f)->pMethods->xWrite(real_of(f), b, n, o);
  if (is_wal(f)) g_wal_unsynced = true;
  return rc;
}
inline int x_truncate(sqlite3_file* f, sqlite3_int64 s) { return real_of(f)->pMethods->xTruncate(real_of(f), s); }
inline int x_sync(sqlite3_file* f, int flags) {
  while (g_sync_held) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (int d = g_sync_delay_us.load()) std::this_thread::sleep_for(std::chrono::microseconds(d));
  if (g_sync_fails) return SQLITE_IOERR_FSYNC;
  const int rc = real_of(f)->pMethods->xSync(real_of(f), flags);
  ++g_syncs;
  if (rc == SQLITE_OK && is_wal(f)) {
    g_wal_unsynced = false;
    ++g_wal_syncs;
  }
  return rc;
}
inline int x_file_size(sqlite3_file* f, sqlite3_int64* s) { return real_of(f)->pMethods->xFileSize(real_of(f), s); }
inline int x_lock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xLock(real_of(f), l); }
inline int x_unlock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xUnlock(real_of(f), l); }
inline int x_check_reserved(sqlite3_file* f, int* r) { return real_of(f)->pMethods->xCheckReservedLock(real_of(f), r); }
inline int x_file_control(sqlite3_file* f, int op, void* a) { return real_of(f)->pMethods->xFileControl(real_of(f), op, a); }
inline int x_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
inline int x_device(sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }
inline int x_shm_map(sqlite3_file* f, int i, int sz, int ext, void volatile** p) {
  return real_of(f)->pMethods->xShmMap(real_of(f), i, sz, ext, p);
}
inline int x_shm_lock(sqlite3_file* f, int o, int n, int fl) { return real_of(f)->pMethods->xShmLock(real_of(f), o, n, fl); }
inline void x_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
inline int x_shm_unmap(sqlite3_file* f, int d) { return real_of(f)->pMethods->xShmUnmap(real_of(f), d); }
inline int x_fetch(sqlite3_file* f, sqlite3_int64 o, int n, void** p) { return real_of(f)->pMethods->xFetch(real_of(f), o, n, p); }
inline int x_unfetch(sqlite3_file* f, sqlite3_int64 o, void* p) { return real_of(f)->pMethods->xUnfetch(real_of(f), o, p); }

inline const sqlite3_io_methods k_methods = {3,              x_close,       x_read,     x_write,   x_truncate,
                                             x_sync,         x_file_size,   x_lock,     x_unlock,  x_check_reserved,
                                             x_file_control, x_sector_size, x_device,   x_shm_map, x_shm_lock,
                                             x_shm_barrier,  x_shm_unmap,   x_fetch,    x_unfetch};

inline int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out) {
  auto* sf = reinterpret_cast<shim_file*>(f);
  sf->real = reinterpret_cast<sqlite3_file*>(sf + 1);
  sf->wal = (flags & SQLITE_OPEN_WAL) != 0;
  std::memset(sf->real, 0, g_real->szOsFile);
  const int rc = g_real->xOpen(g_real, name, sf->real, flags, out);
  sf->base.pMethods = sf->real->pMethods ? &k_methods : nullptr;
  return rc;
}

struct shim_installer {
  shim_installer() {
    g_real = sqlite3_vfs_find(nullptr);
    g_shim = *g_real;
    g_shim.zName = "aikid-test-sync-shim";
    g_shim.szOsFile = static_cast<int>(sizeof(shim_file)) + g_real->szOsFile;
    g_shim.xOpen = x_open;
    g_shim.pNext = nullptr;
    sqlite3_vfs_register(&g_shim, 1);  // the default from now on
  }
};
inline shim_installer g_installer;

}  // namespace sync_shim
