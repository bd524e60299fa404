// SHA-256 of the weights, used once per load to name them (model_id).
// OpenSSL's libcrypto does the hashing.
#include <openssl/evp.h>

#include <cstdio>
#include <string>

#include "actors/embedding/bert.hpp"

namespace aikid::embedding {

std::string sha256_hex(const std::byte* data, std::size_t n) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data, n, md, &len, EVP_sha256(), nullptr) != 1) return {};
  std::string hex;
  hex.reserve(2 * len);
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

}  // namespace aikid::embedding
