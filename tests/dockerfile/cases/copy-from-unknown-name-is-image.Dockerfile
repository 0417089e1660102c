FROM scratch
COPY --from=alpine:3 /etc/os-release /x
