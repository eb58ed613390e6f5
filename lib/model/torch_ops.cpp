// LibTorch building blocks shared by Model's LibTorch-operations path and the
// LoRA training forward (model_access.h).
#include <ATen/ATen.h>

#include "model_access.h"

namespace culturespa {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (x.scalar_type() == at::kFloat) {
    // Not in place: the training forward differentiates through it.
    const at::Tensor scale = x.pow(2).mean(-1, true).add(eps).rsqrt();
    return x * scale * weight;
  }
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor scale = xf.pow(2).mean(-1, true).add(eps).rsqrt();
  return (xf * scale).to(x.scalar_type()) * weight;
}

at::Tensor rope_apply(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return at::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
}

}  // namespace culturespa
