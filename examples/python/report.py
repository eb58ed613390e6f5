"""Writes the report of a run folder (report.md with its figures in report/,
and report.html, one file that opens offline) and prints what it holds.

    culturespa run --preset quick --output runs/quick      # or any run folder
    python examples/python/report.py runs/quick [--survey DIR]

The same as `culturespa report runs/quick`. A run that stopped early (or ran
with --until) gives a report of the stages it has, naming the missing ones.
The evaluation folders are scored against the run's survey (its config's
`survey`, else $CULTURESPA_SURVEY, else the fetched WVS-7 data; --survey
overrides).
"""
import argparse

from culturespa import report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run folder (the --output of `culturespa run`)")
    parser.add_argument("--survey", default=None, help="the survey to score the evaluations against")
    args = parser.parse_args()

    files = report.write_report(args.run_dir, survey=args.survey)
    print(f"Markdown: {files.markdown}")
    print(f"HTML:     {files.html}  (open it in a browser; it needs no network)")
    for figure in files.figures:
        print(f"figure:   {figure}")
    if files.missing:
        print(f"missing stages (not in the report): {', '.join(files.missing)}")
    for problem in files.problems:
        print(f"could not be read: {problem}")

    # The results table as report.md has it (base P0, base P1, joint, specific per culture).
    markdown = files.markdown.read_text(encoding="utf-8")
    if "## Results" in markdown:
        results = markdown.split("## Results", 1)[1].split("\n## ", 1)[0]
        print("\n## Results" + results)
    return 1 if files.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
