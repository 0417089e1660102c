FROM scratch AS broken
ENV A=${NOPE:?required}
FROM scratch AS ok
ENV B=1
