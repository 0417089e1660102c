FROM scratch
RUN --mount=type=cache,"target=/a b",id=c1 --network=none echo
