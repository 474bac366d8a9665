// inflater.h: RAII owner of a zlib stream that inflates raw deflate data (private).
//
// ZIP's method 8 is a raw deflate stream (no zlib header), hence windowBits -15.
//
//   tpkg::Inflater inf;
//   auto step = inf.Inflate(input_chunk, output_buffer);
//   if (step.error) refuse(step.error);
//   consume(output_buffer.first(step.produced)); input_chunk = input_chunk.subspan(step.consumed);
//   if (step.ended) done();
//
// Thread safety: none; one thread owns an Inflater.
#pragma once

#include <zlib.h>

#include <span>

namespace tpkg {

class Inflater {
 public:
  struct Step {
    size_t consumed = 0;          // input bytes used
    size_t produced = 0;          // output bytes written
    bool ended = false;           // the deflate stream is complete
    const char* error = nullptr;  // zlib's reason when the data is invalid
  };

  Inflater();  // throws Error(kIo) when zlib cannot allocate its state
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates as much of `in` into `out` as fits. After `ended`, further
  // calls produce nothing; Reset() starts a new stream.
  Step Inflate(std::span<const char> in, std::span<char> out);
  void Reset();

 private:
  z_stream stream_{};
  bool ended_ = false;
};

}  // namespace tpkg
