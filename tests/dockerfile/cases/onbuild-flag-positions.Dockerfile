FROM scratch
ONBUILD   COPY \
 --from=x --chmod=1 a b
