#!/bin/sh
# Fills a seed corpus directory for fuzz_deidentify with the small DICOM test files of Debian's
# python3-pydicom (apt-get install python3-pydicom). No binary data is kept in this repository.
#
# Usage: tests/fuzz/make_seed_corpus.sh CORPUS_DIR [MAX_BYTES]
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 CORPUS_DIR [MAX_BYTES (default 204800)]" >&2
  exit 2
fi
corpus=$1
max_bytes=${2:-204800}
source_dir=${PYDICOM_TEST_FILES:-/usr/lib/python3/dist-packages/pydicom/data/test_files}

if ! ls "$source_dir"/*.dcm >/dev/null 2>&1; then
  echo "no DICOM files in $source_dir: apt-get install python3-pydicom" \
    "(or set PYDICOM_TEST_FILES)" >&2
  exit 1
fi

mkdir -p "$corpus"
copied=0
skipped=0
for file in "$source_dir"/*.dcm; do
  size=$(wc -c <"$file")
  if [ "$size" -gt "$max_bytes" ]; then
    skipped=$((skipped + 1))
    continue
  fi
  cp "$file" "$corpus/seed-$(basename "$file")"
  copied=$((copied + 1))
done
echo "copied $copied seed files into $corpus (skipped $skipped over $max_bytes bytes)"
