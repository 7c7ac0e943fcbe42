#include "dicom/memory_input_stream.h"

#include <dcmtk/dcmdata/dcerror.h>
#include <dcmtk/dcmdata/dcistrmf.h>
#include <dcmtk/dcmdata/dcistrmz.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace tributary::dicom {
namespace {

// Reads from `bytes`, which `owner` keeps alive when the bytes are not the caller's (inflated
// data).
class MemoryProducer : public DcmProducer {
 public:
  MemoryProducer(std::shared_ptr<const std::string> owner, std::string_view bytes,
                 std::size_t position)
      : owner_(std::move(owner)), bytes_(bytes), position_(std::min(position, bytes.size())) {}

  OFBool good() const override { return OFTrue; }
  OFCondition status() const override { return EC_Normal; }
  OFBool eos() override { return position_ == bytes_.size(); }
  offile_off_t avail() override { return static_cast<offile_off_t>(bytes_.size() - position_); }

  offile_off_t read(void* buf, offile_off_t buflen) override {
    std::size_t n = Available(buflen);
    if (n > 0) std::memcpy(buf, bytes_.data() + position_, n);
    position_ += n;
    return static_cast<offile_off_t>(n);
  }

  offile_off_t skip(offile_off_t skiplen) override {
    std::size_t n = Available(skiplen);
    position_ += n;
    return static_cast<offile_off_t>(n);
  }

  void putback(offile_off_t num) override {
    if (num > 0) position_ -= std::min(static_cast<std::size_t>(num), position_);
  }

  void Reset(std::shared_ptr<const std::string> owner, std::string_view bytes) {
    owner_ = std::move(owner);
    bytes_ = bytes;
    position_ = 0;
  }

  const std::shared_ptr<const std::string>& owner() const { return owner_; }
  std::string_view bytes() const { return bytes_; }
  std::size_t position() const { return position_; }

 private:
  std::size_t Available(offile_off_t wanted) const {
    if (wanted <= 0) return 0;
    return std::min(static_cast<std::size_t>(wanted), bytes_.size() - position_);
  }

  std::shared_ptr<const std::string> owner_;
  std::string_view bytes_;
  std::size_t position_;
};

// Base-from-member: DcmInputStream's constructor takes the producer, which must exist first.
struct ProducerHolder {
  MemoryProducer producer;
};

class MemoryInputStream : private ProducerHolder, public DcmInputStream {
 public:
  MemoryInputStream(std::shared_ptr<const std::string> owner, std::string_view bytes,
                    std::size_t position, std::size_t max_inflated, std::string file = {})
      : ProducerHolder{MemoryProducer(std::move(owner), bytes, position)},
        DcmInputStream(&static_cast<ProducerHolder&>(*this).producer),
        max_inflated_(max_inflated),
        file_(std::move(file)) {}

  DcmInputStreamFactory* newFactory() const override;

  OFCondition installCompressionFilter(E_StreamCompression filter_type) override {
#ifdef WITH_ZLIB
    if (filter_type != ESC_zlib) return DcmInputStream::installCompressionFilter(filter_type);
    if (inflated_) return EC_DoubleCompressionFilters;
    MemoryProducer compressed(producer.owner(), producer.bytes(), producer.position());
    DcmZLibInputFilter zlib;
    zlib.append(compressed);
    auto inflated = std::make_shared<std::string>();
    std::string chunk(1 << 16, '\0');
    while (zlib.good() && !zlib.eos()) {
      offile_off_t n = zlib.read(chunk.data(), static_cast<offile_off_t>(chunk.size()));
      if (n <= 0) break;
      if (inflated->size() + static_cast<std::size_t>(n) > max_inflated_) {
        return makeOFCondition(OFM_dcmdata, 0xF01, OF_error,
                               "deflated data set inflates beyond the size limit");
      }
      inflated->append(chunk.data(), static_cast<std::size_t>(n));
    }
    if (zlib.status().bad()) return zlib.status();
    std::string_view view(*inflated);
    producer.Reset(std::move(inflated), view);
    inflated_ = true;
    return EC_Normal;
#else
    return DcmInputStream::installCompressionFilter(filter_type);
#endif
  }

 private:
  std::size_t max_inflated_;
  bool inflated_ = false;
  std::string file_;  // the file `bytes` were read from, if any (see NewFileImageInputStream)
};

// Re-creates the stream at one position: how DCMTK loads a value it skipped while parsing.
class MemoryStreamFactory : public DcmInputStreamFactory {
 public:
  MemoryStreamFactory(std::shared_ptr<const std::string> owner, std::string_view bytes,
                      std::size_t position)
      : owner_(std::move(owner)), bytes_(bytes), position_(position) {}

  DcmInputStream* create() const override {
    return new MemoryInputStream(owner_, bytes_, position_, 0);
  }
  DcmInputStreamFactory* clone() const override { return new MemoryStreamFactory(*this); }
  // DCMTK's enumeration names only its own factories; nothing in dcmdata acts on the answer.
  DcmInputStreamFactoryType ident() const override { return DFT_DcmInputFileStreamFactory; }

 private:
  std::shared_ptr<const std::string> owner_;
  std::string_view bytes_;
  std::size_t position_;
};

DcmInputStreamFactory* MemoryInputStream::newFactory() const {
  // Only without DCMTK's own filter (never installed here for zlib): positions are in `producer`.
  if (currentProducer() != &producer) return nullptr;
  // Positions in a file's own bytes are offsets in the file: DCMTK's file factory reopens it there.
  if (!file_.empty() && !inflated_)
    return new DcmInputFileStreamFactory(OFFilename(file_.c_str()), producer.position());
  return new MemoryStreamFactory(producer.owner(), producer.bytes(), producer.position());
}

}  // namespace

std::unique_ptr<DcmInputStream> NewMemoryInputStream(std::string_view bytes,
                                                     std::size_t max_inflated) {
  return std::make_unique<MemoryInputStream>(nullptr, bytes, 0, max_inflated);
}

std::unique_ptr<DcmInputStream> NewFileImageInputStream(std::string_view bytes,
                                                        const std::string& path,
                                                        std::size_t max_inflated) {
  return std::make_unique<MemoryInputStream>(nullptr, bytes, 0, max_inflated, path);
}

}  // namespace tributary::dicom
