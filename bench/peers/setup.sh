#!/usr/bin/env bash
# Creates the peers' virtualenv (.venv-peers) used ONLY to make fixtures and run
# benchmarks: sentence-transformers (CPU torch), llama-cpp-python (compiles
# llama.cpp; its [server] extra: llama_cpp.server, the OpenAI-compatible peer of
# bench/http), the gguf package, faiss-cpu, hnswlib, qdrant-client, numpy, mem0ai
# (the peer of aiki_bridge.Memory: bridge/python/tests/mem0_diff.py and the
# importer's fixture) and the old stack's template/graph libraries. CI never builds it. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.venv-peers"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
stamp="$venv/.installed-$(sha256sum "$0" | cut -c1-12)"
[ -f "$stamp" ] && exit 0
"$venv/bin/pip" install -q --upgrade pip
# CMAKE_ARGS: llama.cpp built for this CPU, as a user of llama-cpp-python gets it.
CMAKE_ARGS="-DGGML_NATIVE=ON" "$venv/bin/pip" install -q \
  numpy torch sentence-transformers transformers 'llama-cpp-python[server]' gguf \
  faiss-cpu hnswlib qdrant-client mem0ai chevron jinja2 networkx pyzmq pytest
touch "$stamp"
