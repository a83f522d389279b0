"""``python -m gantrain.report.zoo``."""
import sys

from gantrain.report.zoo.cli import main

sys.exit(main())
