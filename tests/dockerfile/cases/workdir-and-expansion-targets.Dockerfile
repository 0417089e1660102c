FROM scratch
ARG D=app
WORKDIR /$D
WORKDIR sub/../x
USER ${D}:${D}
COPY --chown=$D --chmod=640 ${D}.txt ./dst/
RUN --mount=type=cache,target=$D/cache,id=${D} --mount=type=tmpfs,dst=t,size=1m true
