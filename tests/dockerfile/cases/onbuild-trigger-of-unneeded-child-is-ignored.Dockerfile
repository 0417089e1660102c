FROM scratch AS base
ONBUILD COPY --nope a b
FROM base AS child
FROM scratch AS other
