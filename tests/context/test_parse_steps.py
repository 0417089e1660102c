"""testbed/case_json.py ``parse_steps`` on the plain printer's interleaving marker (no test bed needed).

The log shape is dockerd 26.1's: while FROM extracts, a builder-stage step that only pulls its layers
from the imported cache is interrupted (``#N ...``) and continued later. BuildKit printed no output of
the step itself, so it is a cache hit (LOADED), not a step that ran.
"""

from __future__ import annotations

from tests.e2e.conftest import parse_steps

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

LOG = f"""#5 [builder 1/2] FROM 127.0.0.1:5000/base/busybox:1@{D1}
#5 resolve 127.0.0.1:5000/base/busybox:1@{D1} 0.0s done
#5 ...

#6 [builder 2/2] RUN echo built > /out
#6 {D2} 181B / 181B 0.0s done
#6 ...

#5 [builder 1/2] FROM 127.0.0.1:5000/base/busybox:1@{D1}
#5 extracting {D1} 0.1s done
#5 DONE 0.2s

#6 [builder 2/2] RUN echo built > /out
#6 extracting {D2} done
#6 DONE 0.3s

#7 [stage-1 2/2] RUN echo hi
#7 0.123 hi
#7 ...

#7 [stage-1 2/2] RUN echo hi
#7 DONE 0.2s
"""


def test_continuation_marker_is_not_step_output() -> None:
    got = {s["vertex"].split("]")[0] + "]": s["status"] for s in parse_steps(LOG)}
    assert got == {"[builder 1/2]": "RAN", "[builder 2/2]": "LOADED", "[stage-1 2/2]": "RAN"}
