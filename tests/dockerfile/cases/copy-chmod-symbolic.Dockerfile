FROM scratch
COPY --chmod=u+rwx,go=rx a b
