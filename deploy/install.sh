#!/usr/bin/env bash
# Installs everything Tributary needs on Debian 12 and builds it into build/.
# Run as root from anywhere: sudo deploy/install.sh
# Binaries afterwards: build/bin/tributary (and, with the service, build/bin/tributary-server).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ "$(id -u)" -ne 0 ]; then
  echo "deploy/install.sh: run as root (it installs Debian packages): sudo $0" >&2
  exit 1
fi

packages=(
  # toolchain
  build-essential cmake pkg-config git clang-format
  # TLS certificates for the tests (tests/e2e/security_e2e_test.cc makes its own CAs) and operators
  openssl
  # libraries the modules link
  libdcmtk-dev libssl-dev libabsl-dev libcli11-dev nlohmann-json3-dev
  # the service: gRPC API, PostgreSQL through libpqxx (and the server for the embedded cluster), logging
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libpqxx-dev postgresql
  libspdlog-dev
  # metrics: prometheus-cpp (services/metrics.cc); promtool, which lints a scrape in the e2e tests
  # (the package also brings a Prometheus server, enabled on port 9090 where systemd runs)
  prometheus-cpp-dev prometheus
  # volume reconstruction and NIfTI writing (normalize/); JPEG 2000 decoding; .nii.gz deflate
  libinsighttoolkit5-dev libopenjp2-7-dev zlib1g-dev
  # the cohorts' intensity-distribution pictures (normalize/distribution_plot.cc): Cairo, and the
  # font their text is set in
  libcairo2-dev fonts-dejavu-core
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev dcmtk python3-pydicom python3-numpy
  # conformance read-back (nibabel, scipy) and the convert benchmark's peer tool; Pillow reads the QC
  # pictures back
  python3-nibabel python3-scipy dcm2niix python3-pil
  # cohort exports read back: PROV-JSON (python3-prov); the BIDS validator comes from npm below
  python3-prov
  # the Python client (clients/python) on Debian's /usr/bin/python3
  python3-grpcio python3-protobuf
  # the ingest benchmark's peer (bench/ingest_bench.py starts its own throwaway instance)
  orthanc
  # the S3 API the object-storage tests start on loopback (tests/support/swift_s3_server.h):
  # OpenStack Swift 2.30, whose s3api and tempauth middleware check AWS SigV4 signatures; curl
  # signs the tests' own requests (where systemd runs, the packages also enable Debian's own Swift
  # services on /etc/swift, the proxy on port 8080; the tests use none of them)
  swift swift-proxy swift-account swift-container swift-object python3-swift curl
  # fuzzing (tests/fuzz, built separately with clang; see docs/FUZZING.md)
  clang libclang-rt-14-dev
  # the deploy/ checks (tests/deploy): systemd-analyze and systemd-sysusers on the units, PyYAML
  # for the compose file and manifests, Node.js for the Kubernetes schema validation
  systemd python3-yaml nodejs
)
# Debian's npm conflicts with the nodejs packages that bundle their own npm (NodeSource's): add it
# only where no npm is installed yet.
if ! command -v npm > /dev/null; then
  packages+=(npm)
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${packages[@]}"

# kubernetes-models and yaml (versions pinned by deploy/package-lock.json) into deploy/node_modules,
# which git ignores; tests/deploy/validate_manifests.mjs uses them.
npm ci --prefix "$root/deploy" --no-audit --no-fund
# The official BIDS validator 1.15 (pinned by tests/tools/package-lock.json) into
# tests/tools/node_modules: the cohort e2e test runs it on an exported dataset, offline.
npm ci --prefix "$root/tests/tools" --no-audit --no-fund

# TRIBUTARY_CMAKE_ARGS: extra arguments for the build's cmake, split at spaces (deploy/Containerfile
# passes -DTRIBUTARY_BUILD_TESTS=OFF -DTRIBUTARY_BUILD_BENCH=OFF).
# shellcheck disable=SC2086
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${TRIBUTARY_CMAKE_ARGS:-}
cmake --build "$root/build" -j"$(nproc)"
echo "built: $root/build/bin/tributary (+ tributary-client) and $root/build/bin/tributary-server"

# The same code with AddressSanitizer and UndefinedBehaviorSanitizer, for the tests only
# (tests/run.sh runs the unit, integration and e2e tiers on it too). TRIBUTARY_NO_SANITIZE_BUILD=1
# skips it.
if [ "${TRIBUTARY_NO_SANITIZE_BUILD:-0}" != 1 ]; then
  cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTRIBUTARY_SANITIZE=ON -DTRIBUTARY_BUILD_BENCH=OFF
  cmake --build "$root/build-asan" -j"$(nproc)"
  echo "built with sanitizers: $root/build-asan"
fi
