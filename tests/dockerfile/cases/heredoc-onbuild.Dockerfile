FROM scratch
ONBUILD RUN <<EOF
echo x
EOF
ENV A=1
