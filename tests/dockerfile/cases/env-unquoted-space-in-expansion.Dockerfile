FROM scratch
ENV A=${NOPE:?is required}
