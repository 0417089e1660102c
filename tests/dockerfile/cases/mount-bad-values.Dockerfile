FROM scratch
RUN --mount=type=cache,target=/c,mode=0800 true
