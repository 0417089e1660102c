ARG A
ENV B=1
FROM scratch
