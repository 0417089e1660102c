FROM scratch
RUN <<EOF
echo $HOME
  # kept
EOF
