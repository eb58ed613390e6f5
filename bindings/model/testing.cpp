#include "common.h"

#include "culturespa/model/testing.h"

namespace culturespa::bindings {

void register_testing(py::module_& m) {
  const TestCheckpointOptions d;
  py::class_<TestCheckpointOptions>(m, "TestCheckpointOptions")
      .def(py::init<>())
      .def_readwrite("architecture", &TestCheckpointOptions::architecture)
      .def_readwrite("vocab_size", &TestCheckpointOptions::vocab_size)
      .def_readwrite("hidden_size", &TestCheckpointOptions::hidden_size)
      .def_readwrite("intermediate_size", &TestCheckpointOptions::intermediate_size)
      .def_readwrite("num_hidden_layers", &TestCheckpointOptions::num_hidden_layers)
      .def_readwrite("num_attention_heads", &TestCheckpointOptions::num_attention_heads)
      .def_readwrite("num_key_value_heads", &TestCheckpointOptions::num_key_value_heads)
      .def_readwrite("head_dim", &TestCheckpointOptions::head_dim)
      .def_readwrite("max_position_embeddings", &TestCheckpointOptions::max_position_embeddings)
      .def_readwrite("rope_theta", &TestCheckpointOptions::rope_theta)
      .def_readwrite("rms_norm_eps", &TestCheckpointOptions::rms_norm_eps)
      .def_readwrite("rope_scaling", &TestCheckpointOptions::rope_scaling)
      .def_readwrite("rope_scaling_factor", &TestCheckpointOptions::rope_scaling_factor)
      .def_readwrite("tie_word_embeddings", &TestCheckpointOptions::tie_word_embeddings)
      .def_readwrite("attention_bias", &TestCheckpointOptions::attention_bias)
      .def_readwrite("sliding_window", &TestCheckpointOptions::sliding_window)
      .def_readwrite("dtype", &TestCheckpointOptions::dtype)
      .def_readwrite("shards", &TestCheckpointOptions::shards)
      .def_readwrite("seed", &TestCheckpointOptions::seed);
  m.def(
      "testing_checkpoint_write",
      [](const std::string& dir, const TestCheckpointOptions& options) {
        py::gil_scoped_release release;
        return culturespa::testing_checkpoint_write(dir, options);
      },
      py::arg("dir"), py::arg("options"));
}

}  // namespace culturespa::bindings
