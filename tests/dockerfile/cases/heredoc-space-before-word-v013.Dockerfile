FROM scratch
RUN cat << EOF
hello
EOF
