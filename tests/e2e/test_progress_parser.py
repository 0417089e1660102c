"""The `--progress=plain` step parser used by make-fixtures and the e2e tests (no test bed needed)."""

from __future__ import annotations

from .conftest import parse_steps

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

# shapes taken from real dockerd 26.1 logs: a vertex printed CACHED and then again while its layers
# load, a vertex printed in two DONE blocks (download, then extraction), a plain run, a FROM pull
LOG = f"""#0 building with "default" instance using docker driver

#4 [1/4] FROM 127.0.0.1:5000/base/busybox:1@{D1}
#4 resolve 127.0.0.1:5000/base/busybox:1@{D1} 0.0s done
#4 DONE 0.0s

#7 [assets 1/4] COPY --from=deps /app/node_modules /src/node_modules
#7 {D2} 181B / 181B 0.0s done
#7 {D1} 372B / 372B 0.0s done
#7 extracting {D1}
#7 extracting {D1} done
#7 extracting {D2} done
#7 DONE 0.0s

#8 [assets 2/4] COPY assets/css /src/css
#8 CACHED

#8 [assets 2/4] COPY assets/css /src/css
#8 {D1} 181B / 181B done
#8 extracting {D1} done
#8 DONE 0.1s

#9 [assets 3/4] COPY assets/js /src/js
#9 DONE 0.0s

#11 [stage-2 1/4] COPY --from=deps /app /app
#11 {D2} 504B / 504B done
#11 DONE 0.0s

#11 [stage-2 1/4] COPY --from=deps /app /app
#11 extracting {D2} done
#11 DONE 0.0s

#12 [3/4] RUN echo hi
#12 0.123 hi
#12 DONE 0.2s

#15 exporting to image
#15 DONE 0.1s
"""


def test_parse_steps_statuses() -> None:
    steps = parse_steps(LOG)
    assert [(s["vertex"].split("]")[0] + "]", s["status"]) for s in steps] == [
        ("[1/4]", "RAN"),
        ("[assets 1/4]", "LOADED"),
        ("[assets 2/4]", "CACHED"),
        ("[assets 3/4]", "RAN"),
        ("[stage-2 1/4]", "LOADED"),
        ("[3/4]", "RAN"),
    ]
    by_name = {s["vertex"]: s for s in steps}
    assert by_name["[assets 2/4] COPY assets/css /src/css"]["loaded_blobs"] == [D1]
    assert by_name["[stage-2 1/4] COPY --from=deps /app /app"]["loaded_blobs"] == [D2]
    assert by_name["[assets 1/4] COPY --from=deps /app/node_modules /src/node_modules"]["loaded_blobs"] == [
        D2,
        D1,
    ]
    assert "loaded_blobs" not in by_name["[assets 3/4] COPY assets/js /src/js"]
