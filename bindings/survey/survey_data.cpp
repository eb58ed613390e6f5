// The pinned survey data releases and their cache (culturespa/survey/survey_data.h).
#include "common.h"

#include "culturespa/survey/survey_data.h"

namespace culturespa::bindings {

void register_survey_data(py::module_& m) {
  py::class_<SurveyDataFile>(m, "SurveyDataFile", "One pinned file of a survey data release.")
      .def_readonly("name", &SurveyDataFile::name, "File name in the release folder.")
      .def_readonly("sha256", &SurveyDataFile::sha256, "Its SHA-256, 64 lowercase hex digits.")
      .def("to_dict", [](const SurveyDataFile& f) {
        py::dict d;
        d["name"] = f.name;
        d["sha256"] = f.sha256;
        return d;
      })
      .def("__repr__", [](const SurveyDataFile& f) { return "SurveyDataFile(" + f.name + ")"; });

  py::class_<SurveyDataRelease>(m, "SurveyDataRelease",
                                R"pbdoc(A pinned data release: the files of one folder of a GitHub
repository at one commit (docs/evaluation.md, "Survey data").)pbdoc")
      .def_readonly("name", &SurveyDataRelease::name)
      .def_readonly("repository", &SurveyDataRelease::repository)
      .def_readonly("commit", &SurveyDataRelease::commit)
      .def_readonly("folder", &SurveyDataRelease::folder)
      .def_readonly("files", &SurveyDataRelease::files)
      .def("url", &SurveyDataRelease::url, py::arg("file"), "The raw.githubusercontent.com URL of a file.")
      .def("to_dict",
           [](const SurveyDataRelease& r) {
             py::dict d;
             d["name"] = r.name;
             d["repository"] = r.repository;
             d["commit"] = r.commit;
             d["folder"] = r.folder;
             py::list files;
             for (const auto& f : r.files) files.append(py::dict(py::arg("name") = f.name, py::arg("sha256") = f.sha256,
                                                                 py::arg("url") = r.url(f)));
             d["files"] = files;
             return d;
           })
      .def("__repr__", [](const SurveyDataRelease& r) {
        return "SurveyDataRelease(" + r.name + ", " + r.repository + "@" + r.commit.substr(0, 7) + ")";
      });

  m.def("survey_data_names", &survey_data_names, "The survey data releases culturespa knows (\"wvs7\").");
  m.def("survey_data_release", &survey_data_release, py::arg("name") = "wvs7", py::return_value_policy::copy,
        "A pinned release by name; ValueError listing the known names otherwise.");
  m.def("cache_dir", &cache_dir,
        "The cache root: $CULTURESPA_CACHE, else $XDG_CACHE_HOME/culturespa, else ~/.cache/culturespa.");
  m.def("survey_data_path", &survey_data_path, py::arg("name") = "wvs7",
        "Where the fetched copy of a release lives: <cache>/data/<name> (fetched or not).");
  m.def(
      "survey_data_verify",
      [](const std::string& name, const std::string& dir) {
        py::gil_scoped_release release;
        return survey_data_verify(name, dir);
      },
      py::arg("name") = "wvs7", py::arg("dir") = "",
      R"pbdoc(None when every file of `dir` (default: the cached copy) matches its pinned
SHA-256; otherwise why not (a missing file, or one with another digest).)pbdoc");
  m.def(
      "survey_data_import",
      [](const std::string& name, const std::string& from_dir, const std::string& dest) {
        py::gil_scoped_release release;
        return survey_data_import(name, from_dir, dest);
      },
      py::arg("name"), py::arg("from_dir"), py::arg("dest") = "",
      R"pbdoc(Copies the release's files from `from_dir` into `dest` (default: the cache)
after checking each file's SHA-256; atomic (a failed import keeps the previous
copy). FileNotFoundError for a missing file, ValueError naming the file and
both digests for a mismatch. Returns the destination.)pbdoc");
  m.def(
      "survey_load_cached",
      [](const std::string& name) {
        py::gil_scoped_release release;
        return survey_load_cached(name);
      },
      py::arg("name") = "wvs7",
      R"pbdoc(The cached release as a Survey, checked against its pins. FileNotFoundError
saying how to fetch it when missing; ValueError naming a damaged file.)pbdoc");
  m.def(
      "survey_default",
      [](const py::object& path, const std::string& name) {
        const std::string chosen =
            path.is_none() ? std::string() : py::str(py::module_::import("os").attr("fspath")(path)).cast<std::string>();
        py::gil_scoped_release release;
        return survey_default(chosen, name);
      },
      py::arg("path") = py::none(), py::arg("name") = "wvs7",
      R"pbdoc(The survey a command uses: ``path`` when given, else ``$CULTURESPA_SURVEY``,
else the cached release ``name`` (as :func:`survey_load_cached`: FileNotFoundError
saying how to fetch it when missing; ValueError naming a damaged file).

Example::

    survey = culturespa.survey_default()          # the fetched WVS-7 data
    survey = culturespa.survey_default("my.json")  # a culturespa survey file)pbdoc");
}

}  // namespace culturespa::bindings
