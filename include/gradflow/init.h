// Weight initializers (biases always start at zero).
//
//   normal          N(0, 1)                    the traditional choice; shows why deep nets failed
//   glorot_normal   N(0, 1/fan_avg)            Glorot & Bengio 2010, fan_avg = (fan_in+fan_out)/2
//   glorot_uniform  U(-r, r), r = √(3/fan_avg)
//   lecun_normal    N(0, 1/fan_in)             LeCun 1998; the pairing for SELU
//   lecun_uniform   U(-r, r), r = √(3/fan_in)
//   he_normal       N(0, 2/fan_in)             He et al. 2015; the pairing for the ReLU family
//   he_uniform      U(-r, r), r = √(6/fan_in)
//
// The uniform variants have the same variance as their normal twins (Var U(-r,r) = r²/3).
#pragma once

#include <string>
#include <string_view>

#include "gradflow/rng.h"
#include "gradflow/tensor.h"

namespace gradflow {

enum class Init {
  Default,  // resolved from the following activation: He (ReLU family), LeCun (SELU), else Glorot
  Normal,
  GlorotNormal,
  GlorotUniform,
  LeCunNormal,
  LeCunUniform,
  HeNormal,
  HeUniform,
};

// Fill w ([fan_out, fan_in], PyTorch's Linear layout) from the initializer's distribution.
void init_weights(Tensor& w, Init init, Rng& rng);
// The variance the initializer targets for a [fan_out, fan_in] matrix.
double init_variance(Init init, std::size_t fan_in, std::size_t fan_out);

// "he_normal" etc.; parse_init also accepts Keras' "glorot_*"/"he_*" and PyTorch's
// "xavier_*"/"kaiming_*" spellings and throws std::invalid_argument listing the choices.
std::string_view to_string(Init init);
Init parse_init(std::string_view name);

}  // namespace gradflow
