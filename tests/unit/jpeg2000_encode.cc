#include "tests/unit/jpeg2000_encode.h"

#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace tributary::testing {
namespace {

struct Sink {
  std::string bytes;
  std::size_t position = 0;
};

OPJ_SIZE_T Write(void* buffer, OPJ_SIZE_T size, void* user) {
  auto* sink = static_cast<Sink*>(user);
  if (sink->bytes.size() < sink->position + size) sink->bytes.resize(sink->position + size);
  std::memcpy(sink->bytes.data() + sink->position, buffer, size);
  sink->position += size;
  return size;
}

OPJ_OFF_T Skip(OPJ_OFF_T size, void* user) {
  auto* sink = static_cast<Sink*>(user);
  sink->position += static_cast<std::size_t>(size);
  if (sink->bytes.size() < sink->position) sink->bytes.resize(sink->position);
  return size;
}

OPJ_BOOL Seek(OPJ_OFF_T position, void* user) {
  auto* sink = static_cast<Sink*>(user);
  sink->position = static_cast<std::size_t>(position);
  if (sink->bytes.size() < sink->position) sink->bytes.resize(sink->position);
  return OPJ_TRUE;
}

void Quiet(const char*, void*) {}

}  // namespace

std::string EncodeJpeg2000(const std::vector<int>& samples, unsigned rows, unsigned columns,
                           bool is_signed, unsigned precision) {
  if (samples.size() != std::size_t{rows} * columns) return {};
  opj_cparameters_t parameters;
  opj_set_default_encoder_parameters(&parameters);
  parameters.tcp_numlayers = 1;
  parameters.tcp_rates[0] = 0;  // lossless
  parameters.cp_disto_alloc = 1;
  parameters.irreversible = 0;
  parameters.numresolution = 1;  // small test images: one resolution level fits any size
  opj_image_cmptparm_t component{};
  component.dx = component.dy = 1;
  component.w = columns;
  component.h = rows;
  component.prec = precision;
  component.sgnd = is_signed ? 1 : 0;
  std::unique_ptr<opj_image_t, void (*)(opj_image_t*)> image(
      opj_image_create(1, &component, OPJ_CLRSPC_GRAY), opj_image_destroy);
  if (!image) return {};
  image->x0 = image->y0 = 0;
  image->x1 = columns;
  image->y1 = rows;
  std::copy(samples.begin(), samples.end(), image->comps[0].data);
  std::unique_ptr<opj_codec_t, void (*)(opj_codec_t*)> codec(opj_create_compress(OPJ_CODEC_J2K),
                                                             opj_destroy_codec);
  opj_set_info_handler(codec.get(), Quiet, nullptr);
  opj_set_warning_handler(codec.get(), Quiet, nullptr);
  opj_set_error_handler(codec.get(), Quiet, nullptr);
  if (!opj_setup_encoder(codec.get(), &parameters, image.get())) return {};
  Sink sink;
  std::unique_ptr<opj_stream_t, void (*)(opj_stream_t*)> stream(
      opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_FALSE), opj_stream_destroy);
  opj_stream_set_user_data(stream.get(), &sink, nullptr);
  opj_stream_set_write_function(stream.get(), Write);
  opj_stream_set_skip_function(stream.get(), Skip);
  opj_stream_set_seek_function(stream.get(), Seek);
  if (!opj_start_compress(codec.get(), image.get(), stream.get()) ||
      !opj_encode(codec.get(), stream.get()) || !opj_end_compress(codec.get(), stream.get())) {
    return {};
  }
  return sink.bytes;
}

}  // namespace tributary::testing
