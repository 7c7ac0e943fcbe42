#pragma once

#include <dcmtk/dcmdata/dcistrma.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace tributary::dicom {

// A DCMTK input stream over a whole Part 10 file held in memory, for DcmFileFormat::read.
//
// Unlike DcmInputBufferStream (built for network data that arrives in pieces) it can hand DCMTK a
// factory that re-reads from any position. With one, DCMTK does not load a value longer than the
// read limit while parsing: it skips it, checking that the declared length fits in the bytes that
// remain, and loads it on first access. Through DcmInputBufferStream it allocates every value at
// its declared length before reading it, so a 200-byte input declaring a 4 GiB value costs a 4 GiB
// allocation before DCMTK notices that the input ends (found by tests/fuzz/fuzz_deidentify).
//
// The Deflated Explicit VR Little Endian transfer syntax: when DCMTK asks for a compression filter,
// the rest of the input is inflated at once with DCMTK's own zlib filter, at most `max_inflated`
// bytes (more is an error), and the stream continues over the inflated bytes, so the same length
// check applies to deflated data sets.
//
// `bytes` must outlive the stream, and every DCMTK object read from it (their values may be loaded
// from `bytes` later).
std::unique_ptr<DcmInputStream> NewMemoryInputStream(std::string_view bytes,
                                                     std::size_t max_inflated);

// The same over a copy of the whole file at `path`, except that values skipped while parsing are
// loaded later from the file itself (DCMTK's file stream factory, at the same offset): `bytes` may
// be released as soon as parsing ends. (Values of a deflated data set still come from the inflated
// copy, which their factories keep.) Parsing a small file this way avoids the stdio calls DCMTK's
// file stream makes per element — about a fifth of the instructions of reading a 30 KiB header.
std::unique_ptr<DcmInputStream> NewFileImageInputStream(std::string_view bytes,
                                                        const std::string& path,
                                                        std::size_t max_inflated);

}  // namespace tributary::dicom
