FROM scratch AS helper
FROM scratch AS base
ARG V=1
ONBUILD ENV FROM_TRIGGER=$V
ONBUILD COPY --from=helper /tool /tool
FROM base AS app
ENV OWN=1
