// Distributed and the default process group (culturespa/model/distributed.h).
#include <torch/python.h>

#include "common.h"
#include "culturespa/model/distributed.h"

namespace culturespa::bindings {

void register_distributed(py::module_& m) {
  py::class_<Distributed, std::shared_ptr<Distributed>>(m, "Distributed", R"pbdoc(
A process group through PyTorch's c10d (TCPStore + ProcessGroupGloo, NCCL for
CUDA tensors where the build has it), made by distributed_init(); see
docs/distributed.md. Every rank calls its collective methods in the same order.
)pbdoc")
      .def_property_readonly("rank", &Distributed::rank)
      .def_property_readonly("world_size", &Distributed::world_size)
      .def_property_readonly("local_rank", &Distributed::local_rank)
      .def_property_readonly("backend", &Distributed::backend)
      .def_property_readonly("config_hash", &Distributed::config_hash,
                             "16 hex digits of the config text the ranks compared at start.")
      .def("owns", &Distributed::owns, py::arg("index"), "Whether work item `index` is this rank's (index % world_size == rank).")
      .def("barrier", &Distributed::barrier, py::arg("what") = "barrier", py::call_guard<py::gil_scoped_release>(),
           "Waits for every rank. RuntimeError naming `what` when a rank died or the timeout passed.")
      .def("all_reduce_sum", [](Distributed& d, std::vector<at::Tensor> tensors) {
             py::gil_scoped_release release;
             d.all_reduce_sum(tensors);
           }, py::arg("tensors"), "Sums the tensors over the ranks, in place.")
      .def("all_gather_text", &Distributed::all_gather_text, py::arg("key"), py::arg("text"),
           py::call_guard<py::gil_scoped_release>(), "Every rank's `text`, in rank order.")
      .def("require_same", &Distributed::require_same, py::arg("what"), py::arg("text"),
           py::call_guard<py::gil_scoped_release>(),
           "ValueError on every rank when some rank's `text` differs from rank 0's, naming `what`.")
      .def("__repr__", [](const Distributed& d) {
        return "Distributed(rank=" + std::to_string(d.rank()) + ", world_size=" + std::to_string(d.world_size()) +
               ", backend='" + d.backend() + "')";
      });

  const DistributedOptions defaults;
  m.def("distributed_init",
        [](int rank, int world_size, int local_rank, const std::string& master_addr, int master_port,
           const std::string& backend, double join_timeout, double timeout, const std::string& config,
           bool store_hosted, const std::string& name) {
          DistributedOptions o;
          o.rank = rank;
          o.world_size = world_size;
          o.local_rank = local_rank;
          o.master_addr = master_addr;
          o.master_port = master_port;
          o.backend = backend;
          o.join_timeout = join_timeout;
          o.timeout = timeout;
          o.config = config;
          o.store_hosted = store_hosted;
          o.name = name;
          py::gil_scoped_release release;
          return distributed_init(o);
        },
        py::kw_only(), py::arg("rank") = defaults.rank, py::arg("world_size") = defaults.world_size,
        py::arg("local_rank") = defaults.local_rank, py::arg("master_addr") = defaults.master_addr,
        py::arg("master_port") = defaults.master_port, py::arg("backend") = defaults.backend,
        py::arg("join_timeout") = defaults.join_timeout, py::arg("timeout") = defaults.timeout,
        py::arg("config") = defaults.config, py::arg("store_hosted") = defaults.store_hosted,
        py::arg("name") = defaults.name,
        R"pbdoc(
Makes the process's default group from the environment (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT; -1/""/0 arguments read them) and returns
it; None, and no group, for a world size of 1. The sharded stages
(QuestionAnswerer.answer, SurveyEvaluator.evaluate, LoraTrainer.train) split
their work by it. `config` is compared across ranks (by hash) at start;
`join_timeout` bounds the wait for every rank to join, `timeout` one
collective. ValueError for WORLD_SIZE without MASTER_ADDR, different configs,
or backend "nccl" without NCCL; RuntimeError when a rank does not join.
culturespa.distributed_init (the package's) first reuses an initialised
torch.distributed; this is the C++ one.
)pbdoc");
  m.def("distributed_group", &distributed_group, "The default group, None in one process.");
  m.def("distributed_shutdown", &distributed_shutdown, py::arg("wait") = true,
        py::call_guard<py::gil_scoped_release>(),
        "Leaves the default group, after a last barrier when `wait` (so rank 0's store outlives every rank's use).");
  m.def("distributed_requested", &distributed_requested, "Whether WORLD_SIZE > 1 is set.");
  m.def("distributed_has_nccl", &distributed_has_nccl, "Whether this build has the nccl backend.");
}

}  // namespace culturespa::bindings
