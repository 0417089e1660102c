FROM scratch
RUN --mount=type=bind,target=/c,sharing=private true
