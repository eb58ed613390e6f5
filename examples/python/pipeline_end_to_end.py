"""The whole self-pluralising data pipeline on a small model:
generate -> filter -> answer -> contrast -> export.

2 topics x 20 questions x 3 cultures. By default the model is a small RANDOM
checkpoint (with culturespa's test tokenizer), so it runs anywhere in about a
minute, but random weights write noise: the generation stage reports how many
replies were unparseable (all of them, as a rule), and the missing questions
are filled with marked copies of the seed questions so that the later stages
have input. With a real model the same script makes real data:

    PYTHONPATH=python python examples/python/pipeline_end_to_end.py \
        --model "$(culturespa model path smollm2-135m-instruct)"

Seed questions come from the WVS survey in ../shared/wvs when present,
else from a few built-in ones. Every stage writes its stage file into
--workdir; rerunning resumes (generation continues its JSONL file, finished
answer files are kept).
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import culturespa
from culturespa import pipeline

TOPICS = ["Economic Values", "Migration"]
BUILTIN_SEEDS = {
    "Economic Values": [
        ("How much do you agree that incomes should be made more equal?", ["Agree completely", "Agree",
                                                                          "Disagree", "Disagree completely"]),
        ("Is competition good or harmful?", ["Good", "Harmful"]),
        ("How important is hard work for getting a better life?", ["Very important", "Rather important",
                                                                   "Not very important", "Not at all important"]),
    ],
    "Migration": [
        ("What effect do immigrants have on the development of your country?", ["Very good", "Quite good",
                                                                              "Neither", "Quite bad", "Very bad"]),
        ("Do immigrants fill important job vacancies?", ["Agree", "Hard to say", "Disagree"]),
        ("Should the government let anyone who wants to come in?", ["Yes", "Only if jobs are available",
                                                                    "Strict limits", "No"]),
    ],
}


def seed_topics():
    wvs = Path(os.environ.get("CULTURESPA_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared")) / "wvs"
    if (wvs / "wvs_questions.json").exists():
        return pipeline.generation_topics(culturespa.Survey.wvs7(str(wvs)), TOPICS), "WVS questions (../shared/wvs)"
    topics = []
    for name, items in BUILTIN_SEEDS.items():
        topics.append((name, [{"Q_id": f"S{name[:3]}{i}", "question": q, "option_lst": o, "class": name}
                              for i, (q, o) in enumerate(items)]))
    return topics, "built-in seed questions (../shared absent)"


def load_model(args, work: Path):
    import culturespa.testing

    if args.model:
        model = culturespa.Model(args.model)
        tokenizer = culturespa.Tokenizer.from_folder(args.model)
        return culturespa.Generator(model, tokenizer, batch_size=16), f"{args.model}"
    folder = work / "random-checkpoint"
    if not (folder / "config.json").exists():
        culturespa.testing.write_checkpoint(folder, vocab_size=272, hidden_size=128, intermediate_size=256,
                                            num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                                            max_position_embeddings=4096, seed=1)
        culturespa.generator.write_test_tokenizer(folder)
    model = culturespa.Model(folder)
    tokenizer = culturespa.Tokenizer.from_folder(str(folder))
    return (culturespa.Generator(model, tokenizer, chat_format="chatml", batch_size=16),
            "a RANDOM checkpoint (4 layers, hidden 128; it writes noise)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a model folder with its tokenizer (default: random)")
    parser.add_argument("--workdir", default=None, help="where the stage files go (default: a temporary folder)")
    parser.add_argument("--questions", type=int, default=20, help="questions per topic")
    parser.add_argument("--cultures", nargs="*", default=["KEN", "USA", "THA"])
    parser.add_argument("--jsd-threshold", type=float, default=None,
                        help="distributional contrast threshold (default 0.1 for --model; 0 for random "
                             "weights, whose answers barely move with the culture: every pair is kept)")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="culturespa-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    generator, model_name = load_model(args, work)
    print(f"model: {model_name}\nstage files: {work}")

    # 1. generate ------------------------------------------------------------
    topics, seed_source = seed_topics()
    attempts = 3 * args.questions if args.model else 16
    qgen = culturespa.QuestionGenerator(generator, questions_per_topic=args.questions, round_size=8,
                                        max_attempts_per_topic=attempts, tolerant_json=True,
                                        max_new_tokens=256 if args.model else 48, seed=0)
    generated = qgen.generate(topics, work / "generated.jsonl", progress=True)
    c = generated.counts()
    print(f"\n1. generate ({seed_source} as seeds): {c['accepted']} questions accepted from {c['attempts']} "
          f"attempts this run (+{c['resumed']} resumed); replies: strict JSON {c['strict']}, tolerant-only "
          f"{c['tolerant']}, unparseable {c['unparseable']}")
    questions = generated.merged()
    missing = {name: args.questions - sum(g.question.topic == name for g in generated) for name, _ in topics}
    if any(missing.values()):
        print(f"   {sum(missing.values())} questions short"
              + (" (random weights write no JSON)" if not args.model else "")
              + ": filled with marked copies of seed questions so the later stages have input")
        fill = []
        for name, seeds in topics:
            for k in range(missing[name]):
                seed = seeds[k % len(seeds)]
                text = seed.text if hasattr(seed, "text") else seed["question"]
                options = seed.options if hasattr(seed, "options") else seed["option_lst"]
                fill.append({"Q_id": f"F{name[:3]}{k}", "question": f"{text} [seed copy {k}]",
                             "option_lst": list(options), "class": name})
        questions = pipeline.questions_merge_renumber([list(questions), fill])

    # 2. filter --------------------------------------------------------------
    seeds = [q for _, qs in topics for q in qs]
    filtered = culturespa.QuestionFilter().apply(questions, seeds)
    print(f"2. filter: {filtered.counts()}")

    # 3. answer --------------------------------------------------------------
    answerer = culturespa.QuestionAnswerer(generator, mode="scored", cultures=args.cultures)
    answered = answerer.answer(filtered.questions, work / "answers", progress=True)
    print(f"3. answer (option scoring): {len(answered.runs)} runs x {len(filtered)} questions -> {work / 'answers'}"
          + ("; kept from an earlier run: " + ", ".join(r.culture or "unaware" for r in answered.runs
                                                        if r.resumed) if any(r.resumed for r in answered.runs)
             else ""))

    # 4. contrast ------------------------------------------------------------
    threshold = args.jsd_threshold if args.jsd_threshold is not None else (0.1 if args.model else 0.0)
    detected = culturespa.ContrastDetector(rule="distributional", jsd_threshold=threshold).detect(
        filtered.questions, answered.unaware, answered.aware)
    detected.save(work / "pairs.jsonl")
    unaware_by_id = {a["question_id"]: a["distribution"] for a in answered.unaware}
    largest = max(pipeline.jensen_shannon_divergence(a["distribution"], unaware_by_id[a["question_id"]])
                  for answers in answered.aware.values() for a in answers)
    print(f"4. contrast (JSD >= {threshold}; largest JSD {largest:.2e} bits"
          + ("; random weights barely react to the culture, so threshold 0 keeps every pair to show the format"
             if not args.model and args.jsd_threshold is None else "") + "):")
    print(detected.counts_dataframe().to_string(index=False))

    # 5. export --------------------------------------------------------------
    if len(detected) == 0:
        print("5. export: no culture-related pair, nothing to export (lower --jsd-threshold to see the format)")
        return 0
    for fmt in ("alpaca", "sharegpt"):
        summary = culturespa.dataset_export(detected, work / "data", format=fmt, validation_fraction=0.1)
        print(f"5. export ({fmt}): {summary.pairs_sampled} pairs -> "
              + ", ".join(os.path.basename(f) for f in summary.files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
