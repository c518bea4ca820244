"""Regenerate golden files: `python tests/regen_golden.py [sample-path ...]`. Review the diff!"""

import sys
from pathlib import Path

from auditctl.ingest.parsing import read_events
from support import REFERENCE_TIME, SAMPLES, registry, sample_files, write_golden

if __name__ == "__main__":
    targets = [Path(a).resolve() for a in sys.argv[1:]] or sample_files()
    for sample in targets:
        parser_name = sample.relative_to(SAMPLES).parts[0]
        events = read_events(sample, registry(), parser_name, reference_time=REFERENCE_TIME)
        print(write_golden(sample, events), len(events))
