FROM scratch AS base
ONBUILD COPY --nope a b
FROM base
