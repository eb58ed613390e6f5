#include "common.h"

#include "culturespa/text/sentencepiece.h"

namespace culturespa::bindings {

void register_sentencepiece(py::module_& m) {
  m.def("sentencepiece_available", &sentencepiece_available);

  py::class_<SentencePieceModel>(m, "SentencePieceModel",
                                 "A sentencepiece model run by the real sentencepiece library.")
      .def_static("load", &SentencePieceModel::load, py::arg("path"))
      .def_static("from_serialized",
                  [](py::bytes data) { return SentencePieceModel::from_serialized(std::string(data)); },
                  py::arg("data"))
      .def("encode", &SentencePieceModel::encode, py::arg("text"))
      .def("encode_pieces", &SentencePieceModel::encode_pieces, py::arg("text"))
      .def("decode", &SentencePieceModel::decode, py::arg("ids"))
      .def_property_readonly("piece_count", &SentencePieceModel::piece_count)
      .def("id_to_piece", &SentencePieceModel::id_to_piece, py::arg("id"))
      .def("piece_to_id", &SentencePieceModel::piece_to_id, py::arg("piece"))
      .def_property_readonly("bos_id", &SentencePieceModel::bos_id)
      .def_property_readonly("eos_id", &SentencePieceModel::eos_id)
      .def_property_readonly("unk_id", &SentencePieceModel::unk_id)
      .def("serialized", [](const SentencePieceModel& s) { return py::bytes(s.serialized()); });

  m.def(
      "sentencepiece_train",
      [](const std::vector<std::string>& sentences, int vocab_size, const std::string& model_type,
         bool byte_fallback) {
        SentencePieceTrainOptions options;
        options.vocab_size = vocab_size;
        options.model_type = model_type;
        options.byte_fallback = byte_fallback;
        std::string model;
        {
          py::gil_scoped_release release;
          model = culturespa::sentencepiece_train(sentences, options);
        }
        return py::bytes(model);
      },
      py::arg("sentences"), py::kw_only(), py::arg("vocab_size") = 200,
      py::arg("model_type") = "bpe", py::arg("byte_fallback") = false,
      "Trains a sentencepiece model in-process; returns the serialized model.");
}

}  // namespace culturespa::bindings
