"""Prints what culturespa was built with and what it runs on, and shows the
library's log messages arriving in Python's logging.

    python examples/python/info.py
"""
import logging

import culturespa

logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s: %(message)s")
culturespa.set_log_level("info")

print("culturespa", culturespa.__version__)
for key, value in culturespa.build_info().items():
    print(f"  build.{key:14} {value}")
for key, value in culturespa.runtime_info().items():
    print(f"  runtime.{key:12} {value}")
