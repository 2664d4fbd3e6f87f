"""A worker of ``run_study(..., num_workers=N)``: ``python -m keras_rk.studies PAYLOAD``.

PAYLOAD is the JSON of ``run_study``'s arguments (``keras_rk.studies.workers``
writes it); the worker prints its progress lines for the parent to pass on.
"""

import json
import sys

from keras_rk.studies.workers import set_torch_threads

if __name__ == "__main__":
    set_torch_threads()
    from keras_rk.studies.runner import run_study

    run_study(**json.loads(sys.argv[1]), progress=lambda line: print(line, flush=True))
