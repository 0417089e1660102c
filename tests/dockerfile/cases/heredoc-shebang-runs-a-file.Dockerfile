FROM scratch
RUN <<EOF
#!/bin/sh
echo hi
EOF
