FROM scratch
RUN <<EOF
echo hi
