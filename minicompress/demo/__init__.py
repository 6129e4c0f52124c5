"""The demo: every technique of the documents, as written and as practised, on mnist10k.

``minicompress demo`` (:mod:`minicompress.cli.demo`) runs the stages of :mod:`.stages` on a
trained LeNet-300-100 (:mod:`.run`) and leaves three things behind, each made by one file here:

==============  ====================================================================
file            what it holds
==============  ====================================================================
``stages.py``   the stages: each calls a technique's public API and measures test
                accuracy, honest bytes and seconds (no technique is re-implemented)
``run.py``      the settings, the context the stages share, and ``run_demo``
``report.py``   the report: the table printed on screen, ``report.json`` (schema,
                writing, reading, checking)
``plots.py``    the four PNGs, drawn from ``report.json`` alone, so
                ``minicompress report report.json --plots DIR`` can re-draw them
==============  ====================================================================

This package sits beside the command line (layer 5 of CONTRIBUTING.md): it may import
every other layer, and nothing but ``minicompress.cli`` imports it.
"""

from minicompress.demo.report import REPORT_FORMAT, check_report, format_table, read_report, write_report
from minicompress.demo.run import DemoSettings, run_demo

__all__ = ["REPORT_FORMAT", "DemoSettings", "check_report", "format_table", "read_report", "run_demo",
           "write_report"]
