FROM scratch
WORKDIR ${NOPE:?}
