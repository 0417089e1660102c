FROM scratch
RUN --mount=type=cache,target=/c,required true
