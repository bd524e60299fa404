// Conversation turns: the last N per user, kept in memory only.
#include <deque>
#include <unordered_map>

#include "actors/synthesis/synthesis.hpp"

namespace aikid::synthesis {

struct turns {
  std::size_t max_per_user = 8;
  std::unordered_map<std::string, std::deque<turn>> by_user;
};

void turns_closer::operator()(turns* t) const noexcept { delete t; }

turns_ptr turns_new(std::size_t max_per_user) {
  turns_ptr t(new turns);
  t->max_per_user = max_per_user;
  return t;
}

void turns_add(turns& t, std::string_view user, std::string_view role, std::string_view text,
               std::int64_t ts_ms) {
  if (t.max_per_user == 0) return;
  auto& q = t.by_user[std::string(user)];
  q.push_back(turn{std::string(role), std::string(text), ts_ms});
  while (q.size() > t.max_per_user) q.pop_front();
}

std::vector<turn> turns_recent(const turns& t, std::string_view user) {
  auto it = t.by_user.find(std::string(user));
  if (it == t.by_user.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void turns_set_max(turns& t, std::size_t n) {
  t.max_per_user = n;
  for (auto it = t.by_user.begin(); it != t.by_user.end();) {
    auto& q = it->second;
    while (q.size() > n) q.pop_front();
    if (q.empty()) it = t.by_user.erase(it);
    else ++it;
  }
}

std::size_t turns_max(const turns& t) { return t.max_per_user; }

}  // namespace aikid::synthesis
