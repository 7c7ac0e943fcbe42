#include "dicom/jpeg2000.h"

#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

namespace tributary::dicom {
namespace {

struct Reader {
  std::string_view bytes;
  std::size_t at = 0;
};

OPJ_SIZE_T Read(void* buffer, OPJ_SIZE_T size, void* user) {
  auto* reader = static_cast<Reader*>(user);
  if (reader->at >= reader->bytes.size()) return static_cast<OPJ_SIZE_T>(-1);
  std::size_t n = std::min<std::size_t>(size, reader->bytes.size() - reader->at);
  std::memcpy(buffer, reader->bytes.data() + reader->at, n);
  reader->at += n;
  return n;
}

OPJ_OFF_T Skip(OPJ_OFF_T size, void* user) {
  auto* reader = static_cast<Reader*>(user);
  if (size < 0) return -1;
  std::size_t n =
      std::min<std::size_t>(static_cast<std::size_t>(size), reader->bytes.size() - reader->at);
  reader->at += n;
  return static_cast<OPJ_OFF_T>(n);
}

OPJ_BOOL Seek(OPJ_OFF_T position, void* user) {
  auto* reader = static_cast<Reader*>(user);
  if (position < 0 || static_cast<std::size_t>(position) > reader->bytes.size()) return OPJ_FALSE;
  reader->at = static_cast<std::size_t>(position);
  return OPJ_TRUE;
}

void Quiet(const char*, void*) {}

}  // namespace

absl::Status DecodeJpeg2000(std::string_view encoded, unsigned rows, unsigned columns,
                            std::vector<std::int32_t>& values) {
  static constexpr unsigned char kJp2Signature[] = {0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20};
  bool jp2 = encoded.size() >= sizeof(kJp2Signature) &&
             std::memcmp(encoded.data(), kJp2Signature, sizeof(kJp2Signature)) == 0;
  std::unique_ptr<opj_codec_t, void (*)(opj_codec_t*)> codec(
      opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K), opj_destroy_codec);
  std::unique_ptr<opj_stream_t, void (*)(opj_stream_t*)> stream(opj_stream_default_create(OPJ_TRUE),
                                                                opj_stream_destroy);
  if (!codec || !stream) return absl::ResourceExhaustedError("cannot create an OpenJPEG decoder");
  opj_set_info_handler(codec.get(), Quiet, nullptr);
  opj_set_warning_handler(codec.get(), Quiet, nullptr);
  opj_set_error_handler(codec.get(), Quiet, nullptr);
  opj_dparameters_t parameters;
  opj_set_default_decoder_parameters(&parameters);
  if (!opj_setup_decoder(codec.get(), &parameters))
    return absl::InternalError("OpenJPEG setup failed");
  Reader reader{encoded, 0};
  opj_stream_set_user_data(stream.get(), &reader, nullptr);
  opj_stream_set_user_data_length(stream.get(), encoded.size());
  opj_stream_set_read_function(stream.get(), Read);
  opj_stream_set_skip_function(stream.get(), Skip);
  opj_stream_set_seek_function(stream.get(), Seek);
  opj_image_t* raw = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw)) {
    opj_image_destroy(raw);
    return absl::InvalidArgumentError("JPEG 2000: unreadable codestream header");
  }
  std::unique_ptr<opj_image_t, void (*)(opj_image_t*)> image(raw, opj_image_destroy);
  if (!opj_decode(codec.get(), stream.get(), image.get()) ||
      !opj_end_decompress(codec.get(), stream.get())) {
    return absl::InvalidArgumentError("JPEG 2000: the codestream does not decode");
  }
  if (image->numcomps != 1) {
    return absl::InvalidArgumentError("JPEG 2000: " + std::to_string(image->numcomps) +
                                      " components where one was expected");
  }
  const opj_image_comp_t& component = image->comps[0];
  if (component.w != columns || component.h != rows || component.data == nullptr) {
    return absl::InvalidArgumentError("JPEG 2000: frame of " + std::to_string(component.w) + "x" +
                                      std::to_string(component.h) + " where the header says " +
                                      std::to_string(columns) + "x" + std::to_string(rows));
  }
  values.assign(component.data, component.data + std::size_t{rows} * columns);
  return absl::OkStatus();
}

}  // namespace tributary::dicom
