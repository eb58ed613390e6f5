"""The whole CultureSPA loop in one call (docs/pipeline.md, "One command").

    PYTHONPATH=python python examples/python/pipeline_run.py runs/quick
    PYTHONPATH=python python examples/python/pipeline_run.py runs/mine --config my.toml --until export

The same as `culturespa run`: a preset (default quick: SmolLM2-135M-Instruct,
2 topics, 3 cultures) or a config file, every stage resumable (Ctrl-C, then
run again), the report written by culturespa.report when it is installed.
"""
from __future__ import annotations

import argparse
import json

import culturespa
from culturespa import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--preset", default="quick", choices=culturespa._core.pipeline_config_presets())
    parser.add_argument("--config", default=None, help="a TOML or JSON config (over --preset)")
    parser.add_argument("--until", default="", help="last stage to run")
    args = parser.parse_args()

    config = (culturespa.pipeline_config_load(args.config, args.preset) if args.config
              else culturespa.pipeline_config_preset(args.preset))
    print(json.dumps(config.to_dict()["run"], indent=1))
    result = culturespa.Pipeline(config).run(args.run_dir, until=args.until, report=run.report_hook(),
                                             progress=True)
    if result.nothing_to_do:
        print(f"{result.run_dir} is finished: nothing to do")
    for stage in result.stages:
        print(f"{stage.stage:9s} {stage.status:12s} {stage.seconds:7.1f} s  {', '.join(stage.outputs[:3])}")


if __name__ == "__main__":
    main()
