"""Regenerate golden files: `python tests/regen_golden.py [sample-path ...]`. Review the diff!"""

import sys
from pathlib import Path

from auditctl.testing import regenerate_golden
from support import SAMPLES, golden_path, registry, sample_files

if __name__ == "__main__":
    targets = [Path(a).resolve() for a in sys.argv[1:]] or sample_files()
    for sample in targets:
        parser_name = sample.relative_to(SAMPLES).parts[0]
        print(golden_path(sample), regenerate_golden(registry().get(parser_name), sample, golden_path(sample)))
